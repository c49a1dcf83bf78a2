"""The decode and encode threads: order, error hand-over and shutdown without hangs."""

import threading
import time

import numpy as np
import pytest
import torch

from media import make_video, read_frames
from tiny_models import tiny_model
from vsrt_cli.errors import CodecError
from vsrt_cli.pipeline import upscale as upscale_module
from vsrt_cli.pipeline.threads import BackgroundSink, Prefetcher
from vsrt_cli.pipeline.upscale import converts_beside_model, upscale_video
from vsrt_cli.video import EncodeOptions, VideoWriter


def test_prefetcher_yields_every_item_in_order():
    prefetcher = Prefetcher(iter(range(50)), depth=3)
    assert list(prefetcher) == list(range(50))
    prefetcher.close()


def test_prefetcher_hands_the_source_error_to_the_consumer():
    def source():
        yield 1
        raise ValueError("bad packet")

    prefetcher = Prefetcher(source(), depth=2)
    seen = []
    with pytest.raises(ValueError, match="bad packet"):
        for item in prefetcher:
            seen.append(item)
    assert seen == [1]
    prefetcher.close()


def test_prefetcher_close_stops_a_producer_blocked_on_a_full_queue():
    prefetcher = Prefetcher(iter(range(10**9)), depth=1)
    time.sleep(0.2)
    closer = threading.Thread(target=prefetcher.close, daemon=True)
    closer.start()
    closer.join(10)
    assert not closer.is_alive(), "close() hung"


def test_sink_consumes_everything_before_finish_returns():
    consumed = []
    sink = BackgroundSink(consumed.append, depth=2)
    for item in range(20):
        sink.put(item)
    sink.finish()
    assert consumed == list(range(20))


def _finish_within(sink: BackgroundSink, seconds: float) -> BaseException | None:
    outcome: list[BaseException | None] = []

    def run():
        try:
            sink.finish()
            outcome.append(None)
        except BaseException as error:
            outcome.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "finish() hung"
    return outcome[0]


def test_sink_finish_raises_a_failure_that_comes_while_the_queue_is_full():
    started = threading.Event()

    def consume(item):
        started.set()
        time.sleep(0.3)  # long enough for the queue to fill and finish() to start waiting
        raise OSError("No space left on device")

    sink = BackgroundSink(consume, depth=1)
    sink.put("first")  # taken by the consumer, which is now busy
    started.wait(5)
    sink.put("second")  # fills the queue
    error = _finish_within(sink, 10)
    assert isinstance(error, OSError) and "No space left" in str(error)


def test_sink_put_raises_the_consumer_error():
    def consume(item):
        raise RuntimeError("encoder failed")

    sink = BackgroundSink(consume, depth=1)
    with pytest.raises(RuntimeError, match="encoder failed"):
        for item in range(100):
            sink.put(item)
            time.sleep(0.01)
    sink.abort()


# -- the conversion thread (CUDA only in use; forced here to run it on a CPU) ----------


def test_only_gpu_tensor_frames_are_converted_beside_the_model():
    assert converts_beside_model(torch.device("cuda"), True)
    assert not converts_beside_model(torch.device("cuda"), False)  # swscale formats: numpy on the host
    assert not converts_beside_model(torch.device("cpu"), True)


@pytest.fixture
def conversion_thread(monkeypatch):
    started = []
    real = upscale_module.BackgroundSink

    def recording(consume, depth, name="vsrt-encode"):
        started.append(name)
        return real(consume, depth, name)

    monkeypatch.setattr(upscale_module, "converts_beside_model", lambda device, tensors: tensors)
    monkeypatch.setattr(upscale_module, "BackgroundSink", recording)
    return started


def test_conversion_thread_writes_the_same_video(tmp_path, conversion_thread, monkeypatch):
    source = make_video(tmp_path / "in.mp4", width=24, height=16, frames=9)
    encode = EncodeOptions(preset="ultrafast", crf=0)
    model = tiny_model()
    threaded = upscale_video(source, tmp_path / "threaded.mkv", model, encode=encode)
    assert conversion_thread == ["vsrt-encode", "vsrt-convert"]
    conversion_thread.clear()
    monkeypatch.setattr(upscale_module, "converts_beside_model", lambda device, tensors: False)
    inline = upscale_video(source, tmp_path / "inline.mkv", model, encode=encode)
    assert conversion_thread == ["vsrt-encode"]
    assert threaded.frames == inline.frames == 9
    a, b = read_frames(tmp_path / "threaded.mkv"), read_frames(tmp_path / "inline.mkv")
    assert a.pts == b.pts
    for x, y in zip(a.frames, b.frames, strict=True):
        np.testing.assert_array_equal(x, y)


def test_encoder_failure_behind_the_conversion_thread_leaves_nothing(tmp_path, conversion_thread, monkeypatch):
    source = make_video(tmp_path / "in.mp4", width=24, height=16, frames=12)
    target = tmp_path / "out.mp4"
    real_write = VideoWriter.write_frame

    def failing(self, frame, pts=None, duration=None):
        if self.frames_written == 3:
            raise CodecError("the encoder gave up")
        real_write(self, frame, pts, duration)

    monkeypatch.setattr(VideoWriter, "write_frame", failing)
    with pytest.raises(CodecError, match="gave up"):
        upscale_video(source, target, tiny_model(), encode=EncodeOptions(preset="ultrafast"))
    assert "vsrt-convert" in conversion_thread
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]
    assert not [t for t in threading.enumerate() if t.name in ("vsrt-convert", "vsrt-encode")]
