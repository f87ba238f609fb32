"""The hub's own cost per delivery, in one process: ``python -m bench.fanout_inprocess [--n 1000]``.

The fan-out scenario (``bench.run``) measures the whole path: the layer, the server's event loop,
the system calls, a client on the other core. This isolates what PyTake's code costs per socket
per event: N agent sockets of uvicorn's sans-I/O protocol (the production server's), past their
handshake, each with a consumer as ``connect`` leaves it; their transports keep no bytes. Each
event is a supervisor broadcast as ``bench.publisher --kind pytake-layer`` sends it (every socket
receives it), a fresh message per event as the layer hands over. Prints microseconds of CPU
(``time.process_time``) per delivery, the best of ``--repeat`` rounds, and with ``--profile`` the
functions that take it (cProfile).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import time
from datetime import UTC, datetime, timedelta
from typing import Any

HANDSHAKE = (
    b"GET /ws/ HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


class Transport(asyncio.Transport):
    """A transport that takes every write and keeps nothing: the system call is not measured."""

    def write(self, data: Any) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def open_sockets(n: int) -> tuple[list[Any], list[Any]]:
    """N protocols past the handshake, and the ASGI ``send`` of each."""
    from uvicorn.config import Config
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
    from uvicorn.server import ServerState

    sends: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        sends.append(send)
        await receive()  # the disconnect, when the bench is over

    config = Config(app=app, ws="websockets-sansio", lifespan="off", ws_per_message_deflate=False, log_level="warning")
    config.load()
    state = ServerState()
    protocols = []
    for _ in range(n):
        protocol = WebSocketsSansIOProtocol(config, state, {})
        protocol.connection_made(Transport())
        protocol.data_received(HANDSHAKE)
        protocols.append(protocol)
    while len(sends) < n:
        await asyncio.sleep(0)
    return protocols, sends


async def close_sockets(protocols: list[Any]) -> None:
    for protocol in protocols:
        protocol.connection_lost(None)
    others = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    if others:
        await asyncio.wait(others, timeout=5)  # the applications return on their disconnect


def consumers(sends: list[Any]) -> list[Any]:
    from conversations.models import User
    from realtime.auth import Principal
    from realtime.consumers import RealtimeConsumer
    from realtime.wire import Wire

    expires = datetime.now(tz=UTC) + timedelta(hours=1)
    made = []
    for k, send in enumerate(sends, start=1):
        consumer = RealtimeConsumer()
        consumer.base_send, consumer.wire = send, Wire.of(send)
        consumer.principal = Principal(tenant_id=1, expires_at=expires, user=User(pk=k, role="agent"))
        consumer.ready, consumer.joined, consumer.held = True, set(), None
        consumer.channel_name = f"bench#{k}"
        made.append(consumer)
    return made


def messages(count: int, group: str, first: int = 1) -> list[dict[str, Any]]:
    from django.utils import timezone

    from realtime.events import channel_message, group_message
    from realtime.models import Audience, Event

    data = {"from": {"id": 1, "name": "Bench Supervisor"}, "text": "x" * 200}
    made = []
    for seq in range(first, first + count):
        event = Event(tenant_id=1, seq=seq, type="broadcast", audience=Audience.STAFF, data=data)
        event.created_at = timezone.now()
        made.append(group_message(group, channel_message(event)))
    return made


async def measure(n: int, events: int, repeat: int, profile: bool) -> None:
    from realtime import groups
    from realtime.hub import Hub

    protocols, sends = await open_sockets(n)
    sockets = consumers(sends)
    group = groups.tenant(1)
    best = float("inf")
    for round_ in range(repeat):
        hub = Hub(layer=None, loop=asyncio.get_running_loop())
        hub.members[group] = {c.channel_name: c for c in sockets}
        for c in sockets:
            c.last_id, c.seen_bits = 0, 0
        batch = messages(events, group)
        profiler = cProfile.Profile(time.process_time) if profile and round_ == repeat - 1 else None
        start = time.process_time()
        if profiler is not None:
            profiler.enable()
        for message in batch:
            hub.deliver(message)
        if profiler is not None:
            profiler.disable()
        spent = time.process_time() - start
        assert not hub._backlogs and not hub._tasks, "a send suspended: the bench measures the inline path only"
        if profiler is None:
            best = min(best, spent)
    print(f"N = {n}, {events} events, best of {repeat}: {best / (n * events) * 1e6:.2f} µs of CPU per delivery")
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
    await close_sockets(protocols)


async def retained(n: int, events: int) -> None:
    """Python memory each socket keeps after receiving ``events`` events (tracemalloc): what a
    busy tenant's sockets hold that an idle one's do not (the idle scenario cannot show it)."""
    import gc
    import tracemalloc

    from realtime import groups
    from realtime.hub import Hub

    protocols, sends = await open_sockets(n)
    sockets = consumers(sends)
    group = groups.tenant(1)
    hub = Hub(layer=None, loop=asyncio.get_running_loop())
    hub.members[group] = {c.channel_name: c for c in sockets}
    hub.deliver(messages(1, group)[0])  # first-use allocations (caches, the frame encoder)
    tracemalloc.start(4)
    gc.collect()
    before = tracemalloc.take_snapshot()
    chunk = 500
    for first in range(2, events + 2, chunk):
        for message in messages(min(chunk, events + 2 - first), group, first):
            hub.deliver(message)
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = [d for d in after.compare_to(before, "lineno") if d.size_diff > 0]
    total = sum(d.size_diff for d in grown)
    print(f"N = {n}, after {events} events each: {total / n:.0f} bytes of Python memory kept per socket")
    for d in grown[:8]:
        print(f"  {d.size_diff / n:8.0f} B/socket  {d.traceback}")
    await close_sockets(protocols)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000, help="sockets")
    parser.add_argument("--events", type=int, default=200, help="events per round")
    parser.add_argument("--repeat", type=int, default=5, help="rounds (the best is reported)")
    parser.add_argument("--profile", action="store_true", help="one more round under cProfile")
    parser.add_argument(
        "--memory", type=int, metavar="EVENTS", help="instead: memory kept per socket after EVENTS events"
    )
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pytake.settings")
    os.environ.setdefault("DJANGO_DEBUG", "1")
    import django

    django.setup()
    if args.memory:
        asyncio.run(retained(args.n, args.memory))
    else:
        asyncio.run(measure(args.n, args.events, args.repeat + (1 if args.profile else 0), args.profile))


if __name__ == "__main__":
    main()
