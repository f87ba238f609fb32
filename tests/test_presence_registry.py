"""The presence registry, in Redis (several server processes) and in memory (one process): first
and last socket of a user, the per-user cap, dead sockets, and the tenant's peak."""

import uuid

import pytest
from django.conf import settings

from realtime import presence
from realtime.presence import Connection, MemoryRegistry, RedisRegistry


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def registry(request):
    if request.param == "memory":
        return MemoryRegistry()
    return RedisRegistry(settings.REDIS_URL, f"pytake-test-presence-{uuid.uuid4().hex[:8]}")


def conn(n, user="u1", tenant=1, role="agent"):
    return Connection(channel=f"chan-{n}", user_key=user, tenant_id=tenant, role=role)


async def test_first_and_last_socket_of_a_user(registry):
    assert (await registry.add(conn(1), 5))[0] is True
    assert (await registry.add(conn(2), 5))[0] is False
    assert (await registry.add(conn(3, user="u2"), 5))[0] is True  # another user's first
    assert await registry.remove(conn(2)) is False
    assert await registry.online(["u1", "u2", "u3"]) == {"u1", "u2"}
    assert await registry.remove(conn(1)) is True
    assert await registry.online(["u1", "u2"]) == {"u2"}


async def test_past_the_cap_the_oldest_sockets_are_evicted(registry):
    for n in range(3):
        assert (await registry.add(conn(n), 3))[1] == []
    assert (await registry.add(conn(3), 3))[1] == ["chan-0"]


async def test_stats_count_live_sockets_of_the_tenant_only(registry):
    await registry.add(conn(1, role="agent"), 5)
    await registry.add(conn(2, user="u2", role="supervisor"), 5)
    await registry.add(conn(3, user="u9", tenant=2), 5)
    await registry.touch(conn(1), joined=4)
    stats = await registry.tenant_stats(1)
    assert stats["connections"] == 2
    assert stats["connections_by_role"] == {"agent": 1, "supervisor": 1}
    assert stats["users_online"] == 2
    assert stats["joined_conversations"] == 4


@pytest.mark.redis
async def test_a_crashed_process_sockets_stop_counting_when_their_marker_expires():
    registry = RedisRegistry(settings.REDIS_URL, f"pytake-test-presence-{uuid.uuid4().hex[:8]}")
    await registry.add(conn(1), 5)
    await registry.add(conn(2), 5)
    await registry.redis.delete(registry._k("alive", "chan-1"))  # what expiry does to a dead process
    assert (await registry.tenant_stats(1))["connections"] == 1
    assert await registry.remove(conn(2)) is True  # the dead one does not keep the user online


@pytest.mark.redis
async def test_the_peak_survives_disconnects(monkeypatch):
    monkeypatch.setattr(presence, "PEAK_SAMPLE_SECONDS", 0.0)
    registry = RedisRegistry(settings.REDIS_URL, f"pytake-test-presence-{uuid.uuid4().hex[:8]}")
    for n in range(4):
        await registry.add(conn(n), 10)
    for n in range(3):
        await registry.remove(conn(n))
    stats = await registry.tenant_stats(1)
    assert stats["connections"] == 1
    assert stats["peak_connections"] == 4


@pytest.mark.redis
async def test_a_connect_storm_does_not_count_the_tenant_on_every_connect(monkeypatch):
    """Counting reads every socket of the tenant: done on each of N connects, a reconnect storm
    costs N² reads. The registry counts at most once per PEAK_SAMPLE_SECONDS."""
    registry = RedisRegistry(settings.REDIS_URL, f"pytake-test-presence-{uuid.uuid4().hex[:8]}")
    counts = 0
    count_tenant = registry.tenant_stats

    async def counting(tenant_id):
        nonlocal counts
        counts += 1
        return await count_tenant(tenant_id)

    monkeypatch.setattr(registry, "tenant_stats", counting)
    monkeypatch.setattr(presence, "PEAK_SAMPLE_SECONDS", 3600.0)
    for n in range(200):
        await registry.add(conn(n, user=f"u{n}"), 5)
    assert counts == 1
    assert (await count_tenant(1))["connections"] == 200
