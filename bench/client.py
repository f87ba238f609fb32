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
import time
from pathlib import Path
from typing import Any

import uvloop
from picows import WSMsgType, WSTransport, ws_connect

from bench.loadgen import (
    OtherFrames,
    TextSocket,
    commands,
    connect_all,
    disconnect_all,
    emit,
    heartbeat,
    own_cpu,
    summary_ms,
)


class Stats(OtherFrames):
    def __init__(self) -> None:
        super().__init__()
        self.step: int | None = None
        self.latencies: list[float] = []
        self.received = 0
        self.duplicates = 0
        self.expected: int | None = None
        self.started_wall = 0.0
        self.started_cpu = 0.0
        self.first_recv = 0.0
        self.last_recv = 0.0
        self.complete_sent = False
        self.errors: list[str] = []


STATS = Stats()
CLIENTS: list[Client] = []


class Client(TextSocket):
    def __init__(self, kind: str, index: int) -> None:
        super().__init__(index, STATS.errors)
        self.kind = kind
        self.last_i = -1

    def on_ws_connected(self, transport: WSTransport) -> None:
        super().on_ws_connected(transport)
        if self.kind == "ws":
            self.set_ready()

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
                self.set_ready()
                return
            else:
                STATS.note_other()
                return
        else:
            frame = json.loads(text)
            if frame.get("type") == "broadcast":
                data = frame["data"]
            elif frame.get("type") == "hello":
                self.set_ready()
                return
            else:
                STATS.note_other()
                return
        if data is None or "step" not in data:
            STATS.note_other()
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

    hb = asyncio.create_task(heartbeat(CLIENTS, args.kind, args.heartbeat))
    clients = await connect_all(args.n, args.concurrency, lambda i: open_one(args.kind, args.url, i, tokens[i]))
    async for command in commands():
        cmd = command["cmd"]
        if cmd == "quiet":
            await STATS.quiet(command)
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
                **summary_ms(lat),
                receive_span=STATS.last_recv - STATS.first_recv,
                open_sockets=sum(1 for c in clients if c.closed_code is None),
                errors=STATS.errors[:5],
                latency_sample=lat[:: max(1, len(lat) // 2000)],
            )
            STATS.step = None
        elif cmd == "quit":
            break
    hb.cancel()
    disconnect_all(clients)
    emit(event="bye")


if __name__ == "__main__":
    uvloop.run(main())
