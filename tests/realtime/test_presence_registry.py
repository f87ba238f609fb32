"""The presence registry, in Redis (several server processes) and in memory (one process): first
and last socket of a user, the per-user cap, dead sockets, and the tenant's peak."""

import asyncio
import time
import uuid
from types import SimpleNamespace

import pytest
from django.conf import settings
from redis.asyncio import client as aioredis_client

from realtime import presence
from realtime.presence import Connection, MemoryRegistry, RedisRegistry


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def registry(request):
    if request.param == "memory":
        return MemoryRegistry()
    return RedisRegistry(settings.REDIS_URL, f"pytake-test-presence-{uuid.uuid4().hex[:8]}")


def conn(n, user="u1", tenant=1, role="agent"):
    return Connection(channel=f"chan-{n}", user_key=user, tenant_id=tenant, role=role)


async def connect(registry, c, cap):
    """What a socket does: registered on connect, admitted (counted against the cap) once its
    hello is out. Returns the channels to evict."""
    await registry.add(c)
    return await registry.admit(c, cap)


async def test_first_and_last_socket_of_a_user(registry):
    assert await registry.add(conn(1)) is True
    assert await registry.add(conn(2)) is False
    assert await registry.add(conn(3, user="u2")) is True  # another user's first
    assert await registry.remove(conn(2)) is False
    assert await registry.online(["u1", "u2", "u3"]) == {"u1", "u2"}
    assert await registry.remove(conn(1)) is True
    assert await registry.online(["u1", "u2"]) == {"u2"}


async def test_past_the_cap_the_oldest_sockets_are_evicted(registry):
    for n in range(3):
        assert await connect(registry, conn(n), 3) == []
    assert await connect(registry, conn(3), 3) == ["chan-0"]


async def test_only_admitted_sockets_count_against_the_cap(registry):
    """A socket counts against its user's cap from its hello on (``admit``), not from its connect:
    a client that gave up before its hello is registered until the server undoes it, and must not
    push a live socket of the same user out meanwhile."""
    for n in range(2):
        assert await connect(registry, conn(n), 2) == []
    await registry.add(conn("gave-up"))  # registered, never admitted
    assert await connect(registry, conn(2), 3) == []
    assert await registry.online(["u1"]) == {"u1"}
    assert await registry.remove(conn("gave-up")) is False
    assert await registry.admit(conn("gave-up"), 1) == []  # undone first: admitting it does nothing
    assert await connect(registry, conn(3), 3) == ["chan-0"]  # three admitted, one more: the oldest goes
    assert await registry.remove(conn(0)) is False  # already left the registry


async def test_stats_count_live_sockets_of_the_tenant_only(registry):
    await registry.add(conn(1, role="agent"))
    await registry.add(conn(2, user="u2", role="supervisor"))
    await registry.add(conn(3, user="u9", tenant=2))
    await registry.touch([(conn(1), 4)])
    stats = await registry.tenant_stats(1)
    assert stats["connections"] == 2
    assert stats["connections_by_role"] == {"agent": 1, "supervisor": 1}
    assert stats["users_online"] == 2
    assert stats["joined_conversations"] == 4


@pytest.mark.redis
async def test_a_crashed_process_sockets_stop_counting_when_their_marker_expires():
    registry = RedisRegistry(settings.REDIS_URL, f"pytake-test-presence-{uuid.uuid4().hex[:8]}")
    await registry.add(conn(1))
    await registry.add(conn(2))
    await registry.redis.delete(registry._k("alive", "chan-1"))  # what expiry does to a dead process
    assert (await registry.tenant_stats(1))["connections"] == 1
    assert await registry.remove(conn(2)) is True  # the dead one does not keep the user online


@pytest.mark.redis
async def test_the_peak_survives_disconnects(monkeypatch):
    monkeypatch.setattr(presence, "PEAK_SAMPLE_SECONDS", 0.0)
    monkeypatch.setattr(presence, "PEAK_SAMPLE_SOCKETS_PER_SECOND", float("inf"))
    registry = RedisRegistry(settings.REDIS_URL, f"pytake-test-presence-{uuid.uuid4().hex[:8]}")
    for n in range(4):
        await registry.add(conn(n))
    for n in range(3):
        await registry.remove(conn(n))
    stats = await registry.tenant_stats(1)
    assert stats["connections"] == 1
    assert stats["peak_connections"] == 4


def counted_registry(monkeypatch) -> tuple[RedisRegistry, list[int]]:
    """A Redis registry that notes each count of a tenant (each reads every socket of it) in the
    list returned with it."""
    registry = RedisRegistry(settings.REDIS_URL, f"pytake-test-presence-{uuid.uuid4().hex[:8]}")
    counts: list[int] = []
    count_tenant = registry.tenant_stats

    async def counting(tenant_id):
        counts.append(tenant_id)
        return await count_tenant(tenant_id)

    monkeypatch.setattr(registry, "tenant_stats", counting)
    return registry, counts


@pytest.mark.redis
async def test_a_connect_storm_does_not_count_the_tenant_on_every_connect(monkeypatch):
    """Counting reads every socket of the tenant: done on each of N connects, a reconnect storm
    costs N² reads. The registry counts at most once per PEAK_SAMPLE_SECONDS."""
    registry, counts = counted_registry(monkeypatch)
    monkeypatch.setattr(presence, "PEAK_SAMPLE_SECONDS", 3600.0)
    for n in range(200):
        await registry.add(conn(n, user=f"u{n}"))
    assert counts == [1]
    assert (await registry.tenant_stats(1))["connections"] == 200


@pytest.mark.redis
async def test_a_big_tenant_is_counted_less_often(monkeypatch):
    """Counting reads every socket of the tenant: the bigger it is, the rarer the count (here one
    socket per 1,000 s: after the first count, none in this test)."""
    registry, counts = counted_registry(monkeypatch)
    monkeypatch.setattr(presence, "PEAK_SAMPLE_SECONDS", 0.0)
    monkeypatch.setattr(presence, "PEAK_SAMPLE_SOCKETS_PER_SECOND", 0.001)
    for n in range(50):
        await registry.add(conn(n, user=f"u{n}"))
    assert counts == [1]


@pytest.mark.redis
async def test_the_registry_uses_a_bounded_number_of_redis_connections():
    """Every socket refreshes its entry; with redis-py's default pool each command in flight
    opened one more connection (3,700 of them for 9,000 sockets). The registry's pool is bounded:
    300 concurrent connects, at most 4 connections (counted by Redis itself)."""
    import redis.asyncio as aioredis

    prefix = f"pytake-test-presence-{uuid.uuid4().hex[:8]}"
    registry = RedisRegistry(settings.REDIS_URL, prefix, max_connections=4)
    results = await asyncio.gather(*(registry.add(conn(n, user=f"u{n}")) for n in range(300)))
    assert all(results)  # each the first socket of its user
    assert (await registry.tenant_stats(1))["connections"] == 300
    admin = aioredis.Redis.from_url(settings.REDIS_URL)
    try:
        clients = await admin.client_list()
    finally:
        await admin.aclose()
    mine = [c for c in clients if c.get("name") == f"{prefix}:registry"]
    assert 1 <= len(mine) <= 4


@pytest.mark.redis
async def test_refreshes_are_written_in_pipelines_of_many_sockets(monkeypatch):
    """A process's heartbeat sweep refreshes all its sockets at once: one pipeline (not a
    transaction) per TOUCH_PIPELINE_SOCKETS sockets, each entry written with its marker's TTL."""
    registry = RedisRegistry(settings.REDIS_URL, f"pytake-test-presence-{uuid.uuid4().hex[:8]}")
    for n in range(50):
        await registry.add(conn(n, user=f"u{n}"))
    client = registry.redis
    pipelines = []
    make_pipeline = client.pipeline

    def counting(*args, **kwargs):
        pipelines.append(kwargs.get("transaction", True))
        return make_pipeline(*args, **kwargs)

    monkeypatch.setattr(client, "pipeline", counting)
    monkeypatch.setattr(presence, "TOUCH_PIPELINE_SOCKETS", 20)
    await registry.touch([(conn(n, user=f"u{n}"), n % 3) for n in range(50)])
    assert pipelines == [False, False, False]  # 20 + 20 + 10 sockets, not a transaction per socket
    assert (await registry.tenant_stats(1))["joined_conversations"] == sum(n % 3 for n in range(50))
    ttl = await client.ttl(registry._k("alive", "chan-7"))
    assert 0 < ttl <= int(presence._ttl()) + 1


# Regression tests of the Redis registry's connect path: a connect reads one short batch of the
# user's entries, only past the cap does one script read them all (in Redis), and entries of a
# crashed process count for nothing.


@pytest.fixture
async def redis_registry():
    """A Redis registry under a prefix of its own, whose keys are deleted afterwards."""
    registry = RedisRegistry(settings.REDIS_URL, f"pytake-test-presence-{uuid.uuid4().hex[:8]}")
    yield registry
    keys = [k async for k in registry.redis.scan_iter(match=f"{registry.prefix}:*", count=1000)]
    if keys:
        await registry.redis.delete(*keys)
    await registry.redis.aclose()


async def crash(registry, *names):
    """What a dead process leaves behind: the entries of these ``conn(name)`` sockets, without
    their markers (expired)."""
    await registry.redis.delete(*[registry._k("alive", conn(name).channel) for name in names])


async def user_entries(registry, user="u1"):
    return set(await registry.redis.zrange(registry._k("user", user), 0, -1))


async def tenant_entries(registry, tenant=1):
    return set(await registry.redis.hkeys(registry._k("tenant", tenant)))


# (cap, the crashed process's sockets, live sockets connected after them but before the crash):
# together at the cap. With no live ones, the dead entries are the newest and the connect prunes
# them while looking for a live socket; behind a batch of live ones, only the eviction script
# (the connect takes the user past the cap) reaches them.
CRASH_CASES = [
    pytest.param(3, 3, 0, id="dead-newest"),
    pytest.param(2 * presence.SCAN_BATCH, presence.SCAN_BATCH, presence.SCAN_BATCH, id="dead-behind-live"),
]


async def connect_after_a_crash(registry, cap, dead, live):
    """The user's first ``dead`` sockets were on a process that died (markers expired), the next
    ``live`` ones are on a healthy one; then one more socket connects. Returns add()'s answer and
    the channels that should be left."""
    crashed = [f"dead-{n}" for n in range(dead)]
    healthy = [f"live-{n}" for n in range(live)]
    for name in [*crashed, *healthy]:
        assert await connect(registry, conn(name), cap) == []
    await crash(registry, *crashed)
    first = await registry.add(conn("new"))
    return (first, await registry.admit(conn("new"), cap)), {conn(name).channel for name in [*healthy, "new"]}


@pytest.mark.redis
@pytest.mark.parametrize(("cap", "dead", "live"), CRASH_CASES)
async def test_a_crashed_process_entries_do_not_count_against_the_cap(redis_registry, monkeypatch, cap, dead, live):
    """A user whose previous server died holds dead entries (markers expired, entries not
    removed) up to the cap: connecting one more socket evicts none of their live sockets, and the
    dead entries leave the user's set."""
    monkeypatch.setattr(presence, "PEAK_SAMPLE_SECONDS", 3600.0)  # no tenant count prunes for it
    registry = redis_registry

    (first, evict), left = await connect_after_a_crash(registry, cap, dead, live)

    assert evict == []
    assert first is (live == 0)  # the dead entries do not make it a second socket
    assert await user_entries(registry) == left
    assert None not in await registry.redis.mget([registry._k("alive", c) for c in left])
    assert (await registry.tenant_stats(1))["connections"] == len(left)


@pytest.mark.redis
@pytest.mark.parametrize(
    ("cap", "dead", "live"),
    CRASH_CASES,
)
async def test_a_crashed_process_entries_leave_the_tenant_hash_on_connect(redis_registry, monkeypatch, cap, dead, live):
    """The tenant hash, too, loses the dead entries the connect passes over (not only later,
    whenever a tenant count happens to run)."""
    monkeypatch.setattr(presence, "PEAK_SAMPLE_SECONDS", 3600.0)  # no tenant count prunes for it
    registry = redis_registry

    _answer, left = await connect_after_a_crash(registry, cap, dead, live)

    assert await tenant_entries(registry) == left


@pytest.mark.redis
async def test_past_the_cap_exactly_the_excess_is_evicted_oldest_first(redis_registry):
    registry = redis_registry
    for n in range(6):
        assert await connect(registry, conn(n), 100) == []

    assert await connect(registry, conn(6), 3) == ["chan-0", "chan-1", "chan-2", "chan-3"]

    kept = {"chan-4", "chan-5", "chan-6"}
    assert await user_entries(registry) == kept
    assert await tenant_entries(registry) == kept  # evicted ones leave the registry at once
    assert await registry.redis.exists(*[registry._k("alive", f"chan-{n}") for n in range(4)]) == 0
    assert await registry.remove(conn(0)) is False  # the evicted socket's own close finds nothing
    assert await registry.online(["u1"]) == {"u1"}


@pytest.mark.redis
async def test_the_connecting_socket_is_never_evicted_even_when_it_is_the_oldest(redis_registry, monkeypatch):
    """Scores are connect times from each server's clock: one running behind gives the connecting
    socket the oldest score. It is the one being accepted; the oldest other socket goes."""
    registry = redis_registry
    for n in range(3):
        assert await connect(registry, conn(n), 3) == []
    monkeypatch.setattr(presence, "time", SimpleNamespace(time=lambda: 1.0, monotonic=time.monotonic))

    assert await connect(registry, conn("late-clock"), 3) == ["chan-0"]

    assert await user_entries(registry) == {"chan-1", "chan-2", "chan-late-clock"}


@pytest.mark.redis
async def test_concurrent_connects_past_the_cap_evict_each_excess_socket_once(redis_registry):
    """Several connects of one user at once, on two server processes: together they evict exactly
    the excess, each socket at most once, and none evicts the socket it is connecting."""
    one = redis_registry
    other = RedisRegistry(settings.REDIS_URL, one.prefix)  # a second process on the same Redis
    cap = 3
    try:
        for n in range(cap):
            assert await connect(one, conn(n), cap) == []
        connecting = list(range(cap, cap + 8))
        results = await asyncio.gather(
            *[connect(one if i % 2 else other, conn(n), cap) for i, n in enumerate(connecting)]
        )
    finally:
        await other.redis.aclose()

    evicted = [channel for evict in results for channel in evict]
    assert len(evicted) == len(set(evicted)), f"evicted twice: {evicted}"
    assert len(evicted) == len(connecting)  # the excess: cap + 8 sockets, down to cap
    for n, evict in zip(connecting, results, strict=True):
        assert f"chan-{n}" not in evict
    remaining = await user_entries(one)
    assert len(remaining) == cap
    assert remaining | set(evicted) == {f"chan-{n}" for n in range(cap + 8)}
    assert await tenant_entries(one) == remaining


class ReplyCounter:
    """Counts what Redis sends back to the registry: replies, and the entries in array replies
    (members of a ZRANGE, values of an MGET, results of a pipeline's EXEC, nested ones too)."""

    def __init__(self, monkeypatch):
        self.replies = 0
        self.entries = 0
        parse = aioredis_client.Redis.parse_response  # pipelines go through it as well

        async def counting(client, connection, command_name, **options):
            response = await parse(client, connection, command_name, **options)
            self.replies += 1
            self.entries += self._entries(response)
            return response

        monkeypatch.setattr(aioredis_client.Redis, "parse_response", counting)

    def _entries(self, response):
        if isinstance(response, list | tuple | set):
            return sum(max(1, self._entries(item)) for item in response)
        if isinstance(response, dict):
            return len(response)
        return 0

    def reset(self):
        self.replies = self.entries = 0


@pytest.mark.redis
async def test_connecting_reads_a_bounded_number_of_entries_however_many_sockets_the_user_has(
    redis_registry, monkeypatch
):
    """A user with 500 live sockets connects one more (under the cap). Reading the user's whole
    set and every socket's marker on each connect (ZRANGE 0 -1, then MGET of all the markers)
    costs a read of N entries per connect, N² for N sockets connecting, and so did disconnects.
    The connect only needs to know whether another live socket exists: it reads the newest
    SCAN_BATCH entries and their markers, then stops at the first live one. So the entries Redis
    sends back are bounded by one batch of channels and one of markers (plus the connect's own
    pipeline), whatever N is; the old way read 2 × 501. Counted on the client, at the replies:
    Redis's own INFO commandstats count calls, not their sizes, and are shared with whoever else
    uses the server."""
    monkeypatch.setattr(presence, "PEAK_SAMPLE_SECONDS", 3600.0)  # the tenant count reads all
    registry = redis_registry
    sockets = 500
    for n in range(sockets):
        await registry.add(conn(n))
    counter = ReplyCounter(monkeypatch)
    bound = 2 * presence.SCAN_BATCH + 10

    first = await registry.add(conn(sockets))
    evict = await registry.admit(conn(sockets), 1000)

    assert (first, evict) == (False, [])
    assert counter.entries <= bound, f"a connect read {counter.entries} entries for {sockets} sockets"
    assert counter.replies <= 13, f"a connect took {counter.replies} replies"

    counter.reset()
    assert await registry.remove(conn(0)) is False
    assert counter.entries <= bound, f"a disconnect read {counter.entries} entries for {sockets} sockets"
    assert await registry.online(["u1"]) == {"u1"}
    assert len(await user_entries(registry)) == sockets


@pytest.mark.redis
@pytest.mark.parametrize("dead", [2, 2 * presence.SCAN_BATCH + 5])
async def test_removing_the_last_live_socket_reports_offline_despite_dead_entries(redis_registry, dead):
    """Dead entries (a crashed process's, more than a batch of them in the second case) newer
    than the user's live sockets do not keep the user online, nor hide an older live socket."""
    registry = redis_registry
    await registry.add(conn("old"))
    crashed = [f"dead-{n}" for n in range(dead)]
    for channel in crashed:
        await registry.add(conn(channel))
    await crash(registry, *crashed)
    await registry.add(conn("new"))
    assert len(await user_entries(registry)) >= 2  # the dead entries are still listed...

    assert await registry.remove(conn("new")) is False  # ...behind them, "old" is still live
    assert await registry.online(["u1"]) == {"u1"}
    assert await registry.remove(conn("old")) is True
    assert await registry.online(["u1"]) == set()
    assert await user_entries(registry) == set()


@pytest.mark.redis
async def test_removing_a_socket_reports_offline_only_when_no_live_one_is_left(redis_registry):
    registry = redis_registry
    for n in range(3):
        await registry.add(conn(n))
    await crash(registry, 0)  # a dead entry, older than both live ones

    assert await registry.remove(conn(2)) is False  # chan-1 is live
    assert await registry.remove(conn(1)) is True  # only the dead chan-0 remains
    assert await registry.remove(conn(1)) is False  # a second remove finds nothing
