"""The decode and encode threads: order, error hand-over and shutdown without hangs."""

import threading
import time

import pytest

from vsrt_cli.pipeline.threads import BackgroundSink, Prefetcher


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
