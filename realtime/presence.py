"""Who is connected, across every server process: presence, the per-user socket cap, and stats.

With ``REDIS_URL`` the registry lives in Redis so that several ASGI processes share it; without,
it lives in this process (the embedded default runs one process). A socket's entry stays live
while the socket refreshes it (on every heartbeat); entries of a crashed process expire on their
own after ``3 × heartbeat``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.conf import settings
from django.dispatch import Signal

from conversations.access import Audience, Recipients
from conversations.models import Availability, User
from realtime import groups
from realtime.events import apublish_ephemeral, publish_ephemeral
from realtime.hub import hub

log = logging.getLogger(__name__)

# A presence window closed: ``tenant_id``, the user ids now ``online`` and ``offline``. The
# service flow (``flow.agents``) records absences and gives those back work.
presence_changed = Signal()


@dataclass(frozen=True)
class Connection:
    channel: str
    user_key: str  # "u<user id>" for staff, "c<conversation id>" for web-chat customers
    tenant_id: int
    role: str


class Registry(Protocol):
    async def add(self, conn: Connection) -> bool:
        """Register a socket (presence). Returns whether it is the user's first live one."""

    async def admit(self, conn: Connection, max_per_user: int) -> list[str]:
        """Count a registered socket against its user's cap (once its hello is out). Returns
        the channels to evict: the user's oldest admitted sockets past the cap, never this one."""

    async def remove(self, conn: Connection) -> bool:
        """Unregister a socket. Returns True when it was the user's last live one."""

    async def touch(self, sockets: list[tuple[Connection, int]]) -> None:
        """Refresh the entries of these sockets (each with its joined-conversation count)."""

    async def online(self, user_keys: list[str]) -> set[str]: ...

    async def tenant_stats(self, tenant_id: int) -> dict[str, object]: ...


# A new tenant peak is looked for at most this often per process: counting the live sockets of a
# tenant reads all of them, which on every connect made a reconnect storm quadratic...
PEAK_SAMPLE_SECONDS = 1.0
# ...and, for a big tenant, at most once per (its sockets / this) seconds: counting 9,000 sockets
# every second was a tenth of a server's CPU while they connected.
PEAK_SAMPLE_SOCKETS_PER_SECOND = 1000.0
# A registry command waits this long at most for a connection of its (bounded) pool.
POOL_WAIT_SECONDS = 30.0
# Heartbeat refreshes go to Redis in pipelines of this many sockets.
TOUCH_PIPELINE_SOCKETS = 1000
# Entries of one user read per Redis round trip when looking for a live one.
SCAN_BATCH = 64


# KEYS: the user's zset, the tenant's hash; ARGV: the prefix of the alive markers, the cap, the
# connecting channel (never evicted). Only admitted entries (score > 0) count. Returns the evicted
# channels, oldest first.
_EVICT_SCRIPT = """
local members = redis.call('ZRANGEBYSCORE', KEYS[1], '(0', '+inf')
local live = {}
for _, m in ipairs(members) do
    if redis.call('EXISTS', ARGV[1] .. m) == 1 then
        live[#live + 1] = m
    else
        redis.call('ZREM', KEYS[1], m)
        redis.call('HDEL', KEYS[2], m)
    end
end
local evicted = {}
local excess = #live - tonumber(ARGV[2])
for i = 1, #live do
    if #evicted >= excess then break end
    local m = live[i]
    if m ~= ARGV[3] then
        redis.call('ZREM', KEYS[1], m)
        redis.call('HDEL', KEYS[2], m)
        redis.call('DEL', ARGV[1] .. m)
        evicted[#evicted + 1] = m
    end
end
return evicted
"""


def _ttl() -> float:
    return float(settings.PYTAKE_WS_HEARTBEAT_SECONDS) * 3


@dataclass
class _Entry:
    conn: Connection
    connected_at: float
    seen_at: float
    joined: int = 0
    admitted: bool = False  # counts against the user's cap


@dataclass
class MemoryRegistry:
    entries: dict[str, _Entry] = field(default_factory=dict)
    peaks: dict[int, int] = field(default_factory=dict)

    def _live(self, predicate: object = None) -> list[_Entry]:
        cutoff = time.time() - _ttl()
        for channel in [c for c, e in self.entries.items() if e.seen_at < cutoff]:
            del self.entries[channel]
        return list(self.entries.values())

    def _of_user(self, user_key: str) -> list[_Entry]:
        return sorted((e for e in self._live() if e.conn.user_key == user_key), key=lambda e: e.connected_at)

    async def add(self, conn: Connection) -> bool:
        now = time.time()
        self.entries[conn.channel] = _Entry(conn, now, now)
        tenant_count = sum(1 for e in self._live() if e.conn.tenant_id == conn.tenant_id)
        self.peaks[conn.tenant_id] = max(self.peaks.get(conn.tenant_id, 0), tenant_count)
        return len(self._of_user(conn.user_key)) == 1

    async def admit(self, conn: Connection, max_per_user: int) -> list[str]:
        entry = self.entries.get(conn.channel)
        if entry is None:  # undone meanwhile
            return []
        entry.admitted = True
        others = [e for e in self._of_user(conn.user_key) if e.admitted and e is not entry]
        evict = [e.conn.channel for e in others[: max(0, len(others) + 1 - max_per_user)]]
        for channel in evict:  # they leave the registry now, as in Redis
            del self.entries[channel]
        return evict

    async def remove(self, conn: Connection) -> bool:
        existed = self.entries.pop(conn.channel, None) is not None
        return existed and not self._of_user(conn.user_key)

    async def touch(self, sockets: list[tuple[Connection, int]]) -> None:
        now = time.time()
        for conn, joined in sockets:
            entry = self.entries.get(conn.channel)
            if entry is not None:
                entry.seen_at = now
                entry.joined = joined

    async def online(self, user_keys: list[str]) -> set[str]:
        live = {e.conn.user_key for e in self._live()}
        return {k for k in user_keys if k in live}

    async def tenant_stats(self, tenant_id: int) -> dict[str, object]:
        mine = [e for e in self._live() if e.conn.tenant_id == tenant_id]
        return _stats(
            [(e.conn.role, e.joined) for e in mine], {e.conn.user_key for e in mine}, self.peaks.get(tenant_id, 0)
        )


def _stats(rows: list[tuple[str, int]], users: set[str], peak: int) -> dict[str, object]:
    by_role: dict[str, int] = {}
    for role, _joined in rows:
        by_role[role] = by_role.get(role, 0) + 1
    return {
        "connections": len(rows),
        "connections_by_role": by_role,
        "users_online": len(users),
        "joined_conversations": sum(joined for _role, joined in rows),
        "peak_connections": max(peak, len(rows)),
    }


class RedisRegistry:
    """Keys: ``<p>:user:<key>`` zset channel→admission time (minus the connect time until the
    socket is admitted to the cap); ``<p>:tenant:<id>`` hash
    channel→"role|user_key|joined"; ``<p>:alive:<channel>`` expiring marker; ``<p>:peak:<id>``."""

    def __init__(self, url: str, prefix: str, max_connections: int | None = None) -> None:
        import redis.asyncio as aioredis

        self.url = url
        self.prefix = prefix
        self.max_connections = max_connections or int(settings.PYTAKE_REGISTRY_REDIS_CONNECTIONS)
        self._clients: dict[int, aioredis.Redis] = {}
        self._peak_due: dict[int, float] = {}  # tenant id -> monotonic time of the next count

    @property
    def redis(self):  # type: ignore[no-untyped-def]
        # One client per event loop: a redis.asyncio client must not cross loops (tests run many).
        import asyncio

        import redis.asyncio as aioredis

        loop_id = id(asyncio.get_running_loop())
        client = self._clients.get(loop_id)
        if client is None:
            # A bounded pool: commands wait for one of its connections. redis-py's default pool
            # opens one more connection for every command in flight, and each socket of the
            # server refreshes its entry: 9,000 sockets held 3,700 Redis connections (and as
            # many file descriptors) in the idle ramp, on the way to Redis' maxclients.
            pool = aioredis.BlockingConnectionPool.from_url(
                self.url,
                max_connections=self.max_connections,
                timeout=POOL_WAIT_SECONDS,
                decode_responses=True,
                client_name=f"{self.prefix}:registry",
            )
            client = self._clients[loop_id] = aioredis.Redis(connection_pool=pool)
        return client

    def _k(self, *parts: object) -> str:
        return ":".join([self.prefix, *map(str, parts)])

    async def _any_live(self, user_key: str, exclude: str | None = None, tenant_id: int | None = None) -> bool:
        """Whether the user has a live socket (other than ``exclude``). Reads from the newest
        entry down and stops at the first live one, pruning dead entries it passes (from the
        tenant's hash too, given ``tenant_id``): one short read while the user is connected,
        however many sockets they have. (Reading all of them on every connect and disconnect
        made N sockets of one user cost N² reads.)"""
        r = self.redis
        key = self._k("user", user_key)
        start = 0
        while True:
            members: list[str] = await r.zrevrange(key, start, start + SCAN_BATCH - 1)
            if not members:
                return False
            others = [m for m in members if m != exclude]
            alive = await r.mget([self._k("alive", m) for m in others]) if others else []
            dead = [m for m, a in zip(others, alive, strict=True) if a is None]
            if dead:
                pipe = r.pipeline()
                pipe.zrem(key, *dead)
                if tenant_id is not None:
                    pipe.hdel(self._k("tenant", tenant_id), *dead)
                await pipe.execute()
            if len(dead) < len(others):
                return True
            start += len(members) - len(dead)

    async def _evict_oldest(self, conn: Connection, max_per_user: int) -> list[str]:
        """Bring the user's live sockets down to ``max_per_user``, oldest first; evicted ones
        leave the registry now (their sockets are being closed; their own ``remove`` finds
        nothing), dead entries are pruned. One script, so that concurrent connects neither
        evict the same socket twice nor more than the excess; the entries are read in Redis,
        not sent here (only those evicted are)."""
        evicted = await self.redis.eval(
            _EVICT_SCRIPT,
            2,
            self._k("user", conn.user_key),
            self._k("tenant", conn.tenant_id),
            self._k("alive", ""),
            max_per_user,
            conn.channel,
        )
        return list(evicted)

    def _put_entry(self, pipe: Any, conn: Connection, joined: int) -> None:
        """Queue on ``pipe`` what keeps a socket live: its expiring marker, and its entry in the
        tenant's hash (``role|user_key|joined``, as ``tenant_stats`` reads it)."""
        pipe.set(self._k("alive", conn.channel), "1", ex=int(_ttl()) + 1)
        pipe.hset(self._k("tenant", conn.tenant_id), conn.channel, f"{conn.role}|{conn.user_key}|{joined}")

    async def add(self, conn: Connection) -> bool:
        r = self.redis
        pipe = r.pipeline()
        # A negative score until admitted: only positive ones count against the cap.
        pipe.zadd(self._k("user", conn.user_key), {conn.channel: -time.time()})
        self._put_entry(pipe, conn, joined=0)
        pipe.zcard(self._k("user", conn.user_key))
        count = int((await pipe.execute())[-1])
        first = count == 1 or not await self._any_live(conn.user_key, exclude=conn.channel, tenant_id=conn.tenant_id)
        await self._sample_peak(conn.tenant_id)
        return first

    async def admit(self, conn: Connection, max_per_user: int) -> list[str]:
        key = self._k("user", conn.user_key)
        pipe = self.redis.pipeline()
        pipe.zadd(key, {conn.channel: time.time()}, xx=True, ch=True)  # not if undone meanwhile
        pipe.zcount(key, "(0", "+inf")
        admitted, count = await pipe.execute()
        # Score = admission time: the oldest are evicted. Only past the cap is the whole set read.
        return await self._evict_oldest(conn, max_per_user) if admitted and count > max_per_user else []

    async def _sample_peak(self, tenant_id: int) -> None:
        """Record a new peak of live sockets, counting at most once per ``PEAK_SAMPLE_SECONDS``
        or per sockets / ``PEAK_SAMPLE_SOCKETS_PER_SECOND`` (a peak shorter than that may go
        unrecorded; the current count is always exact)."""
        now = time.monotonic()
        if now < self._peak_due.get(tenant_id, float("-inf")):
            return
        self._peak_due[tenant_id] = now + PEAK_SAMPLE_SECONDS  # while this count runs
        stats = await self.tenant_stats(tenant_id)
        count = int(str(stats["connections"]))
        self._peak_due[tenant_id] = now + max(PEAK_SAMPLE_SECONDS, count / PEAK_SAMPLE_SOCKETS_PER_SECOND)
        peak_key = self._k("peak", tenant_id)
        if count > int(await self.redis.get(peak_key) or 0):
            await self.redis.set(peak_key, count)

    async def remove(self, conn: Connection) -> bool:
        r = self.redis
        pipe = r.pipeline()
        pipe.zrem(self._k("user", conn.user_key), conn.channel)
        pipe.delete(self._k("alive", conn.channel))
        pipe.hdel(self._k("tenant", conn.tenant_id), conn.channel)
        removed = (await pipe.execute())[0]
        return bool(removed) and not await self._any_live(conn.user_key, tenant_id=conn.tenant_id)

    async def touch(self, sockets: list[tuple[Connection, int]]) -> None:
        """One pipeline per ``TOUCH_PIPELINE_SOCKETS`` sockets: the consumers' heartbeat sweep
        refreshes every socket of its process at once (a transaction per socket per heartbeat
        was a Redis round trip each, 1,600 a second at 20,000 sockets)."""
        for start in range(0, len(sockets), TOUCH_PIPELINE_SOCKETS):
            pipe = self.redis.pipeline(transaction=False)
            for conn, joined in sockets[start : start + TOUCH_PIPELINE_SOCKETS]:
                self._put_entry(pipe, conn, joined)
            await pipe.execute()

    async def online(self, user_keys: list[str]) -> set[str]:
        return {k for k in user_keys if await self._any_live(k)}

    async def tenant_stats(self, tenant_id: int) -> dict[str, object]:
        r = self.redis
        entries: dict[str, str] = await r.hgetall(self._k("tenant", tenant_id))
        channels = list(entries)
        alive = await r.mget([self._k("alive", c) for c in channels]) if channels else []
        dead = [c for c, a in zip(channels, alive, strict=True) if a is None]
        if dead:
            await r.hdel(self._k("tenant", tenant_id), *dead)
        rows, users = [], set()
        for channel, a in zip(channels, alive, strict=True):
            if a is None:
                continue
            role, user_key, joined = entries[channel].split("|")
            rows.append((role, int(joined)))
            users.add(user_key)
        return _stats(rows, users, int(await r.get(self._k("peak", tenant_id)) or 0))


_registry: Registry | None = None


def registry() -> Registry:
    global _registry
    if _registry is None:
        if settings.REDIS_URL:
            _registry = RedisRegistry(settings.REDIS_URL, settings.PYTAKE_PRESENCE_PREFIX)
        else:
            _registry = MemoryRegistry()
    return _registry


def reset_registry() -> None:
    """Forget the registry (tests switch settings)."""
    global _registry
    _registry = None


def user_key(user_id: int) -> str:
    return f"u{user_id}"


def online_user_ids(user_ids: list[int]) -> set[int]:
    """Which of these staff users have a live socket (from sync code)."""
    keys = {user_key(pk): pk for pk in user_ids}
    return {keys[k] for k in async_to_sync(registry().online)(list(keys))}


def presence_status(*, user: Any, online: bool) -> str:
    if not online:
        return "offline"
    return "away" if user.availability == "away" else "online"


def announce_availability(*, user: Any) -> None:
    """Tell the tenant a user's presence after an availability change (only if connected)."""
    if user.pk not in online_user_ids([user.pk]):
        return
    publish_ephemeral(
        routes=[groups.tenant(user.tenant_id)],
        type="presence",
        data={"users": [{"user_id": user.pk, "status": presence_status(user=user, online=True)}]},
        recipients=Recipients(Audience.STAFF),
    )


class PresenceBatcher:
    """Connects and disconnects announced as one ``presence`` frame per tenant per window.

    One frame per change reached every staff socket of the tenant, so N agents connecting (a
    morning, a server restart, a reconnect storm) cost N²/2 frames. Here the first change of a
    tenant opens a window (``window``); at its end the users changed in it are announced
    together, each with the status read *then* from the registry and the database, so a user who
    came and went in the window, or whose sockets moved between processes, is announced as they
    are, not as they were. The database learns it in the same step (``_record_presence``:
    absences, and one pass of the queue for those back): done per socket, on the connect path,
    it was a third of a server's CPU in a reconnect storm (docs/benchmarks.md).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.pending: dict[int, set[int]] = {}  # tenant id -> user ids changed in the open window
        self.tasks: set[asyncio.Task[None]] = set()

    async def changed(self, tenant_id: int, user_id: int) -> None:
        if settings.PYTAKE_PRESENCE_BATCH_SECONDS <= 0:  # batching off: announce now
            await self.announce(tenant_id, [user_id])
            return
        users = self.pending.get(tenant_id)
        if users is not None:
            users.add(user_id)
            return
        self.pending[tenant_id] = {user_id}
        task = self.loop.create_task(self._flush_later(tenant_id, self.window(tenant_id)))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    @staticmethod
    def window(tenant_id: int) -> float:
        """``PYTAKE_PRESENCE_BATCH_SECONDS``, or longer for a tenant with more staff sockets in this
        process than ``PYTAKE_PRESENCE_FANOUT_PER_SECOND`` times that: each frame goes to every
        one of them, so while agents keep connecting (a morning, a ramp) a fixed window made
        presence frames alone more work than a core can do past ~8,000 agents of one tenant
        (docs/benchmarks.md, scenario 3). Presence in such a tenant lags by the window; events
        do not."""
        base = float(settings.PYTAKE_PRESENCE_BATCH_SECONDS)
        budget = float(settings.PYTAKE_PRESENCE_FANOUT_PER_SECOND)
        if budget <= 0:
            return base
        return max(base, hub().member_count(groups.tenant(tenant_id)) / budget)

    async def _flush_later(self, tenant_id: int, window: float) -> None:
        await asyncio.sleep(window)
        await self.flush(tenant_id)

    async def flush(self, tenant_id: int) -> None:
        """Close the tenant's open window: announce the users changed in it, as they are now."""
        user_ids = sorted(self.pending.pop(tenant_id, ()))
        try:
            await self.announce(tenant_id, user_ids)
        except Exception:  # presence is best effort; the next change or a REST reload corrects it
            log.warning("Presence of tenant %s not announced", tenant_id, exc_info=True)

    async def announce(self, tenant_id: int, user_ids: list[int]) -> None:
        live = await registry().online([user_key(pk) for pk in user_ids])
        online = [pk for pk in user_ids if user_key(pk) in live]
        offline = [pk for pk in user_ids if user_key(pk) not in live]
        away = await database_sync_to_async(_record_presence, thread_sensitive=False)(tenant_id, online, offline)
        users = [
            {"user_id": pk, "status": "offline" if user_key(pk) not in live else "away" if pk in away else "online"}
            for pk in user_ids
        ]
        await apublish_ephemeral(
            routes=[groups.tenant(tenant_id)],
            type="presence",
            data={"users": users},
            recipients=Recipients(Audience.STAFF),
            hide_own_presence=True,
        )


def _record_presence(tenant_id: int, online: list[int], offline: list[int]) -> set[int]:
    """Tell the layers above what a presence window means (``presence_changed``: the service flow
    records absences and gives those back work). Returns who of them set themselves away."""
    presence_changed.send(sender=Connection, tenant_id=tenant_id, online=online, offline=offline)
    return set(
        User.objects.filter(pk__in=[*online, *offline], availability=Availability.AWAY).values_list("pk", flat=True)
    )


class _LoopBound(Protocol):
    loop: asyncio.AbstractEventLoop


_T = TypeVar("_T", bound=_LoopBound)


def per_loop(instances: dict[int, _T], make: Callable[[asyncio.AbstractEventLoop], _T]) -> _T:
    """The running event loop's instance in ``instances``, made on first use (tests run many
    loops; an id may be reused by a later loop, hence the identity check)."""
    loop = asyncio.get_running_loop()
    found = instances.get(id(loop))
    if found is None or found.loop is not loop:
        found = instances[id(loop)] = make(loop)
    return found


_batchers: dict[int, PresenceBatcher] = {}


def presence_batcher() -> PresenceBatcher:
    """This event loop's batcher."""
    return per_loop(_batchers, PresenceBatcher)
