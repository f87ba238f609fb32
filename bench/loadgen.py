"""What the load generators (``bench.client``, ``bench.e2e_client``, ``bench.conn_client``,
``bench.rest_client``) share: the JSON-lines control protocol (commands on stdin, reports on
stdout), their own CPU reading, latency summaries, and the picows socket that speaks JSON text."""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

from picows import WSFrame, WSListener, WSMsgType, WSTransport

from bench.common import percentile

T = TypeVar("T")


def emit(**message: Any) -> None:
    """One report line on stdout (``Proc.read`` in the runner reads it)."""
    sys.stdout.write(json.dumps(message, separators=(",", ":")) + "\n")
    sys.stdout.flush()


async def commands() -> AsyncIterator[dict[str, Any]]:
    """The runner's commands, one JSON line each on stdin, until it closes stdin."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        yield json.loads(line)


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def summary_ms(values: list[float]) -> dict[str, float]:
    """p50, p90, p99 and max of durations in seconds, in milliseconds."""
    ordered = sorted(values)
    return {
        "p50_ms": percentile(ordered, 50) * 1000,
        "p90_ms": percentile(ordered, 90) * 1000,
        "p99_ms": percentile(ordered, 99) * 1000,
        "max_ms": (ordered[-1] * 1000) if ordered else float("nan"),
    }


class OtherFrames:
    """The frames that are not bench events (presence, hello, pongs...): how many came, and when
    the last one did, so that ``quiet`` can wait out the presence storm after connecting."""

    def __init__(self) -> None:
        self.other = 0
        self.last_other = time.monotonic()

    def note_other(self) -> None:
        self.other += 1
        self.last_other = time.monotonic()

    async def quiet(self, command: dict[str, Any]) -> None:
        """Answer ``quiet``: once none came for ``seconds`` (at most ``timeout``)."""
        deadline = time.monotonic() + command.get("timeout", 120)
        while time.monotonic() - self.last_other < command["seconds"] and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        emit(event="quiet", other=self.other, waited_out=time.monotonic() >= deadline)


class TextSocket(WSListener):
    """One socket of a JSON-text protocol. ``ready`` is resolved by the subclass when its
    handshake is done (a socket that closes before fails it); a close frame is answered and
    noted in ``errors``; a text message's fragments are joined and the whole text goes to
    ``on_text``. Other frames (binary, ping, pong) are ignored."""

    before_ready = "during handshake"  # how a close before ``ready`` is described

    def __init__(self, index: int, errors: list[str]) -> None:
        super().__init__()
        self.index = index
        self.errors = errors
        self.ready: asyncio.Future[bool] = asyncio.get_event_loop().create_future()
        self.transport: WSTransport | None = None
        self.closed_code: int | None = None
        self.partial: list[bytes] = []

    def set_ready(self) -> None:
        if not self.ready.done():
            self.ready.set_result(True)

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"socket {self.index} closed {self.before_ready}"))
        elif self.closed_code is None:
            self.closed_code = -1
            self.errors.append(f"socket {self.index} disconnected")

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            self.closed_code = frame.get_close_code()
            self.errors.append(f"socket {self.index} closed with {self.closed_code}")
            transport.send_close(frame.get_close_code())
            transport.disconnect()
            return
        if frame.msg_type not in (WSMsgType.TEXT, WSMsgType.CONTINUATION):
            return
        if not frame.fin:
            self.partial.append(frame.get_payload_as_bytes())
            return
        if self.partial:
            text = (b"".join(self.partial) + frame.get_payload_as_bytes()).decode()
            self.partial = []
        else:
            text = frame.get_payload_as_utf8_text()
        self.on_text(transport, text)

    def on_text(self, transport: WSTransport, text: str) -> None:
        raise NotImplementedError


async def connect_all(n: int, concurrency: int, open_one: Callable[[int], Awaitable[T]]) -> list[T]:
    """Open sockets 0 to ``n - 1`` with ``open_one``, ``concurrency`` at a time, and report
    ``connected`` (how many, how many failed and the first error: a failure does not stop the
    others). Returns the sockets that opened."""
    sem = asyncio.Semaphore(concurrency)
    started = time.monotonic()

    async def guarded(i: int) -> T:
        async with sem:
            return await open_one(i)

    results = await asyncio.gather(*(guarded(i) for i in range(n)), return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    opened = [r for r in results if not isinstance(r, BaseException)]
    emit(
        event="connected",
        n=len(opened),
        failed=len(failures),
        seconds=time.monotonic() - started,
        first_error=repr(failures[0]) if failures else None,
    )
    return opened


async def heartbeat(sockets: Sequence[TextSocket], kind: str, every: float) -> None:
    """PyTake closes a socket it has not heard from in 2 × heartbeat: ping, staggered. ``sockets``
    grows while they connect (each is added once ready: a slow ramp must not trip the 4008)."""
    if kind != "pytake":
        return
    ping = b'{"action":"ping"}'
    while True:
        if not sockets:
            await asyncio.sleep(1)
        for start in range(0, len(sockets), 100):
            for socket in sockets[start : start + 100]:
                if socket.transport is not None and socket.closed_code is None:
                    socket.transport.send(WSMsgType.TEXT, ping)
            await asyncio.sleep(every / max(1, len(sockets) / 100))


def disconnect_all(sockets: Iterable[TextSocket]) -> None:
    for socket in sockets:
        if socket.transport is not None and socket.closed_code is None:
            socket.transport.disconnect()
