"""Faults against real processes: a server killed under 200 clients, Redis restarted under live
traffic. Each test prints its figures; docs/reliability.md records the last run."""

import asyncio
import shutil
import signal
import subprocess
import time
from collections import Counter

import httpx
import pytest
import redis

from conversations.models import Channel
from tests import factories
from tests.conftest import access_token_for
from tests.live import free_port, start_servers
from tests.protocol_client import ResilientClient

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def post(server, token, conversation_id, text):
    response = httpx.post(
        f"{server.url}/api/conversations/{conversation_id}/messages/",
        json={"text": text},
        headers={"Authorization": f"Bearer {token}"},
        timeout=15,
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def wait_until(predicate, timeout, what, clients=()):
    """Wait for ``predicate``; fail at once if one of ``clients`` was evicted (4009): with a cap
    above the number of clients, that is the server's registry counting sockets that are gone,
    and an evicted client stays away (as the protocol says), so the wait could only time out."""
    deadline = time.monotonic() + timeout
    while not predicate():
        evicted = any(c.endings["4009"] for c in clients)
        if evicted or time.monotonic() > deadline:
            endings = dict(sum((c.endings for c in clients), Counter()))
            problem = "clients evicted (4009)" if evicted else "timed out"
            raise AssertionError(f"{problem} while waiting for {what}; connection attempts ended: {endings}")
        await asyncio.sleep(0.05)


def report(name, **figures):
    print(f"\nFIGURES {name}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))


@pytest.mark.timeout(1800)
@pytest.mark.parametrize(
    ("n_clients", "kills", "per_phase"),
    [
        pytest.param(200, 1, 10, id="200-clients"),
        pytest.param(500, 3, 30, id="soak-500-clients-3-kills", marks=pytest.mark.slow),
    ],
)
def test_server_killed_under_clients_loses_nothing(tmp_path, tenant, supervisor, n_clients, kills, per_phase):
    """Clients on one server, writes through another. Each round: write, kill the clients' server
    (SIGKILL), write while it is down, restart it; at the end, write once more. Every client must
    end with every message exactly once."""
    # All clients are one user (the registry's worst case), with a per-user cap of exactly their
    # number: in the reconnect storm, no live socket may be evicted (4009) by the entries of the
    # killed server, nor by sockets whose clients gave up on their hello (they never count).
    writer, target = start_servers(2, tmp_path, PYTAKE_WS_MAX_PER_USER=str(n_clients))
    conversation = factories.ConversationFactory(tenant=tenant, assignee=supervisor, channel=Channel.WEBCHAT)
    token = access_token_for(supervisor)
    clients = [ResilientClient(target.ws_url, token, conversation.pk) for _ in range(n_clients)]
    servers = [writer, target]

    async def write(label):
        return [await asyncio.to_thread(post, writer, token, conversation.pk, f"{label} {i}") for i in range(per_phase)]

    async def scenario():
        started = time.monotonic()
        tasks = [asyncio.create_task(c.run()) for c in clients]
        await wait_until(
            lambda: all(c.connected.is_set() and c.seq is not None for c in clients), 600, "clients", clients
        )
        connected_in = time.monotonic() - started
        sent, recoveries = [], []
        for round_ in range(kills):
            sent += await write(f"before {round_}")
            expected = set(sent)
            await wait_until(
                lambda e=expected: all(set(c.messages) >= e for c in clients), 120, "live delivery", clients
            )
            killed_at = time.monotonic()
            restarted = await asyncio.to_thread(servers[1].restart, signal.SIGKILL)
            servers[1] = restarted
            sent += await write(f"down {round_}")
            await asyncio.to_thread(restarted.wait_ready)
            await wait_until(lambda: all(c.connected.is_set() for c in clients), 600, "reconnection", clients)
            recoveries.append(time.monotonic() - killed_at)
        sent += await write("after")
        await wait_until(lambda: all(set(c.messages) >= set(sent) for c in clients), 600, "catch-up", clients)
        for c in clients:
            c.stop()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return sent, recoveries, connected_in

    try:
        sent, recoveries, connected_in = asyncio.run(scenario())
    finally:
        for server in servers:
            server.stop(signal.SIGKILL)
    lost = sum(len(set(sent) - set(c.messages)) for c in clients)
    doubled = sum(len(c.messages) - len(set(c.messages)) for c in clients)
    report(
        "server_kill",
        clients=len(clients),
        kills=kills,
        messages_sent=len(sent),
        deliveries_expected=len(sent) * len(clients),
        deliveries=sum(len(c.messages) for c in clients),
        lost=lost,
        duplicated_after_dedupe=doubled,
        duplicate_frames_dropped=sum(c.duplicates for c in clients),
        recovery_seconds_max=round(max(recoveries), 2),
        first_connect_seconds=round(connected_in, 2),
        evicted=sum(c.endings["4009"] for c in clients),
        # Attempts that found the server down, and those that failed otherwise (handshake or hello
        # timed out: the signature of a connect storm the server does not keep up with).
        refused_attempts=sum(c.endings["ConnectionRefusedError"] for c in clients),
        failed_attempts=sum(
            n for c in clients for k, n in c.endings.items() if not k.isdigit() and k != "ConnectionRefusedError"
        ),
    )
    assert lost == 0 and doubled == 0


@pytest.fixture
def own_redis(tmp_path):
    """A Redis server of this test's own, on a free port, that the test may stop and restart."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    command = [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(tmp_path),
    ]
    state = {"proc": None}

    def start():
        state["proc"] = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop():
        proc = state["proc"]
        if proc and proc.poll() is None:
            proc.kill()
            proc.wait(10)

    start()
    yield {"url": f"redis://127.0.0.1:{port}/0", "start": start, "stop": stop}
    stop()


@pytest.mark.timeout(600)
def test_redis_restart_under_live_traffic_loses_nothing(tmp_path, tenant, supervisor, own_redis):
    writer, target = start_servers(2, tmp_path, REDIS_URL=own_redis["url"], PYTAKE_WS_MAX_PER_USER="100")
    conversation = factories.ConversationFactory(tenant=tenant, assignee=supervisor, channel=Channel.WEBCHAT)
    token = access_token_for(supervisor)
    clients = [ResilientClient(target.ws_url, token, conversation.pk) for _ in range(20)]

    async def scenario():
        tasks = [asyncio.create_task(c.run()) for c in clients]
        await wait_until(lambda: all(c.connected.is_set() and c.seq is not None for c in clients), 30, "clients")
        sent = [await asyncio.to_thread(post, writer, token, conversation.pk, f"before {i}") for i in range(10)]
        await wait_until(lambda: all(len(c.messages) >= 10 for c in clients), 30, "live delivery")
        own_redis["stop"]()
        stopped_at = time.monotonic()
        # Writes go on while Redis is away: they are committed with their events, not published.
        sent += [await asyncio.to_thread(post, writer, token, conversation.pk, f"during {i}") for i in range(5)]
        own_redis["start"]()
        sent += [await asyncio.to_thread(post, writer, token, conversation.pk, f"after {i}") for i in range(5)]
        await wait_until(lambda: all(set(c.messages) >= set(sent) for c in clients), 240, "catch-up")
        recovered = time.monotonic() - stopped_at
        for c in clients:
            c.stop()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return sent, recovered

    try:
        sent, recovered = asyncio.run(scenario())
    finally:
        writer.stop(signal.SIGKILL)
        target.stop(signal.SIGKILL)
    lost = sum(len(set(sent) - set(c.messages)) for c in clients)
    doubled = sum(len(c.messages) - len(set(c.messages)) for c in clients)
    report(
        "redis_restart",
        clients=len(clients),
        messages_sent=len(sent),
        lost=lost,
        duplicated_after_dedupe=doubled,
        reconnects=sum(c.reconnects for c in clients),
        recovery_seconds=round(recovered, 2),
    )
    assert lost == 0 and doubled == 0
