"""Publishes bench events at a fixed rate, on command (JSON lines on stdin).

``--kind pytake`` goes through PyTake's production path: ``realtime.events.event_record`` in a
transaction (the event log row in PostgreSQL, then ``group_send`` on commit through the
configured channel layer), as a supervisor ``broadcast`` to every staff socket of the tenant.
``--kind pytake-layer`` sends exactly what ``event_record`` publishes on commit, straight to
the channel layer (no PostgreSQL row): the fan-out scenario uses it, because one publisher process
writing the log topped out near 35-50 events/s on this machine when that choice was made
(2026-11-22; docs/benchmarks.md, "In process", has what an event costs now).
``--kind redis`` PUBLISHes the same event JSON on a Redis channel that every peer server
subscribes to and relays with its own broadcast primitive.

Every event carries ``step``, ``i`` (a publish index that only grows) and ``t`` (publish wall
time), padded so that the frame a client receives is about ``--frame-bytes`` long.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

FROM = {"id": 1, "name": "Bench Supervisor"}
# What PyTake adds around ``data``: {"type":"broadcast","id":...,"ts":"...","data":...}
PYTAKE_ENVELOPE = len('{"type":"broadcast","id":1000000,"ts":"2026-01-01T00:00:00.000000+00:00","data":}')
PEER_ENVELOPE = len('{"type":"broadcast","data":}')


def event_data(step: int, i: int, pad: str) -> dict[str, Any]:
    return {"text": pad, "from": FROM, "t": time.time(), "step": step, "i": i}


def padding(frame_bytes: int, envelope: int) -> str:
    bare = len(json.dumps(event_data(1, 100000, ""), separators=(",", ":")))
    return "x" * max(0, frame_bytes - envelope - bare)


def pytake_sender(args: argparse.Namespace) -> tuple[Callable[[dict[str, Any]], None], int]:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pytake.settings")
    django.setup()
    from django.db import transaction

    from realtime.events import Recipients, event_record
    from realtime.models import Audience

    recipients = Recipients(Audience.STAFF)

    def send(data: dict[str, Any]) -> None:
        with transaction.atomic():
            event_record(tenant_id=args.tenant, type="broadcast", data=data, recipients=recipients)

    return send, PYTAKE_ENVELOPE


def pytake_layer_sender(args: argparse.Namespace) -> tuple[Callable[[dict[str, Any]], None], int]:
    """What ``event_record`` publishes on commit (``channel_message`` of the event, to the groups
    ``_routes`` picks), sent on one long-lived event loop, without the PostgreSQL write. The
    servers' side of the path is unchanged; this isolates fan-out from the cost of the log."""
    import asyncio
    import threading

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pytake.settings")
    django.setup()
    from channels.layers import get_channel_layer
    from django.utils import timezone

    from realtime.events import Recipients, _routes, channel_message, group_message
    from realtime.models import Audience, Event

    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    layer = get_channel_layer()
    routes = _routes("broadcast", args.tenant, None, Recipients(Audience.STAFF))
    # Ids far above the log's, growing: consumers dedupe on them, exactly as for logged events.
    seq = [10**9 + int(time.time() * 1000) % 10**8]

    async def group_send(message: dict[str, Any]) -> None:
        for group in routes:
            await layer.group_send(group, group_message(group, message))

    def send(data: dict[str, Any]) -> None:
        seq[0] += 1
        event = Event(
            tenant_id=args.tenant,
            seq=seq[0],
            type="broadcast",
            audience=Audience.STAFF,
            data=data,
            created_at=timezone.now(),
        )
        asyncio.run_coroutine_threadsafe(group_send(channel_message(event)), loop).result(timeout=30)

    return send, PYTAKE_ENVELOPE


def redis_sender(args: argparse.Namespace) -> tuple[Callable[[dict[str, Any]], None], int]:
    import redis

    client = redis.Redis.from_url(args.redis)

    def send(data: dict[str, Any]) -> None:
        client.publish(args.channel, json.dumps({"type": "broadcast", "data": data}, separators=(",", ":")))

    return send, PEER_ENVELOPE


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kind", choices=["pytake", "pytake-layer", "redis"], required=True)
    parser.add_argument("--tenant", type=int)
    parser.add_argument("--redis")
    parser.add_argument("--channel")
    parser.add_argument("--frame-bytes", type=int, default=300)
    args = parser.parse_args()
    senders = {"pytake": pytake_sender, "pytake-layer": pytake_layer_sender, "redis": redis_sender}
    send, envelope = senders[args.kind](args)
    pad = padding(args.frame_bytes, envelope)
    index = 0
    print(json.dumps({"event": "ready"}), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        if command["cmd"] == "quit":
            break
        step, rate, count = command["step"], float(command["rate"]), int(command["count"])
        interval = 1.0 / rate
        start = time.monotonic()
        late = 0.0
        for k in range(count):
            due = start + k * interval
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
            else:
                late = max(late, now - due)
            send(event_data(step, index, pad))
            index += 1
        seconds = time.monotonic() - start
        print(
            json.dumps(
                {
                    "event": "published",
                    "step": step,
                    "count": count,
                    "seconds": seconds,
                    "achieved_rate": count / seconds if seconds else 0.0,
                    "max_late_s": late,
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
