"""A server under ASGI does not keep a database connection per request it served.

Every request runs its sync code in a thread of its own (asgiref's per-request
ThreadSensitiveContext); with persistent connections a burst of concurrent requests left one
connection open per request, and bursts ran PostgreSQL out of connections ("too many clients",
seen under the bench).
"""

import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from django.db import connection

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


@pytest.mark.parametrize("conn_max_age, bounded", [("", True), ("60", False)], ids=["default", "persistent"])
def test_requests_do_not_leave_a_connection_each(agent, tmp_path, conn_max_age, bounded):
    name = f"pytake-conn-test-{uuid.uuid4().hex[:8]}"  # this server's connections, and no one else's
    env = {"DATABASE_URL": f"{database_url()}?application_name={name}"}
    if conn_max_age:
        env["DATABASE_CONN_MAX_AGE"] = conn_max_age
    (server,) = start_servers(1, tmp_path, **env)
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
        left = _settled(name, lambda count: bounded and count <= 3)
        print(f"FIGURES requests={REQUESTS} connections_left={left} conn_max_age={conn_max_age or 'default'}")
        if bounded:
            assert left <= 3, f"{left} connections left open by {REQUESTS} requests"
        else:
            assert left >= REQUESTS // 2
    finally:
        server.stop()
