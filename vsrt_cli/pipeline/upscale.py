"""``upscale_video``: decode -> windowed, tiled model -> encode, for one file."""

from __future__ import annotations

import errno
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError, InputNotFoundError, OutputError, UsageError
from ..inference import InferenceOptions, WindowedUpscaler
from ..inference.runner import as_options, as_upscaler
from ..inference.allocator import release_freed_memory
from ..inference.device import to_host_hwc
from ..plan.output_size import MODEL_SCALE, OutputSize
from ..video import EncodeOptions, VideoReader, VideoWriter
from ..video.segment import Segment, check_segment, segment_frames
from ..video.image_sequence import ImageSequenceWriter
from ..video.numbering import (
    DEFAULT_RATE_NOTE, check_frame_rate, first_picture_number, is_image_sequence, is_picture_input, parse_frame_rate,
)
from .claim import claim_output
from .outputs import atomic_output, atomic_sequence, check_sequence_options, check_target, remove_stale_partials
from .notes import journal_notes, memory_note, source_notes
from .resume import check_resumable, journal_for, kept_until_done
from .threads import BackgroundSink, Prefetcher

# Frames decoded ahead of the model and waiting for the encoder: enough to keep both
# threads busy, small enough that memory does not depend on the video.
DECODE_DEPTH = 4
ENCODE_DEPTH = 4
# Output frames wait already converted to the encoder's pixel format (at 4x of 720p,
# 22 MB in 8-bit 4:2:0, 88 MB in 16-bit 4:4:4), so big ones wait fewer.
ENCODE_QUEUE_BYTES = 256 * 2**20


# Frames that may wait, still float on the GPU, for the conversion thread (44 MB each at
# 4x of 360p, 177 MB at 4x of 720p: GPU memory, not host memory).
CONVERT_DEPTH = 2


def converts_beside_model(device: torch.device, converts_tensors: bool) -> bool:
    """Whether output frames go to the encoder's pixel format in a thread of their own.

    On a GPU the conversion's copy back waits for the GPU, and in the model's thread that
    wait kept the model from queueing its next kernels (the stages allowed 45 fps at
    640x360 on an H200, the model alone 52). On a CPU the conversion already runs on
    every core, which the model needs too, and its frames would wait as host floats.
    """
    return converts_tensors and device.type == "cuda"


def _convert_on(device: torch.device, writer: VideoWriter, image: torch.Tensor):
    # A new thread's current CUDA device is the first one: without this, a run on
    # cuda:1 would also set up a context (and its memory) on cuda:0 for the pinned copies.
    if device.type != "cuda":
        return writer.convert(image)
    with torch.cuda.device(device):
        return writer.convert(image)


def encode_queue_depth(frame_bytes: int) -> int:
    """Output frames of this many bytes that may wait for the encoder: ENCODE_DEPTH, or
    fewer when they would exceed ENCODE_QUEUE_BYTES, but always at least one."""
    return max(1, min(ENCODE_DEPTH, ENCODE_QUEUE_BYTES // max(1, frame_bytes)))


@dataclass
class Progress:
    frames_done: int
    frames_total: int | None
    seconds: float
    frames_copied: int = 0  # of frames_done, copied from an earlier run (--resumable)

    @property
    def fps(self) -> float:
        return (self.frames_done - self.frames_copied) / self.seconds if self.seconds > 0 else 0.0

    @property
    def seconds_left(self) -> float | None:
        """At the speed so far; None while the total or the speed is unknown."""
        if not self.frames_total or self.fps <= 0:
            return None
        return max(0, self.frames_total - self.frames_done) / self.fps


@dataclass
class UpscaleResult:
    source: str
    output: str
    status: str  # "ok", "skipped", "failed", "interrupted"
    frames: int = 0
    width: int = 0
    height: int = 0
    seconds: float = 0.0
    fps: float = 0.0
    model: str = ""
    device: str = ""
    precision: str = ""
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    exit_code: int = 0
    segment: dict | None = None  # the part upscaled (start_s, duration_s); None: all of it

    def to_dict(self) -> dict:
        return asdict(self)


_WRITE_ERRNOS = (
    errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.ENOENT,
)


def upscale_video(
    source: str | Path,
    target: str | Path,
    model: nn.Module | str | Path | None = None,
    *,
    inference: InferenceOptions | None = None,
    encode: EncodeOptions | None = None,
    overwrite: bool = False,
    deinterlace: str = "auto",
    segment: Segment | None = None,
    scale: float = MODEL_SCALE,
    height: int | None = None,
    resumable: bool = False,
    frame_rate=None,
    model_name: str = "",
    progress: Callable[[Progress], None] | None = None,
) -> UpscaleResult:
    """Upscale ``source`` 4x into ``target``.

    The output appears only when complete: it is written beside ``target`` under a
    temporary name and renamed at the end; on any error or interrupt the partial file is
    removed. Audio, subtitles and metadata are carried over by the encoder (see its notes).
    A ``target`` with a frame number pattern and a picture extension (``frames/%06d.png``,
    ``.tif``) is written as one lossless picture per frame, numbered from 1, and appears
    when all are written (see video/image_sequence.py).
    ``model`` is a loaded network, a registered model name, a ``.safetensors`` path, or
    None for the bundled default. ``inference`` sets windows, tiles, device, precision and
    ensemble; ``encode`` the codec, crf, preset and pixel format (None: chosen from the
    container and the source). ``overwrite`` replaces an existing ``target`` (never the
    source). ``deinterlace``: ``auto`` runs bwdif on the frames the decoder flags as
    interlaced, wherever they start; ``on`` on every frame; ``off`` never. ``segment``
    upscales only that part of the source (a :class:`~vsrt_cli.video.segment.Segment`:
    start and duration in seconds from the first frame), output from zero. ``scale`` (1 to
    4) writes the video that many times the source's size, ``height`` (instead) that many
    lines as shown: the model's 4x frames are resized with an antialiased bicubic filter
    (even sides, the shape kept to within a pixel; see plan/output_size.py). ``resumable``
    keeps a journal of the encoded video beside the target while it runs, and goes on
    from an earlier run's journal where one stopped (see resume.py). ``progress`` is
    called with a :class:`Progress` after each output frame; an exception it raises stops the
    run and passes through as it is, the partial output removed (the journal kept).
    ``model_name`` is what the result calls the model (default: the name it was loaded by).

    Raises a :class:`~vsrt_cli.errors.VsrtError` subclass: UsageError for a bad option or an
    argument of the wrong kind, InputNotFoundError (exit code 2, as on the command line) for
    an input that is not there, InputError for an unreadable input, OutputError for a target it may not write,
    CodecError for an encoder or container problem, WeightsMissingError or
    CheckpointError for the model; KeyboardInterrupt passes through. In every case the
    target is left as it was.
    """
    source, target = Path(source).expanduser(), Path(target).expanduser()
    model = as_upscaler(model)
    if not target.suffix:
        raise UsageError(f"{target}: no extension to say which container; use a name such as out.mp4")
    inference = as_options(inference)
    for name, value, kind in (("encode", encode, EncodeOptions), ("segment", segment, Segment)):
        if value is not None and not isinstance(value, kind):
            raise UsageError(f"{name} must be a vsrt_cli.{kind.__name__} or None, got {type(value).__name__}")
    size = OutputSize(scale, height)
    model_name = model_name or getattr(model, "weights_name", "")
    pictures = is_picture_input(source)
    if frame_rate is not None:  # 23.976 from Python means what it means on the command line
        frame_rate = parse_frame_rate(str(frame_rate))
    check_frame_rate(frame_rate, pictures)
    if pictures:
        first_picture_number(source)  # the reader looks at every picture; here, that there are any
    elif not source.exists():
        raise InputNotFoundError(f"input not found: {source}")
    elif not source.is_file():
        raise InputError(f"{source}: not a regular file")
    check_resumable(resumable, segment)
    check_sequence_options(target, encode, resumable)
    with claim_output(target) as exclusive:
        # After the claim, not before: an output that a parallel run finished a moment ago is seen.
        check_target(source, target, overwrite)
        # What a killed run of this output left; while another run may hold it, its partial is live.
        cleaned = remove_stale_partials(target) if exclusive else None
        return _upscale_claimed(
            source, target, model, inference=inference, encode=encode, overwrite=overwrite, deinterlace=deinterlace,
            segment=segment, size=size, resumable=resumable, frame_rate=frame_rate, model_name=model_name,
            progress=progress, cleaned=cleaned,
        )


def _upscale_claimed(source, target, model, *, inference, encode, overwrite, deinterlace, segment, size, resumable,
                     frame_rate, model_name, progress, cleaned) -> UpscaleResult:
    """:func:`upscale_video` once its arguments are checked and its target is claimed."""
    pictures = is_picture_input(source)
    sequence = is_image_sequence(target)
    journal = (
        journal_for(target, source, model, inference, encode, size, deinterlace, frame_rate) if resumable else None
    )
    resumption = journal.resumption if journal is not None else None
    started = time.monotonic()
    # Each video starts from the memory it needs, not what earlier work left in the heap
    # (a folder batch runs many videos in one process; see inference/allocator.py).
    release_freed_memory()
    upscaler = WindowedUpscaler(model, inference)
    # A resumed run decodes from its window's first frame and drops the frames already copied.
    resume_at, drop = (None, 0) if resumption is None else resumption.window_start(
        upscaler.stride, model.config.num_frames
    )
    with VideoReader(
        source, deinterlace=deinterlace, segment=segment, resume_at=resume_at, frame_rate=frame_rate
    ) as reader:
        info = reader.info
        segment = None if resumption is not None else reader.segment  # the part asked for
        check_segment(source, info.duration_s, segment)
        out_w, out_h = size.resolve(info.width, info.height, info.rotation)
        frames_total = segment_frames(info.n_frames, info.duration_s, info.average_rate, segment or Segment())
        done = copied = 0

        def report(frames_upscaled: int) -> None:
            if progress is not None:
                progress(Progress(copied + frames_upscaled, frames_total, time.monotonic() - started, copied))

        with kept_until_done(journal):
            try:
                with (atomic_sequence if sequence else atomic_output)(target, overwrite=overwrite) as partial:
                    writer = None
                    try:
                        # Inside the try: a Ctrl-C that lands while the writer is being set
                        # up must still remove what it opened.
                        if sequence:
                            writer = ImageSequenceWriter(partial, info, out_w, out_h, shown_as=target)
                        else:
                            writer = VideoWriter(
                                partial, source=info, width=out_w, height=out_h, options=encode,
                                shown_as=target, segment=reader.clock if segment is not None else None,
                                journal=journal,
                            )
                        if journal is not None:
                            journal.start()
                            copied = writer.copy_journal()
                        done = copied + _upscale_into(
                            writer, upscaler, reader, (out_h, out_w), drop,
                            cover_ticks(info, segment) if info.cover_art else None, report,
                        )
                        if done == copied:
                            raise InputError(f"{source}: no video frame could be decoded")
                        writer.close()
                    except BaseException:
                        if writer is not None:
                            writer.abort()
                        raise
            except OSError as error:
                # The system refusing the output (the reader wraps its own errors as InputError);
                # anything else, a progress callback's own OSError say, is the caller's.
                if error.errno not in _WRITE_ERRNOS:
                    raise
                raise OutputError(f"cannot write {target}: {error.strerror or error}") from None
        notes = [
            note for note in (
                None if segment is None else
                f"only {segment.describe()} of the source was upscaled, starting at 0 in the output",
                DEFAULT_RATE_NOTE if pictures and frame_rate is None else None,
                cleaned,
                *journal_notes(journal, copied, target),
                *writer.notes,
                size.note(info.width, info.height, info.rotation),
                *source_notes(reader, done, whole=segment is None),
                memory_note(upscaler.stats),
            ) if note
        ]
    seconds = time.monotonic() - started
    return UpscaleResult(
        source=str(source),
        output=str(target),
        status="ok",
        frames=done,
        width=out_w,
        height=out_h,
        seconds=round(seconds, 3),
        fps=round((done - copied) / seconds, 3) if seconds > 0 else 0.0,  # this run's own frames
        model=model_name,
        device=upscaler.stats.device,
        precision=upscaler.stats.precision,
        notes=notes,
        segment=segment.to_dict() if segment is not None else None,
    )


def _upscale_into(
    writer: VideoWriter,
    upscaler: WindowedUpscaler,
    reader: VideoReader,
    size: tuple[int, int],
    drop: int,
    cover_duration: int | None,
    report: Callable[[int], None],
) -> int:
    """Decode, upscale and hand to ``writer`` every frame of ``reader`` but the first
    ``drop`` (a resumed run's look-back); returns the frames written. Decoding, the
    conversion on a GPU and encoding run in threads of their own, which stop with it."""
    # Each frame's timing waits here while the frame is in the model's window.
    timing: deque[tuple[int | None, int | None]] = deque()

    def decoded():
        for frame in reader:
            timing.append((frame.pts, cover_duration or frame.duration))
            yield frame.rgb

    sink = converter = frames = None
    written = 0
    try:
        # Inside the try: a Ctrl-C that lands while the threads are being set up must
        # still stop whichever of them already started.
        sink = BackgroundSink(
            lambda item: writer.write_frame(item[0], pts=item[1], duration=item[2]),
            encode_queue_depth(writer.frame_bytes()),
        )
        if converts_beside_model(upscaler.device, writer.converts_tensors):
            converter = BackgroundSink(
                lambda item: sink.put((_convert_on(upscaler.device, writer, item[0]), item[1], item[2])),
                CONVERT_DEPTH, name="vsrt-convert",
            )
        frames = Prefetcher(decoded(), DECODE_DEPTH)
        for output in upscaler.upscale_tensors(frames):
            pts, duration = timing.popleft()
            if drop:
                drop -= 1
                continue
            output = resize_frame(output, size)
            if converter is not None:
                converter.put((output, pts, duration))
            else:
                # Converted here rather than in the encoder thread: the float frame (and
                # its window's canvas) is freed before it would wait. Unclamped: the
                # conversion clamps as it goes. YUV is converted where the frame is (on a
                # GPU, 8x fewer bytes to copy back).
                image = output if writer.converts_tensors else to_host_hwc(output)
                sink.put((writer.convert(image), pts, duration))
                del image
            del output
            written += 1
            report(written)
        if converter is not None:
            converter.finish()
        sink.finish()
    except BaseException:
        # The encoder stops before the converter: a converter waiting for room in the
        # encoder's queue then gives up at once.
        for stop in (frames and frames.close, sink and sink.abort, converter and converter.abort):
            if stop is not None:
                stop()
        raise
    frames.close()
    return written


def resize_frame(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A [3, H, W] frame at ``size`` (height, width), where it is (GPU or CPU).

    Antialiased bicubic, the kernel of MATLAB's and Pillow's shrinking: without the
    antialiasing, fine detail the model restored would alias into moire.
    """
    if tuple(image.shape[1:]) == tuple(size):
        return image
    return F.interpolate(image[None], size=size, mode="bicubic", antialias=True, align_corners=False)[0]


def cover_ticks(info, segment: Segment | None) -> int | None:
    """How long a cover picture is shown: as long as the audio plays (within the part)."""
    if not info.duration_s:
        return None
    seconds = info.duration_s
    if segment is not None:
        seconds = max(0.0, seconds - float(segment.start))
        if segment.duration is not None:
            seconds = min(seconds, float(segment.duration))
    return round(seconds / info.time_base)
