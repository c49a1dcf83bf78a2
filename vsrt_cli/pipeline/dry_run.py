"""``--dry-run``: what a run would do, without decoding a frame."""

from __future__ import annotations

import math

from torch import nn

from ..inference import InferenceOptions
from ..inference.device import choose_precision, resolve_device
from ..inference.runner import plan_settings
from ..models.compute import flow_pair_macs, window_macs
from ..models.spynet import padded_size
from ..plan.cost import frame_cost
from ..plan.output_size import OutputSize
from ..video import EncodeOptions, choose_video_codec, plan_stream_copy, probe
from ..video.containers import container_format
from ..video.encoding import check_encoder_opens, encoder_settings
from ..video.segment import Segment, check_segment, segment_frames
from ..video.writer import encoder_time_base, frame_rate_of, output_notes
from ..video.deinterlace import wants_deinterlace
from ..video.image_sequence import picture_format, sequence_notes
from ..video.numbering import DEFAULT_RATE_NOTE, check_frame_rate, is_image_sequence, is_picture_input
from .claim import BUSY_NOTE
from .outputs import Job, output_exists
from .resume import journal_for


def plan_job(
    job: Job,
    model: nn.Module,
    inference: InferenceOptions,
    deinterlace: str = "auto",
    encode: EncodeOptions | None = None,
    segment: Segment | None = None,
    size: OutputSize = OutputSize(),
    resumable: bool = False,
    frame_rate=None,
) -> dict:
    """A JSON-ready description of the job: streams, frames, windows, tiles, work, output."""
    check_frame_rate(frame_rate, is_picture_input(job.source))
    info = probe(job.source, frame_rate)
    out_w, out_h = size.resolve(info.width, info.height, info.rotation)
    segment = segment if segment is not None and not segment.whole else None
    check_segment(job.source, info.duration_s, segment)
    if is_image_sequence(job.target):
        encoder, pix_fmt, settings = picture_format(job.target, info.bit_depth)
        decisions = []
        output_side = sequence_notes(info, pix_fmt)
    else:
        encoder, pix_fmt, settings, decisions, output_side = _video_output(job, encode, info, out_w, out_h)
    device = resolve_device(inference.device)
    precision = choose_precision(device, inference.precision)
    notes = [note for note in (job.note, *output_side, size.note(info.width, info.height, info.rotation)) if note]
    if resumable:
        journal = journal_for(job.target, job.source, model, inference, encode, size, deinterlace, frame_rate)
        if journal.resumption is not None:
            notes.insert(0, f"an earlier run's journal: {journal.resumption.frames} frame(s) will be copied from it")
        elif journal.note:
            notes.append(journal.note)
    if segment is not None:
        notes.insert(0, f"only {segment.describe()} of the source will be upscaled, starting at 0 in the output")
    if is_picture_input(job.source) and frame_rate is None:
        notes.insert(0, DEFAULT_RATE_NOTE)
    config = model.config
    stride, overlap = plan_settings(inference, config)
    flow_size = (padded_size(max(info.height, config.tile_size)), padded_size(max(info.width, config.tile_size)))
    cost = frame_cost(
        info.height,
        info.width,
        num_frames=config.num_frames,
        tile_size=config.tile_size,
        overlap=overlap,
        stride=stride,
        window_macs=window_macs(config),
        flow_pair_macs=flow_pair_macs(*flow_size, config.flow_levels),
        spynet_self_flow=config.self_flow == "spynet",
        ensemble=inference.ensemble,
    )
    frames = segment_frames(info.n_frames, info.duration_s, info.average_rate, segment or Segment())
    return {
        "source": str(job.source),
        "model": getattr(model, "weights_name", ""),
        "output": str(job.target),
        "exists": output_exists(job.target),
        "streams": [
            {"index": s.index, "kind": s.kind, "codec": s.codec_name, "language": s.language} for s in info.streams
        ],
        "size": [info.width, info.height],
        "output_size": [out_w, out_h],
        "frames": frames,
        # false: duration x frame rate (for VFR only a guess), as for any part of a video
        "frames_exact": info.frames_exact and segment is None,
        "duration_s": info.duration_s,
        "segment": segment.to_dict() if segment is not None else None,
        "bit_depth": info.bit_depth,
        "colour_matrix": info.colour.matrix,  # as tagged; "unknown" when untagged
        "colour_matrix_used": info.colour.matrix_used,
        "interlaced": info.interlaced,
        "deinterlace": wants_deinterlace(deinterlace, info.interlaced),
        "window_frames": config.num_frames,
        "window_stride": stride,
        "windows": math.ceil(frames / stride) if frames else None,
        "tile_size": config.tile_size,
        "tile_overlap": overlap,
        "tiles_per_window": cost.tiles_per_window,
        "ensemble": inference.ensemble,
        "lr_pixel_redundancy": round(cost.redundancy, 3),
        "gmac_per_frame": round(cost.total_macs / 1e9, 2),
        "flow_gmac_per_frame": round(cost.flow_macs / 1e9, 2),
        "total_tmac": round(cost.total_macs * frames / 1e12, 2) if frames else None,
        "device": str(device),
        "precision": precision,
        "encoder": encoder,
        "pix_fmt": pix_fmt,
        "encoder_settings": settings,
        "stream_actions": [
            {"index": d.index, "kind": d.kind, "action": d.action, "target": d.target} for d in decisions
        ],
        "notes": notes,
    }


def _video_output(job: Job, encode: EncodeOptions | None, info, out_w: int, out_h: int):
    """(encoder, pixel format, settings, stream decisions, notes) of a video output, as the
    writer would choose them, with the encoder opened so that a problem shows here."""
    encode = encode or EncodeOptions()
    encoder, pix_fmt, codec_note = choose_video_codec(
        job.target, encode.codec, info.bit_depth, pix_fmt=encode.pix_fmt, width=out_w, height=out_h
    )
    container = container_format(job.target)
    settings = encoder_settings(
        encoder,
        encode.crf,
        encode.preset,
        encode.encoder_options,
        frame_size=(out_w, out_h),
        container=container,
    )
    user_keys = {str(key) for key in encode.encoder_options}
    check_encoder_opens(
        encoder, pix_fmt, settings, user_keys, (out_w, out_h),
        encoder_time_base(container, encoder, info.time_base, frame_rate_of(info)),
    )
    decisions = plan_stream_copy(job.target, info.streams, info.video_index)
    written = output_notes(info, container, encoder, pix_fmt, out_w, out_h)
    return encoder, pix_fmt, settings, decisions, [codec_note, *written, *(d.note for d in decisions)]


def describe_plan(plan: dict) -> str:
    if plan.get("status") == "skipped":
        why = "exists" if plan["exists"] else BUSY_NOTE
        return f"{plan['source']} -> {plan['output']}: {why}, skipped (--skip-existing)"
    streams = ", ".join(f"#{s['index']} {s['kind']} {s['codec']}" for s in plan["streams"])
    width, height = plan["size"]
    out_w, out_h = plan["output_size"]
    frames = "unknown" if plan["frames"] is None else f"{'' if plan['frames_exact'] else 'about '}{plan['frames']}"
    return "\n".join(
        [
            f"{plan['source']} -> {plan['output']}{' (exists: replaced, -y)' if plan['exists'] else ''}",
            f"  streams: {streams}",
            f"  video: {width}x{height} -> {out_w}x{out_h}, {frames} frames, {plan['bit_depth']}-bit,"
            f" {plan['colour_matrix_used']}{' (assumed)' if plan['colour_matrix'] == 'unknown' else ''}"
            f"{', interlaced' if plan['interlaced'] else ''}"
            f"{', deinterlaced first (bwdif)' if plan['deinterlace'] else ''}",
            f"  windows: {plan['windows']} of {plan['window_frames']} frames, stride {plan['window_stride']}",
            f"  tiles: {plan['tiles_per_window']} per window ({plan['tile_size']} px, overlap {plan['tile_overlap']}),"
            f" {plan['lr_pixel_redundancy']} LR pixels computed per output pixel"
            f"{f', each window run {e} ways (ensemble)' if (e := plan['ensemble']) > 1 else ''}",
            f"  work: {plan['gmac_per_frame']} GMAC per frame (flow {plan['flow_gmac_per_frame']}),"
            f" {plan['total_tmac']} TMAC in total",
            f"  model: on {plan['device']}, {plan['precision']}",
            f"  output: {plan['encoder']} {plan['pix_fmt']}{_describe_settings(plan['encoder_settings'])}"
            f"{_describe_actions(plan['stream_actions'])}",
            *(f"  note: {note}" for note in plan["notes"]),
        ]
    )


def _describe_settings(settings: dict[str, str]) -> str:
    return f" ({', '.join(f'{key}={value}' for key, value in settings.items())})" if settings else ""


def _describe_actions(actions: list[dict]) -> str:
    described = [
        f"#{a['index']} {a['kind']} {a['action']}{' to ' + a['target'] if a['action'] == 'transcode' else ''}"
        for a in actions
    ]
    return "; " + ", ".join(described) if described else ""
