"""The python-socketio peer: python-socketio (AsyncServer, ASGI) under uvicorn, every socket in
one room, events relayed from a Redis channel with ``sio.emit(..., room=...)``. With
``BENCH_SIO_MANAGER=redis`` the server uses python-socketio's ``AsyncRedisManager`` (how it runs
on more than one process: every emit goes through Redis pub/sub and back), else the in-memory
manager. Run: uvicorn bench.peers.sio_app:app --loop uvloop --http httptools --ws websockets
--ws-per-message-deflate false."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import redis.asyncio as redis
import socketio

REDIS_URL = os.environ["BENCH_REDIS_URL"]
CHANNEL = os.environ["BENCH_CHANNEL"]
manager = (
    socketio.AsyncRedisManager(REDIS_URL, channel=f"{CHANNEL}-sio")
    if os.environ.get("BENCH_SIO_MANAGER") == "redis"
    else None
)
sio = socketio.AsyncServer(
    async_mode="asgi", client_manager=manager, cors_allowed_origins="*", logger=False, engineio_logger=False
)
_relay: asyncio.Task[None] | None = None


@sio.event
async def connect(sid: str, environ: dict[str, Any]) -> None:
    global _relay
    await sio.enter_room(sid, "tenant")
    if _relay is None:
        _relay = asyncio.create_task(relay())


async def relay() -> None:
    client = redis.Redis.from_url(REDIS_URL)
    pubsub = client.pubsub()
    await pubsub.subscribe(CHANNEL)
    async for message in pubsub.listen():
        if message["type"] == "message":
            await sio.emit("event", json.loads(message["data"]), room="tenant")


app = socketio.ASGIApp(sio)
