"""The load generator of the connection scenarios (idle sockets, reconnect storm): many PyTake
agent sockets in one process, picows on uvloop, pinned to the client core by the runner
(``bench.scenario_connections``).

Each slot is one agent (one token) that keeps at most one socket open. A socket counts as open
only once its ``hello`` arrived; it answers the heartbeat with ``ping`` every 0.8 x hello's
``heartbeat_seconds`` (staggered over the slots), and every frame it gets is parsed and counted
by type. Closes are counted with their codes (1006 when the TCP connection ended without a close
frame); a close the runner did not ask for is an error.

The storm: ``drop`` closes every socket from the client side, remembering each slot's last event
id (the larger of hello's ``last_event_id`` and the ids it received); ``reconnect`` opens them all
again at once, and on ``hello`` each sends ``resume`` with that id. ``watch`` does the same for
sockets the server closes (a restart): each reconnects by itself with the browser client's
backoff. A slot has caught up when it has received every event of the storm's ``step`` (bench
events carry ``step`` and a publish index ``i``); a second copy of an event is a duplicate. Ids at
or below the resume position are the replay's documented overlap (``PYTAKE_RESUME_OVERLAP``), which
a client drops: counted apart, not as duplicates.

Control: JSON lines on stdin (``open``, ``quiet``, ``stats``, ``drop``, ``reconnect``, ``watch``,
``quit``); reports as JSON lines on stdout, with ``progress`` lines while an operation runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import uvloop
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from bench.common import raise_fd_limit, rss_bytes
from bench.loadgen import commands, emit, own_cpu

PING = b'{"action":"ping"}'
PROGRESS_SECONDS = 0.5
HANDSHAKE_TIMEOUT = 120.0


def own_rss() -> int:
    return rss_bytes(os.getpid())


def backoff_delay(attempt: int, base: float, ceiling: float) -> float:
    """The browser client's delay before reconnect ``attempt`` (0-based; static/pytake/realtime.js
    ``backoffDelay``): exponential, capped, "equal jitter" (half fixed, half random)."""
    top = min(ceiling, base * 2 ** min(attempt, 16))
    return top / 2 + random.random() * top / 2


class Storm:
    """What one storm expects: every event of ``step`` (``expect`` of them) on every slot."""

    def __init__(self, step: int, expect: int) -> None:
        self.step, self.expect = step, expect
        self.caught = 0
        self.duplicates = 0
        self.overlap = 0  # replayed ids at or below the resume position (dropped by a client)
        self.resyncs = 0
        self.stray = 0  # events after the resume position that are not of this step


class Pool:
    """Every slot of this process, and the counters the runner asks for."""

    def __init__(self, urls: list[str], tokens: list[str], first_index: int, source: str | None) -> None:
        self.loop = asyncio.get_running_loop()
        self.slots = [
            Slot(self, first_index + k, token, urls[(first_index + k) % len(urls)]) for k, token in enumerate(tokens)
        ]
        self.source = source
        self.frames: Counter[str] = Counter()
        self.closes: Counter[str] = Counter()  # unexpected closes by code
        self.expected_closes: Counter[str] = Counter()  # drops we made, and server closes we watch for
        self.errors: list[str] = []
        self.connect_failures = 0
        self.pings = 0
        self.heartbeat_every = 20.0
        self.last_other = time.monotonic()  # last frame that is not a pong (presence, ...)
        self.storm: Storm | None = None
        self.watching = False  # reconnect by ourselves when the server closes (restart variant)
        self.sem = asyncio.Semaphore(100)
        self.backoff_base = 0.5
        self.backoff_max = 30.0

    def open_count(self) -> int:
        return sum(1 for s in self.slots if s.open)

    def error(self, text: str) -> None:
        if len(self.errors) < 20:
            self.errors.append(text)

    def note_other(self) -> None:
        self.last_other = time.monotonic()


class Slot(WSListener):
    """One agent: its token, its server, its position in the event log, and its open socket."""

    def __init__(self, pool: Pool, index: int, token: str, url: str) -> None:
        super().__init__()
        self.pool = pool
        self.index = index
        self.url = f"{url}/ws/?token={token}"
        self.transport: WSTransport | None = None
        self.open = False  # hello received, not closed since
        self.hello: asyncio.Future[None] | None = None
        self.last_id = 0
        self.dropping = False
        self.closed_code: int | None = None
        self.resume_from: int | None = None  # set while a storm reconnect is under way
        self.got: set[int] = set()  # publish indexes of the storm's events received
        self.seen_ids: set[int] = set()  # ids received since the storm reconnect
        self.connected_at = 0.0  # wall time of the hello after the storm's reconnect
        self.caught_at = 0.0  # wall time the last missing event arrived
        self.replayed: int | None = None
        self.attempts = 0
        self.reconnecting = False

    # --- picows callbacks -----------------------------------------------------------------

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        self.closed_code = None

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if transport is not self.transport:
            return
        pool = self.pool
        was_open, self.open, self.transport = self.open, False, None
        code = str(self.closed_code if self.closed_code is not None else 1006)
        if self.hello is not None and not self.hello.done():
            self.hello.set_exception(ConnectionError(f"closed before hello ({code})"))
        if self.dropping:
            self.dropping = False
            pool.expected_closes["client-drop"] += 1
        elif pool.watching:
            pool.expected_closes[code] += 1
            self.schedule_reconnect()
        elif was_open:
            pool.closes[code] += 1
            pool.error(f"slot {self.index} closed with {code}")

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            self.closed_code = frame.get_close_code()
            transport.send_close(frame.get_close_code())
            transport.disconnect()
            return
        if frame.msg_type != WSMsgType.TEXT or not frame.fin:
            self.pool.frames["non-text"] += 1
            self.pool.error(f"slot {self.index}: unexpected {frame.msg_type} frame (fin={frame.fin})")
            return
        self.on_message(transport, json.loads(frame.get_payload_as_bytes()))

    # --- the protocol -----------------------------------------------------------------------

    def on_message(self, transport: WSTransport, message: dict[str, Any]) -> None:
        pool = self.pool
        kind = message.get("type", "?")
        pool.frames[kind] += 1
        if kind == "pong":
            return
        pool.note_other()
        if kind == "hello":
            data = message["data"]
            pool.heartbeat_every = 0.8 * float(data["heartbeat_seconds"])
            if self.resume_from is not None:
                self.connected_at = time.time()
                command = {"action": "resume", "last_event_id": self.resume_from, "ref": "r"}
                transport.send(WSMsgType.TEXT, json.dumps(command).encode())
            else:
                self.last_id = max(self.last_id, int(data["last_event_id"]))
            self.open = True
            if self.hello is not None and not self.hello.done():
                self.hello.set_result(None)
            return
        event_id = message.get("id")
        if isinstance(event_id, int):
            self.on_event(event_id, message)
        elif kind == "ack" and message.get("ref") == "r":
            self.replayed = int(message["data"]["replayed"])
        elif kind == "resync":
            if pool.storm is not None:
                pool.storm.resyncs += 1
            pool.error(f"slot {self.index}: resync {message.get('data')}")
        elif kind == "error":
            pool.error(f"slot {self.index}: error {message.get('code')} {message.get('message')}")

    def on_event(self, event_id: int, message: dict[str, Any]) -> None:
        storm = self.pool.storm
        self.last_id = max(self.last_id, event_id)
        if storm is None or self.resume_from is None:
            return
        if event_id <= self.resume_from:
            storm.overlap += 1
            return
        if event_id in self.seen_ids:
            storm.duplicates += 1
            return
        self.seen_ids.add(event_id)
        data = message.get("data") or {}
        if data.get("step") != storm.step:
            storm.stray += 1
            return
        index = int(data["i"])
        if index in self.got:
            storm.duplicates += 1
            return
        self.got.add(index)
        if len(self.got) == storm.expect:
            self.caught_at = time.time()
            storm.caught += 1

    # --- connecting ---------------------------------------------------------------------------

    async def connect(self) -> None:
        """Open the socket and wait for hello (at most ``HANDSHAKE_TIMEOUT``); raises on failure."""
        pool = self.pool
        self.hello = pool.loop.create_future()
        extra: dict[str, Any] = {"local_addr": (pool.source, 0)} if pool.source else {}
        async with pool.sem:
            try:
                await ws_connect(
                    lambda: self,
                    self.url,
                    websocket_handshake_timeout=HANDSHAKE_TIMEOUT,
                    read_buffer_init_size=2048,
                    **extra,
                )
                if self.transport is None:
                    # picows returns normally when the server closes the connection before its
                    # 101 (uvicorn drops a handshake still unanswered after 10 s): fail now, as
                    # a browser's onclose would, instead of waiting for a hello that cannot come.
                    raise ConnectionError("closed during the handshake")
                await asyncio.wait_for(asyncio.shield(self.hello), HANDSHAKE_TIMEOUT)
            except BaseException:
                if self.transport is not None:
                    self.transport.disconnect()
                if not self.hello.done():
                    self.hello.cancel()
                raise

    async def connect_retrying(self, *, first_delay: float, attempts: int | None = None) -> None:
        """Connect until hello; after a failure wait as the browser client does
        (``backoff_delay``). With ``attempts``, give up (raise the last error) after that many."""
        pool = self.pool
        self.reconnecting = True
        delay = first_delay
        tried = 0
        try:
            while True:
                if delay > 0:
                    await asyncio.sleep(delay)
                self.attempts += 1
                tried += 1
                try:
                    await self.connect()
                    return
                except Exception as exc:  # refused, reset, handshake timeout or refusal: retry
                    pool.connect_failures += 1
                    if pool.connect_failures <= 3:
                        pool.error(f"slot {self.index} attempt {self.attempts}: {exc!r}")
                    if attempts is not None and tried >= attempts:
                        raise
                    delay = backoff_delay(tried, pool.backoff_base, pool.backoff_max)
        finally:
            self.reconnecting = False

    def schedule_reconnect(self) -> None:
        """The server closed us: reconnect as the browser does (first attempt after backoff 0)."""
        if not self.reconnecting:
            pool = self.pool
            delay = backoff_delay(0, pool.backoff_base, pool.backoff_max)
            pool.loop.create_task(self.connect_retrying(first_delay=delay))

    def start_storm(self, resume_from: int) -> None:
        self.resume_from = resume_from
        self.got, self.seen_ids = set(), set()
        self.connected_at = self.caught_at = 0.0
        self.replayed = None
        self.attempts = 0


async def heartbeat(pool: Pool) -> None:
    """Every open socket pings once per ``heartbeat_every``, spread evenly over that period."""
    tick = 0.25
    cursor = 0
    while True:
        await asyncio.sleep(tick)
        slots = pool.slots
        share = max(1, -(-len(slots) * tick // pool.heartbeat_every))
        for _ in range(int(share)):
            slot = slots[cursor % len(slots)]
            cursor += 1
            if slot.open and slot.transport is not None:
                slot.transport.send(WSMsgType.TEXT, PING)
                pool.pings += 1


async def with_progress(pool: Pool, op: str, work: asyncio.Future[Any], **fields: Any) -> None:
    """Report progress every half second until ``work`` is done."""
    while not work.done():
        await asyncio.wait([work], timeout=PROGRESS_SECONDS)
        emit(event="progress", op=op, open=pool.open_count(), **({k: v() for k, v in fields.items()}))


async def do_open(pool: Pool, command: dict[str, Any]) -> None:
    """Open sockets on the next idle slots until ``n`` are open."""
    pool.sem = asyncio.Semaphore(int(command.get("concurrency", 100)))
    want = int(command["n"])
    todo = [s for s in pool.slots if not s.open][: max(0, want - pool.open_count())]
    started, cpu0 = time.monotonic(), own_cpu()
    failures: list[BaseException] = []
    failures_before = pool.connect_failures

    async def one(slot: Slot) -> None:
        try:
            await slot.connect_retrying(first_delay=0.0, attempts=int(command.get("attempts", 5)))
        except Exception as exc:  # counted and reported; the ramp goes on
            failures.append(exc)

    work = asyncio.ensure_future(asyncio.gather(*(one(s) for s in todo)))
    await with_progress(pool, "open", work)
    await work
    emit(
        event="opened",
        open=pool.open_count(),
        failed=len(failures),
        retries=pool.connect_failures - failures_before,
        first_error=repr(failures[0]) if failures else None,
        seconds=time.monotonic() - started,
        client_cpu=own_cpu() - cpu0,
    )


async def do_quiet(pool: Pool, command: dict[str, Any]) -> None:
    """Wait until no frame but pongs came for ``seconds`` (the presence frames after a ramp)."""
    started = time.monotonic()
    deadline = started + float(command.get("timeout", 300))
    while time.monotonic() - pool.last_other < float(command["seconds"]) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    emit(event="quiet", waited=time.monotonic() - started, timed_out=time.monotonic() >= deadline)


def stats(pool: Pool) -> dict[str, Any]:
    return {
        "open": pool.open_count(),
        "slots": len(pool.slots),
        "frames": dict(pool.frames),
        "closes": dict(pool.closes),
        "expected_closes": dict(pool.expected_closes),
        "pings": pool.pings,
        "connect_failures": pool.connect_failures,
        "errors": pool.errors[:10],
        "client_cpu": own_cpu(),
        "client_rss": own_rss(),
        "heartbeat_every": pool.heartbeat_every,
    }


async def do_drop(pool: Pool) -> None:
    """Close every open socket from the client side at once (a dropped network: no close frame)."""
    opened = [s for s in pool.slots if s.open and s.transport is not None]
    started = time.monotonic()
    for slot in opened:
        slot.dropping = True
        assert slot.transport is not None
        slot.transport.disconnect()
    while any(s.transport is not None for s in opened) and time.monotonic() - started < 30:
        await asyncio.sleep(0.05)
    emit(
        event="dropped",
        dropped=len(opened),
        still_connected=sum(1 for s in opened if s.transport is not None),
        seconds=time.monotonic() - started,
    )


async def storm_report(pool: Pool, storm: Storm, started_wall: float, timeout: float, op: str) -> None:
    """Wait until every slot caught up (or ``timeout``), then report per-slot wall times."""
    deadline = time.monotonic() + timeout
    cpu0 = own_cpu()

    async def all_caught() -> None:
        while storm.caught < len(pool.slots) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    work = asyncio.ensure_future(all_caught())
    await with_progress(pool, op, work, caught=lambda: storm.caught)
    finished_wall = time.time()
    emit(
        event="storm",
        started_wall=started_wall,
        finished_wall=finished_wall,
        caught=storm.caught,
        expect=storm.expect,
        received_missed=sum(len(s.got) for s in pool.slots),
        duplicates=storm.duplicates,
        overlap=storm.overlap,
        stray=storm.stray,
        resyncs=storm.resyncs,
        timed_out=storm.caught < len(pool.slots),
        connected_at=[s.connected_at for s in pool.slots],
        caught_at=[s.caught_at for s in pool.slots],
        replayed=[s.replayed for s in pool.slots],
        attempts=[s.attempts for s in pool.slots],
        **{**stats(pool), "client_cpu": own_cpu() - cpu0},
    )


async def do_reconnect(pool: Pool, command: dict[str, Any]) -> None:
    """Every slot reconnects at once and resumes from the last id it had before the drop."""
    storm = pool.storm = Storm(int(command["step"]), int(command["expect"]))
    pool.sem = asyncio.Semaphore(int(command.get("concurrency", len(pool.slots))))
    for slot in pool.slots:
        slot.start_storm(slot.last_id)
    started_wall = time.time()
    for slot in pool.slots:
        pool.loop.create_task(slot.connect_retrying(first_delay=0.0))
    await storm_report(pool, storm, started_wall, float(command.get("timeout", 120)), "reconnect")
    pool.storm = None


async def do_watch(pool: Pool, command: dict[str, Any]) -> None:
    """Arm every slot to reconnect by itself (the browser's backoff) and resume when the server
    closes it. Answers at once; ``watch_report`` then waits until every slot caught up."""
    pool.storm = Storm(int(command["step"]), int(command["expect"]))
    pool.sem = asyncio.Semaphore(int(command.get("concurrency", len(pool.slots))))
    pool.backoff_base = float(command.get("backoff_base", 0.5))
    pool.backoff_max = float(command.get("backoff_max", 30.0))
    for slot in pool.slots:
        slot.start_storm(slot.last_id)
    pool.watching = True
    emit(event="watching", started_wall=time.time())


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", action="append", required=True, help="ws://host:port (repeat: slots alternate)")
    parser.add_argument("--tokens", required=True, help="file with one PyTake access token per line")
    parser.add_argument("--first", type=int, default=0, help="index of this process's first token")
    parser.add_argument("--count", type=int, required=True, help="how many slots (tokens) this process owns")
    parser.add_argument("--source", default=None, help="local address to connect from (e.g. 127.0.0.2)")
    args = parser.parse_args()
    fd_limit = raise_fd_limit()
    tokens = Path(args.tokens).read_text().split()[args.first : args.first + args.count]
    if len(tokens) < args.count:
        raise SystemExit(f"need {args.count} tokens from {args.first}, have {len(tokens)}")
    pool = Pool(args.url, tokens, args.first, args.source)
    beat = asyncio.create_task(heartbeat(pool))
    emit(event="ready", slots=len(pool.slots), fd_limit=fd_limit, rss=own_rss())
    async for command in commands():
        cmd = command["cmd"]
        if cmd == "open":
            await do_open(pool, command)
        elif cmd == "quiet":
            await do_quiet(pool, command)
        elif cmd == "stats":
            emit(event="stats", **stats(pool))
        elif cmd == "drop":
            await do_drop(pool)
        elif cmd == "reconnect":
            await do_reconnect(pool, command)
        elif cmd == "watch":
            await do_watch(pool, command)
        elif cmd == "watch_report":
            assert pool.storm is not None
            await storm_report(pool, pool.storm, float(command["started_wall"]), float(command["timeout"]), "watch")
            pool.watching, pool.storm = False, None
        elif cmd == "quit":
            break
    beat.cancel()
    for slot in pool.slots:
        if slot.transport is not None:
            slot.dropping = True
            slot.transport.disconnect()
    emit(event="bye")


if __name__ == "__main__":
    uvloop.run(main())
