"""Using vsrt from Python: load a model once, upscale files and in-memory frames.

    python examples/library_api.py examples/realshort.mp4 realshort_4x.mp4
"""

import sys

import numpy as np

import vsrt_cli
from vsrt_cli.video import VideoReader


def main(source: str, target: str) -> int:
    model = vsrt_cli.load_model()  # the bundled default; or a name from `vsrt models`, or a .safetensors path

    # A whole file: audio, subtitles, timestamps and colour tags are kept.
    def report(progress: vsrt_cli.Progress) -> None:
        print(f"\r{progress.frames_done}/{progress.frames_total or '?'} frames, {progress.fps:.2f} fps", end="")

    try:
        result = vsrt_cli.upscale_video(
            source,
            target,
            model,
            inference=vsrt_cli.InferenceOptions(device="auto"),
            encode=vsrt_cli.EncodeOptions(crf=18, preset="medium"),
            overwrite=True,
            progress=report,
        )
    except vsrt_cli.VsrtError as error:  # one line, and the exit code the CLI would give
        print(f"failed: {error}", file=sys.stderr)
        return error.exit_code
    print(f"\n{result.output}: {result.frames} frames at {result.width}x{result.height}, {result.fps:.2f} fps")

    # Frames you already have in memory: float RGB in [0, 1], HxWx3, all of one size.
    with VideoReader(source) as reader:
        frames = [frame.rgb for frame, _ in zip(reader, range(5))]
    upscaled = vsrt_cli.upscale_clip(model, frames, vsrt_cli.InferenceOptions(device="auto"))
    as_8_bit = [np.round(np.clip(image, 0, 1) * 255).astype(np.uint8) for image in upscaled]
    print(f"in-memory clip: {frames[0].shape} -> {as_8_bit[0].shape} {as_8_bit[0].dtype}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(f"usage: python {sys.argv[0]} SOURCE TARGET (for example examples/realshort.mp4 realshort_4x.mp4)")
    sys.exit(main(sys.argv[1], sys.argv[2]))
