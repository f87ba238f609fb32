"""Health endpoints for load balancers and orchestrators.

``/healthz``: the process is up and serving HTTP (liveness; touches nothing else).
``/readyz``: this process can do its job: the database answers, Redis answers, and a message sent
on the channel layer to a fresh channel comes back. Each check reports its own status and latency;
any failure makes the answer 503 so a proxy stops routing here. A draining server (SIGTERM
received, see ``realtime.lifecycle``) is not ready either.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse

CHECK_TIMEOUT = 3.0


def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and serving HTTP. Dependencies are checked by /readyz."""
    return JsonResponse({"status": "ok"})


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        if cursor.fetchone() != (1,):
            raise RuntimeError("SELECT 1 returned something else")


async def _redis() -> str | None:
    if not settings.REDIS_URL:
        return "skipped"  # embedded mode: no Redis configured, nothing to check
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(settings.REDIS_URL, socket_timeout=CHECK_TIMEOUT)
    try:
        if not await client.ping():
            raise RuntimeError("PING was not answered")
    finally:
        await client.aclose()
    return None


async def _channel_layer() -> None:
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer configured")
    channel = await layer.new_channel(prefix="readyz.")
    probe = uuid.uuid4().hex
    await layer.send(channel, {"type": "readyz.probe", "probe": probe})
    message = await layer.receive(channel)
    if message.get("probe") != probe:
        raise RuntimeError("the channel layer returned another message")


async def _timed(check: Callable[[], Awaitable[str | None]]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        status = await asyncio.wait_for(check(), timeout=CHECK_TIMEOUT) or "ok"
        result: dict[str, Any] = {"status": status}
    except TimeoutError:
        result = {"status": "error", "error": f"no answer within {CHECK_TIMEOUT:g}s"}
    except Exception as exc:
        result = {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return result


# Whether this process is shutting down (then it answers 503 so the proxy stops sending to it):
# the real-time layer registers its server's state from ``RealtimeConfig.ready()``.
_draining_checks: list[Callable[[], bool]] = []


def register_draining_check(check: Callable[[], bool]) -> None:
    if check not in _draining_checks:
        _draining_checks.append(check)


async def _database_check() -> None:
    await sync_to_async(_database, thread_sensitive=True)()


async def readyz(request: HttpRequest) -> JsonResponse:
    from pytake.metrics import process_identifier

    checks = {
        "database": await _timed(_database_check),
        "redis": await _timed(_redis),
        "channel_layer": await _timed(_channel_layer),
    }
    ok = all(check["status"] in {"ok", "skipped"} for check in checks.values())
    # "server" tells replicas apart behind a proxy (and in the stack test).
    body: dict[str, Any] = {"status": "ok" if ok else "error", "server": process_identifier(), "checks": checks}
    if any(draining() for draining in _draining_checks):
        ok = False
        body["status"] = "draining"
    return JsonResponse(body, status=200 if ok else 503)
