"""A daemon thread that runs delayed callables in this process, in time order.

For work that must happen later in a process that has no task queue to hold it: the Cloud API
simulator's status callbacks and webhooks, and the embedded default's task retries that have to
wait (``pytake.celery.retry_later``). Each callable runs with its own database connections,
closed after it.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

from django.db import connections

logger = logging.getLogger(__name__)


class Scheduler:
    """One daemon thread (``name``), started on the first ``schedule``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._counter = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._busy = False

    def schedule(self, delay: float, fn: Callable[[], None]) -> None:
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + max(0.0, delay), next(self._counter), fn))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(timeout)
                _, _, fn = heapq.heappop(self._heap)
                self._busy = True
            try:
                fn()
            except Exception:
                logger.exception("%s: a scheduled job failed", self.name)
            finally:
                connections.close_all()  # a dedicated, mostly idle thread: hold no connection
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def pending(self) -> int:
        """Jobs scheduled and not yet started."""
        with self._cond:
            return len(self._heap)

    def run_due_now(self) -> None:
        """Make every scheduled job due now (they still run on the thread, in order)."""
        with self._cond:
            now = time.monotonic()
            self._heap = [(min(at, now), order, fn) for at, order, fn in self._heap]
            heapq.heapify(self._heap)
            self._cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Block until nothing is scheduled or running (tests, shutdown). False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._heap or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.1))
        return True
