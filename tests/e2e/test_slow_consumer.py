"""A client that stops reading: the production server (uvicorn, ``realtime.serve``) closes it
(1013) once its waiting frames pass PYTAKE_WS_MAX_SEND_BUFFER (``realtime.hub``), instead of
buffering without bound, and a healthy client connected at the same time receives every event.

Every wait is for a condition (a frame, the drop, the close), bounded only to fail rather than hang:
on a busy machine each step takes longer, and nothing here assumes how long."""

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
RCVBUF = 128 * 1024  # the slow client's receive buffer (Linux doubles it): 256 KB of the 15 MB sent
DROPPED = "is not reading its events; closing it (1013)"  # realtime.hub's warning
# Bounds on waits for conditions that hold within a second on an idle machine: reaching one
# fails the test instead of hanging it, they assume nothing about the machine's speed.
BOUND = 120


async def wait_for_drop(server) -> None:
    """Until the server has logged that it dropped the slow client."""
    async with asyncio.timeout(BOUND):
        while DROPPED not in server.log_path.read_text():
            await asyncio.sleep(0.1)  # the server's log is a file: nothing to wait on but it


@pytest.mark.timeout(600)
def test_a_client_that_stops_reading_is_dropped_and_others_are_served(tmp_path, settings, agent, agent2):
    # Only the size bound drops here: with the default send timeout (10 s), a healthy client that a
    # busy machine kept from reading for that long would be dropped as slow too.
    (server,) = start_servers(
        1, tmp_path, PYTAKE_WS_MAX_SEND_BUFFER=str(2 * 1024 * 1024), PYTAKE_WS_SEND_TIMEOUT_SECONDS=str(BOUND * 5)
    )
    prefix = server.env["PYTAKE_CHANNEL_PREFIX"]
    slow_token, healthy_token = access_token_for(agent), access_token_for(agent2)

    async def scenario():
        # The slow client reads nothing after the handshake, through a small receive buffer (a
        # fraction of what is sent, so the frames pile up in the server), and sends no keepalive
        # pings (their answers would wait behind the frames it does not read: it would give up on
        # the server first). Not a tiny buffer: one whose window stays under a loopback segment
        # leaves TCP to send only on zero-window probes, ever further apart, once it reads again.
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
        raw.connect(("127.0.0.1", server.port))
        slow = await websockets.connect(
            server.ws_url, sock=raw, subprotocols=["bearer", slow_token], max_queue=1, ping_interval=None
        )
        healthy = await websockets.connect(server.ws_url, subprotocols=["bearer", healthy_token], max_size=2**20)
        for ws in (slow, healthy):
            assert json.loads(await asyncio.wait_for(ws.recv(), BOUND))["type"] == "hello"
        layer = RedisPubSubChannelLayer(hosts=[settings.REDIS_URL], prefix=prefix)
        received = 0
        progress = asyncio.Event()

        async def read_all():
            nonlocal received
            while received < EVENTS:
                frame = json.loads(await asyncio.wait_for(healthy.recv(), BOUND))
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
                await asyncio.wait_for(progress.wait(), BOUND)
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
        await wait_for_drop(server)
        # The slow client's connection was cut: reading now ends in the server's close (after the
        # frames already on their way), not more data forever.
        with pytest.raises(websockets.ConnectionClosed) as closed:
            async with asyncio.timeout(BOUND):
                for _ in range(EVENTS + 10):
                    await slow.recv()
        await healthy.close()
        return received, closed.value.rcvd.code if closed.value.rcvd else None

    try:
        received, close_code = asyncio.run(scenario())
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
    assert close_code == 1013
