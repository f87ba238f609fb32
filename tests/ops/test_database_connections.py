"""A server under ASGI does not keep a database connection per request it served.

Every request runs its sync code in a thread of its own (asgiref's per-request
ThreadSensitiveContext); with persistent connections a burst of concurrent requests left one
connection open per request, and bursts ran PostgreSQL out of connections ("too many clients",
seen under the bench). Servers pool their connections (``DATABASE_POOL_MAX_SIZE``): a burst
borrows at most the pool's size, and every request and WebSocket gives its connection back.
"""

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import websockets
from django.db import connection

from tests import factories
from tests.conftest import access_token_for
from tests.live import database_url, start_servers

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

REQUESTS = 40


def _server_connections(application_name: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [application_name])
        return int(cursor.fetchone()[0])


def _settled(application_name: str, done: Callable[[int], bool]) -> int:
    """The server's connection count once ``done`` holds (a request's connection is closed just
    after its response is sent), or the last count after a few seconds."""
    deadline = time.monotonic() + 5
    while True:
        count = _server_connections(application_name)
        if done(count) or time.monotonic() > deadline:
            return count
        time.sleep(0.05)


@pytest.mark.parametrize(
    "env, most, least",
    [
        ({}, 20, 1),  # the servers' default
        ({"DATABASE_POOL_MAX_SIZE": "5"}, 5, 1),
        ({"DATABASE_POOL_MAX_SIZE": "0"}, 3, 0),
        ({"DATABASE_POOL_MAX_SIZE": "0", "DATABASE_CONN_MAX_AGE": "60"}, None, REQUESTS // 2),
    ],
    ids=["default", "pooled-5", "unpooled", "persistent"],
)
def test_requests_do_not_leave_a_connection_each(agent, tmp_path, env, most, least):
    name = f"pytake-conn-test-{uuid.uuid4().hex[:8]}"  # this server's connections, and no one else's
    (server,) = start_servers(1, tmp_path, DATABASE_URL=f"{database_url()}?application_name={name}", **env)
    try:
        headers = {"Authorization": f"Bearer {access_token_for(agent)}"}
        # All at once, as a webhook burst comes.
        with (
            httpx.Client(base_url=server.url, headers=headers, timeout=30) as client,
            ThreadPoolExecutor(REQUESTS) as pool,
        ):
            codes = list(pool.map(lambda _: client.get("/api/me/").status_code, range(REQUESTS)))
        assert codes == [200] * REQUESTS
        # Persistent connections (the failure this guards against) stay: wait the whole time for them.
        left = _settled(name, lambda count: most is not None and least <= count <= most)
        print(f"FIGURES requests={REQUESTS} connections_left={left} env={env}")
        assert left >= least
        if most is not None:
            assert left <= most, f"{left} connections left open by {REQUESTS} requests"
    finally:
        server.stop()


def test_a_small_pool_serves_requests_and_sockets_in_turn(agent, tmp_path):
    """A connection borrowed and not given back (a request, a WebSocket's connect or its commands)
    would leave the next borrower waiting out DATABASE_POOL_TIMEOUT and failing."""
    (server,) = start_servers(1, tmp_path, DATABASE_POOL_MAX_SIZE="2", DATABASE_POOL_TIMEOUT="3")
    token = access_token_for(agent)
    conversation = factories.ConversationFactory(tenant=agent.tenant, assignee=agent)
    try:

        async def reply(ws: websockets.ClientConnection) -> dict:
            while True:  # presence may come first
                frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if frame["type"] in {"ack", "error"}:
                    return frame

        async def sockets() -> None:
            for _ in range(10):
                async with websockets.connect(server.ws_url, subprotocols=["bearer", token]) as ws:
                    assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "hello"
                    await ws.send(json.dumps({"action": "join", "conversation_id": conversation.pk, "ref": "j"}))
                    assert (await reply(ws))["type"] == "ack"

        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
            for _ in range(3):
                assert [client.get("/api/conversations/").status_code for _ in range(10)] == [200] * 10
                asyncio.run(sockets())
    finally:
        server.stop()
