"""A client that stops reading: the production server (uvicorn, ``realtime.serve``) closes it
(1013) once its waiting frames pass PYTAKE_WS_MAX_SEND_BUFFER (``realtime.hub``), instead of
buffering without bound, and a healthy client connected at the same time receives every event."""

import asyncio
import json
import socket

import pytest
import websockets
from channels_redis.pubsub import RedisPubSubChannelLayer

from realtime import groups
from tests.conftest import access_token_for
from tests.e2e.test_faults import report
from tests.live import start_servers

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]
EVENTS, PAD = 1500, 10_000
WINDOW = 50  # events in flight to the healthy client: 500 KB, under the 2 MB bound
DROPPED = "is not reading its events; closing it (1013)"  # realtime.hub's warning


@pytest.mark.timeout(300)
def test_a_client_that_stops_reading_is_dropped_and_others_are_served(tmp_path, settings, agent, agent2):
    (server,) = start_servers(1, tmp_path, PYTAKE_WS_MAX_SEND_BUFFER=str(2 * 1024 * 1024))
    prefix = server.env["PYTAKE_CHANNEL_PREFIX"]
    slow_token, healthy_token = access_token_for(agent), access_token_for(agent2)

    async def scenario():
        # The slow client reads nothing after the handshake, through a tiny receive buffer.
        raw = socket.create_connection(("127.0.0.1", server.port))
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow = await websockets.connect(server.ws_url, sock=raw, subprotocols=["bearer", slow_token], max_queue=1)
        healthy = await websockets.connect(server.ws_url, subprotocols=["bearer", healthy_token], max_size=2**20)
        for ws in (slow, healthy):
            assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "hello"
        layer = RedisPubSubChannelLayer(hosts=[settings.REDIS_URL], prefix=prefix)
        received = 0
        progress = asyncio.Event()

        async def read_all():
            nonlocal received
            while received < EVENTS:
                frame = json.loads(await asyncio.wait_for(healthy.recv(), 30))
                if frame["type"] == "presence" and frame["data"].get("pad"):
                    received += 1
                    progress.set()

        reader = asyncio.create_task(read_all())
        padding = "x" * PAD
        for i in range(EVENTS):
            # A healthy client keeps up: publish at its pace (at most WINDOW events ahead, well
            # under the bound), so that only the client that stopped reading falls behind.
            while i - received > WINDOW:
                progress.clear()
                await asyncio.wait_for(progress.wait(), 30)
            text = json.dumps({"type": "presence", "data": {"user_id": 0, "status": "online", "n": i, "pad": padding}})
            await layer.group_send(
                groups.tenant(agent.tenant_id),
                {
                    "type": "realtime.event",
                    "group": groups.tenant(agent.tenant_id),
                    "id": None,
                    "conversation_id": None,
                    "event_type": "presence",
                    "recipients": None,
                    "text": text,
                },
            )
        await reader
        await layer.flush()
        # The slow client's connection was cut: reading now ends in a close, not more data forever.
        with pytest.raises(websockets.ConnectionClosed):
            for _ in range(EVENTS + 10):
                await asyncio.wait_for(slow.recv(), 10)
        await healthy.close()
        return received

    try:
        received = asyncio.run(scenario())
    finally:
        server.stop()
    log = server.log_path.read_text()
    report(
        "slow_consumer",
        events=EVENTS,
        bytes_each=PAD,
        healthy_received=received,
        slow_client_dropped=DROPPED in log,
    )
    assert received == EVENTS
    assert DROPPED in log
