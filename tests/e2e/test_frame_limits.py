"""A frame over PYTAKE_WS_MAX_FRAME_BYTES closes the socket with 1009 (docs/realtime-protocol.md)
under both servers deploy/asgi-server can run, and the next socket is served."""

import asyncio
import json

import pytest
import websockets

from tests.conftest import access_token_for
from tests.live import start_servers

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
TIMEOUT = 10


@pytest.mark.parametrize("server_name", ["uvicorn", "daphne"])
@pytest.mark.parametrize("size", [64 * 1024 + 1, 200 * 1024])  # just over; over daphne's frame buffer too
def test_an_oversized_frame_closes_with_1009(tmp_path, agent, server_name, size):
    token = access_token_for(agent)
    (server,) = start_servers(1, tmp_path, PYTAKE_ASGI_SERVER=server_name)

    async def scenario():
        ws = await websockets.connect(server.ws_url, subprotocols=["bearer", token], open_timeout=TIMEOUT)
        assert json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))["type"] == "hello"
        frame = json.dumps({"action": "ping", "pad": ""})
        await ws.send(frame[:-2] + "x" * (size - len(frame)) + '"}')
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(ws.recv(), TIMEOUT)
        again = await websockets.connect(server.ws_url, subprotocols=["bearer", token], open_timeout=TIMEOUT)
        assert json.loads(await asyncio.wait_for(again.recv(), TIMEOUT))["type"] == "hello"
        await again.close()
        return closed.value.rcvd.code if closed.value.rcvd else None

    try:
        assert asyncio.run(scenario()) == 1009
    finally:
        server.stop()
