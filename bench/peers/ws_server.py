"""The Python ceiling: a plain `websockets` server (asyncio implementation, uvloop, no
compression) that relays every event from a Redis channel to all its sockets with
``websockets.broadcast()`` (the frame is encoded once and written to each socket)."""

from __future__ import annotations

import argparse

import redis.asyncio as redis
import uvloop
from websockets.asyncio.server import ServerConnection, broadcast, serve

CONNECTIONS: set[ServerConnection] = set()


async def handler(ws: ServerConnection) -> None:
    CONNECTIONS.add(ws)
    try:
        async for _ in ws:  # clients send nothing but keep the reader running (pings/close)
            pass
    finally:
        CONNECTIONS.discard(ws)


async def relay(url: str, channel: str) -> None:
    client = redis.Redis.from_url(url)
    pubsub = client.pubsub()
    await pubsub.subscribe(channel)
    async for message in pubsub.listen():
        if message["type"] == "message":
            broadcast(CONNECTIONS, message["data"].decode())


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis", required=True)
    parser.add_argument("--channel", required=True)
    args = parser.parse_args()
    async with serve(handler, "127.0.0.1", args.port, compression=None, max_queue=16):
        await relay(args.redis, args.channel)


if __name__ == "__main__":
    uvloop.run(main())
