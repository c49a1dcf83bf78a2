"""Using vsrt from Python: load a model once, upscale files and in-memory frames.

    python examples/library_api.py examples/realshort.mp4 realshort_4x.mp4
"""

import sys

import vsrt_cli
from vsrt_cli.inference import InferenceOptions, upscale_clip
from vsrt_cli.video import VideoReader


def main(source: str, target: str) -> None:
    model = vsrt_cli.load_model()  # the bundled default; or a name from `vsrt models`, or a .safetensors path

    # A whole file: audio, subtitles, timestamps and colour tags are kept.
    result = vsrt_cli.upscale_video(source, target, model, overwrite=True)
    print(f"{result.output}: {result.frames} frames at {result.width}x{result.height}, {result.fps:.2f} fps")

    # Frames you already have in memory: float32 RGB in [0, 1], HxWx3.
    with VideoReader(source) as reader:
        frames = [frame.rgb for frame, _ in zip(reader, range(5))]
    upscaled = upscale_clip(model, frames, InferenceOptions(device="auto"))
    print(f"in-memory clip: {frames[0].shape} -> {upscaled[0].shape}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
