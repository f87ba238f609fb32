"""The load generator: N WebSocket clients in one process (picows on uvloop), pinned to its own
core by the runner. It speaks three wire dialects: PyTake's /ws/ protocol, a plain WebSocket
(the `websockets` peer) and Socket.IO (Engine.IO v4 over a WebSocket, for the python-socketio and
Node peers). Every frame it receives is parsed; bench events carry ``step``, ``i`` (publish
index) and ``t`` (publish wall time), so it measures latency, reach and duplicates.

Control: JSON lines on stdin (``begin``/``expect``/``end``/``quit``), reports as JSON lines on
stdout. It measures its own CPU per step so the runner can refuse client-bound steps.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

import uvloop
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from bench.common import percentile


def emit(**message: Any) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Stats:
    def __init__(self) -> None:
        self.step: int | None = None
        self.latencies: list[float] = []
        self.received = 0
        self.duplicates = 0
        self.other = 0  # non-bench frames (presence, pong, hello...)
        self.last_other = time.monotonic()
        self.expected: int | None = None
        self.started_wall = 0.0
        self.started_cpu = 0.0
        self.first_recv = 0.0
        self.last_recv = 0.0
        self.complete_sent = False
        self.errors: list[str] = []


STATS = Stats()
CLIENTS: list[Client] = []


class Client(WSListener):
    def __init__(self, kind: str, index: int) -> None:
        self.kind = kind
        self.index = index
        self.ready = asyncio.get_event_loop().create_future()
        self.last_i = -1
        self.transport: WSTransport | None = None
        self.partial: list[bytes] = []
        self.closed_code: int | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        if self.kind == "ws" and not self.ready.done():
            self.ready.set_result(True)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"socket {self.index} closed during handshake"))
        elif self.closed_code is None:
            self.closed_code = -1
            STATS.errors.append(f"socket {self.index} disconnected")

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            self.closed_code = frame.get_close_code()
            STATS.errors.append(f"socket {self.index} closed with {self.closed_code}")
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
        now = time.time()
        data: Any = None
        if self.kind == "sio":
            if text.startswith("42"):
                _name, payload = json.loads(text[2:])
                data = payload.get("data")
            elif text == "2":  # Engine.IO ping: answer pong
                transport.send(WSMsgType.TEXT, b"3")
                return
            elif text.startswith("0{"):
                transport.send(WSMsgType.TEXT, b"40")
                return
            elif text.startswith("40"):
                if not self.ready.done():
                    self.ready.set_result(True)
                return
            else:
                self.note_other()
                return
        else:
            frame = json.loads(text)
            if frame.get("type") == "broadcast":
                data = frame["data"]
            elif frame.get("type") == "hello":
                if not self.ready.done():
                    self.ready.set_result(True)
                return
            else:
                self.note_other()
                return
        if data is None or "step" not in data:
            self.note_other()
            return
        i = data["i"]
        if i <= self.last_i:
            STATS.duplicates += 1
        self.last_i = i
        if data["step"] != STATS.step:
            return  # a late frame of an earlier step (counted there as lost)
        STATS.received += 1
        STATS.latencies.append(now - data["t"])
        if STATS.first_recv == 0.0:
            STATS.first_recv = now
        STATS.last_recv = now
        if STATS.expected is not None and STATS.received >= STATS.expected and not STATS.complete_sent:
            STATS.complete_sent = True
            emit(event="complete", step=STATS.step, received=STATS.received)

    def note_other(self) -> None:
        STATS.other += 1
        STATS.last_other = time.monotonic()


def url_for(kind: str, base: str, token: str | None) -> str:
    if kind == "pytake":
        return f"{base}/ws/?token={token}"
    if kind == "sio":
        return f"{base}/socket.io/?EIO=4&transport=websocket"
    return f"{base}/"


async def open_one(kind: str, urls: list[str], index: int, token: str | None) -> Client:
    base = urls[index % len(urls)]
    _transport, client = await ws_connect(
        lambda: Client(kind, index), url_for(kind, base, token), websocket_handshake_timeout=120
    )
    await asyncio.wait_for(client.ready, 120)
    CLIENTS.append(client)  # heartbeats start now: a slow ramp must not trip the server's 4008
    return client


async def heartbeat(clients: list[Client], kind: str, every: float) -> None:
    """PyTake closes a socket it has not heard from in 2 × heartbeat: ping, staggered."""
    if kind != "pytake":
        return
    ping = b'{"action":"ping"}'
    while True:
        if not clients:
            await asyncio.sleep(1)
        for start in range(0, len(clients), 100):
            for client in clients[start : start + 100]:
                if client.transport is not None and client.closed_code is None:
                    client.transport.send(WSMsgType.TEXT, ping)
            await asyncio.sleep(every / max(1, len(clients) / 100))


async def watch_stall(step: int | None, stall: float) -> None:
    """Report a step whose frames stopped arriving (lost) after ``stall`` seconds without progress
    (five times that before its first frame)."""
    seen, quiet_since = -1, time.monotonic()
    while STATS.step == step and not STATS.complete_sent:
        if STATS.received != seen:
            seen, quiet_since = STATS.received, time.monotonic()
        elif time.monotonic() - quiet_since > (stall if STATS.received else 5 * stall):
            STATS.complete_sent = True
            emit(event="complete", step=step, received=STATS.received, stalled=True)
            return
        await asyncio.sleep(0.1)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kind", choices=["pytake", "ws", "sio"], required=True)
    parser.add_argument("--url", action="append", required=True, help="ws://host:port (repeat for several servers)")
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--tokens", help="file with one PyTake access token per line")
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--heartbeat", type=float, default=20.0)
    args = parser.parse_args()

    tokens: list[str | None] = [None] * args.n
    if args.kind == "pytake":
        lines = Path(args.tokens).read_text().split()
        if len(lines) < args.n:
            raise SystemExit(f"need {args.n} tokens, have {len(lines)}")
        tokens = list(lines[: args.n])

    clients: list[Client] = []
    sem = asyncio.Semaphore(args.concurrency)
    started = time.monotonic()

    async def guarded(i: int) -> Client:
        async with sem:
            return await open_one(args.kind, args.url, i, tokens[i])

    hb = asyncio.create_task(heartbeat(CLIENTS, args.kind, args.heartbeat))
    results = await asyncio.gather(*(guarded(i) for i in range(args.n)), return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    clients = [r for r in results if isinstance(r, Client)]
    emit(
        event="connected",
        n=len(clients),
        failed=len(failures),
        seconds=time.monotonic() - started,
        first_error=repr(failures[0]) if failures else None,
    )
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line:
            break
        command = json.loads(line)
        cmd = command["cmd"]
        if cmd == "quiet":
            # Wait until no non-bench frames arrived for `seconds` (e.g. the presence storm after connecting).
            deadline = time.monotonic() + command.get("timeout", 120)
            while time.monotonic() - STATS.last_other < command["seconds"] and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            emit(event="quiet", other=STATS.other, waited_out=time.monotonic() >= deadline)
        elif cmd == "begin":
            STATS.step = command["step"]
            STATS.latencies, STATS.received, STATS.duplicates = [], 0, 0
            STATS.expected, STATS.complete_sent = None, False
            STATS.first_recv = STATS.last_recv = 0.0
            STATS.started_wall, STATS.started_cpu = time.monotonic(), own_cpu()
            emit(event="begun", step=STATS.step)
        elif cmd == "expect":
            STATS.expected = command["count"]
            if STATS.received >= STATS.expected and not STATS.complete_sent:
                STATS.complete_sent = True
                emit(event="complete", step=STATS.step, received=STATS.received)
            else:
                asyncio.create_task(watch_stall(STATS.step, command.get("stall", 3.0)))
        elif cmd == "end":
            wall = time.monotonic() - STATS.started_wall
            cpu = own_cpu() - STATS.started_cpu
            lat = sorted(STATS.latencies)
            emit(
                event="step",
                step=STATS.step,
                received=STATS.received,
                duplicates=STATS.duplicates,
                wall=wall,
                client_cpu=cpu,
                client_util=cpu / wall if wall else 0.0,
                p50_ms=percentile(lat, 50) * 1000,
                p90_ms=percentile(lat, 90) * 1000,
                p99_ms=percentile(lat, 99) * 1000,
                max_ms=(lat[-1] * 1000) if lat else float("nan"),
                receive_span=STATS.last_recv - STATS.first_recv,
                open_sockets=sum(1 for c in clients if c.closed_code is None),
                errors=STATS.errors[:5],
                latency_sample=lat[:: max(1, len(lat) // 2000)],
            )
            STATS.step = None
        elif cmd == "quit":
            break
    hb.cancel()
    for client in clients:
        if client.transport is not None and client.closed_code is None:
            client.transport.disconnect()
    emit(event="bye")


if __name__ == "__main__":
    uvloop.run(main())
