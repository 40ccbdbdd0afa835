"""Log lines written off the event loop, a batch at a time.

The seat calls are the server's hot path; each writes log lines (the access
line of every call, the seat log's line of every grant, release, denial and
expiry). Made and written in the event loop, a line cost ~75 us of its time
(the record, the JSON, the write), as much as a claim's database work, and on
a sandboxed kernel each write or stat is a slow system call that holds the
loop. So the loop only queues an item (about a microsecond) and this thread
turns items into lines: its system calls run while the loop serves the next
requests. Lines queued at exit are written before the process ends.
"""

from __future__ import annotations

import atexit
import contextlib
import queue
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class LineThread(threading.Thread, Generic[T]):
    """Calls ``write(item)`` for every item ``put`` here, in order, from a thread."""

    BATCH_DELAY = 0.05  # seconds the first item of a batch waits for the next ones

    def __init__(self, name: str, write: Callable[[T], None]) -> None:
        super().__init__(name=name, daemon=True)
        self.write = write
        self.items: queue.SimpleQueue[tuple[T] | None] = queue.SimpleQueue()

    @classmethod
    def started(cls, name: str, write: Callable[[T], None]) -> LineThread[T]:
        """A running thread, stopped (its queue written out) at exit."""
        thread = cls(name, write)
        thread.start()
        atexit.register(thread.stop)
        return thread

    def put(self, item: T) -> None:
        self.items.put((item,))

    def run(self) -> None:
        while True:
            first = self.items.get()
            time.sleep(self.BATCH_DELAY)  # gather a batch: one wake-up per batch, not per line
            batch = [first]
            with contextlib.suppress(queue.Empty):
                while True:
                    batch.append(self.items.get_nowait())
            for item in batch:
                if item is None:
                    return
                self.write(item[0])

    def stop(self) -> None:
        self.items.put(None)
        self.join(timeout=5)
