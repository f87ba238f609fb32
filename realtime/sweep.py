"""The heartbeat sweep: one per event loop for all of its sockets."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from datetime import UTC, datetime
from typing import Protocol

from django.conf import settings

from realtime.auth import Principal
from realtime.presence import Connection, per_loop, registry

log = logging.getLogger(__name__)


class Socket(Protocol):
    """What the sweep needs of a socket (``realtime.consumers.RealtimeConsumer``)."""

    principal: Principal
    connection: Connection
    joined: set[int]

    def heartbeat(self, silent_since: float) -> bool: ...

    def expired(self) -> None: ...


class Watch:
    """The heartbeat sweep of one event loop's sockets. Every half heartbeat it closes those
    silent for two heartbeats (4008) and refreshes the presence entries of the others in one
    registry call; a timer per socket closes it when its token expires (4001). It replaced a
    task per socket (1.5 KB each, docs/benchmarks.md, scenario 3) whose refreshes the registry
    then had to batch again."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.sockets: dict[Socket, asyncio.TimerHandle] = {}  # socket -> its expiry
        self.task: asyncio.Task[None] | None = None

    def add(self, consumer: Socket) -> None:
        delay = (consumer.principal.expires_at - datetime.now(tz=UTC)).total_seconds()
        self.sockets[consumer] = self.loop.call_later(max(0.0, delay), consumer.expired)
        if self.task is None:
            self.task = self.loop.create_task(self._sweep(), context=contextvars.Context())

    def discard(self, consumer: Socket) -> None:
        expiry = self.sockets.pop(consumer, None)
        if expiry is not None:
            expiry.cancel()

    async def _sweep(self) -> None:
        try:
            while self.sockets:
                heartbeat = float(settings.PYTAKE_WS_HEARTBEAT_SECONDS)
                await asyncio.sleep(heartbeat / 2)
                silent_since = time.monotonic() - 2 * heartbeat
                live = [(c.connection, len(c.joined)) for c in list(self.sockets) if c.heartbeat(silent_since)]
                if not live:
                    continue
                try:
                    await registry().touch(live)
                except Exception:  # Redis away: the next sweep tries again
                    log.warning("presence refresh of %d sockets failed", len(live), exc_info=True)
        finally:
            self.task = None


_watches: dict[int, Watch] = {}


def watch() -> Watch:
    """This event loop's heartbeat sweep."""
    return per_loop(_watches, Watch)
