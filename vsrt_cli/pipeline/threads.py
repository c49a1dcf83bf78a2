"""Overlapping decode and encode with compute: one thread each, bounded queues between.

PyAV and torch both release the GIL in their heavy calls, so a decoder thread, the model
on the main thread and an encoder thread (on a GPU also a conversion thread in front of
it) run concurrently. Queues are small, so memory stays a few frames deep whatever the
video's length. Errors in any thread reach the main thread, and a stop from the main
thread (error or Ctrl-C) ends them all promptly.
"""

from __future__ import annotations

import queue
import threading
from typing import Callable, Generic, Iterable, Iterator, TypeVar

T = TypeVar("T")
_POLL_SECONDS = 0.1


def _put_polling(target: queue.Queue, item: object, keep_trying: Callable[[], bool]) -> bool:
    """Put ``item`` in ``target``; False if ``keep_trying()`` turns false while it is full.

    Polled rather than blocking, so that a stop (or a dead consumer) is noticed even when
    nothing will ever take from the queue again.
    """
    while keep_trying():
        try:
            target.put(item, timeout=_POLL_SECONDS)
            return True
        except queue.Full:
            continue
    return False


class _End:
    """Marks the end of a stream, carrying the producer's exception if it failed."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


class Prefetcher(Generic[T]):
    """Iterate ``source`` in a background thread, ``depth`` items ahead of the consumer."""

    def __init__(self, source: Iterable[T], depth: int, name: str = "vsrt-decode") -> None:
        self._source = source
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _put(self, item: object) -> bool:
        return _put_polling(self._queue, item, lambda: not self._stop.is_set())

    def _run(self) -> None:
        try:
            for item in self._source:
                if not self._put(item):
                    return
        except BaseException as error:  # handed to the consumer, re-raised there
            self._put(_End(error))
            return
        self._put(_End())

    def __iter__(self) -> Iterator[T]:
        while True:
            item = self._queue.get()
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
            yield item

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


class BackgroundSink(Generic[T]):
    """Hand items to ``consume`` in a background thread, at most ``depth`` waiting."""

    def __init__(self, consume: Callable[[T], None], depth: int, name: str = "vsrt-encode") -> None:
        self._consume = consume
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                item = self._queue.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                continue
            if isinstance(item, _End):
                return
            try:
                self._consume(item)
            except BaseException as error:
                self._error = error
                return

    def _offer(self, item: object) -> bool:
        """Queue ``item`` while the consumer runs; False once it has stopped (a consumer
        that failed while the queue was full never takes anything again)."""
        return _put_polling(self._queue, item, lambda: self._error is None and self._thread.is_alive())

    def put(self, item: T) -> None:
        """Queue ``item``; raises the consumer's error as soon as there is one."""
        if not self._offer(item):
            raise self._error or RuntimeError("the encoder thread stopped unexpectedly")

    def finish(self) -> None:
        """Wait until everything queued is consumed; raises the consumer's error."""
        self._offer(_End())
        self._thread.join()
        if self._error is not None:
            raise self._error

    def abort(self) -> None:
        self._stop.set()
        self._thread.join()
