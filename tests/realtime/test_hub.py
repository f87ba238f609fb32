"""The process-local fan-out (realtime.hub) with stand-in sockets on Channels' in-memory layer:
each event reaches exactly its group's members, in order; a socket that cannot take its frames
does not hold the others up, and one that stays behind is closed with 1013."""

import asyncio
import re

import pytest
from channels.layers import InMemoryChannelLayer
from prometheus_client import REGISTRY

from realtime.events import group_message
from realtime.hub import CLOSE_TOO_SLOW, PROBE_SEND_SECONDS, Hub

TIMEOUT = 5


class Socket:
    """Stands in for a consumer: records what it is sent; ``gate`` (when set) makes sends wait."""

    def __init__(self, name):
        self.channel_name = name
        self.held = None
        self.got = []
        self.closed = None
        self.gate = None
        self.caught_up = 0

    def offer(self, message):
        return None  # as a socket that must send through ASGI: send_event, which may wait

    def send_event(self, message):
        return self.realtime_event(message)

    async def realtime_event(self, message):
        if self.gate is not None:
            await self.gate.wait()
        if message.get("skip") == self.channel_name:  # as a consumer whose principal may not see it
            return False
        self.got.append(message["id"])
        return True

    async def close(self, code=None):
        self.closed = code

    async def catch_up(self):
        self.caught_up += 1


def event(group, n):
    return group_message(group, {"type": "realtime.event", "id": n, "text": f"{n}"})


async def until(predicate):
    async with asyncio.timeout(TIMEOUT):
        while not predicate():
            await asyncio.sleep(0.005)


HUB_CAPACITY = [(re.compile(r"realtime\.hub\."), 100_000)]  # as in settings: the hub's channel is busy

# The hub on layers the tests build themselves (in memory, or Redis for the test so marked), with
# no database: the same in both passes of `make test`.
pytestmark = pytest.mark.once


def stop(hub):
    for task in [*hub._runners, *hub._tasks]:
        task.cancel()


@pytest.fixture
def layer():
    return InMemoryChannelLayer(channel_capacity=HUB_CAPACITY)


@pytest.fixture
async def hub(layer):
    the_hub = Hub(layer, asyncio.get_running_loop())
    yield the_hub
    stop(the_hub)


async def test_a_forgotten_socket_gets_nothing_more_and_the_others_keep_their_groups(layer, hub):
    """``forget`` (a socket leaving, or dropped as too slow) takes it out of each of its groups at
    once, and only it; its later ``discard`` calls and those of the others still work."""
    a, b = Socket("a"), Socket("b")
    for group in ["tenant.1", "user.7", "conversation.3"]:
        await hub.add(group, a)
    await hub.add("tenant.1", b)
    hub.forget(a)
    hub.deliver(event("tenant.1", 1))
    hub.deliver(event("user.7", 2))
    assert (a.got, b.got) == ([], [1])
    for group in ["tenant.1", "user.7", "conversation.3"]:
        await hub.discard(group, a)
    assert hub.member_count("tenant.1") == 1 and hub.member_count("user.7") == 0
    assert hub._groups_of == {"b": {"tenant.1"}}  # nothing kept for a socket that left


async def test_each_event_reaches_its_groups_members_once_and_in_order(layer, hub):
    a, b, other = Socket("a"), Socket("b"), Socket("other")
    await hub.add("tenant.1", a)
    await hub.add("tenant.1", b)
    await hub.add("user.7", b)
    await hub.add("tenant.2", other)
    for n in range(1, 51):
        await layer.group_send("tenant.1", event("tenant.1", n))
    await layer.group_send("user.7", event("user.7", 51))
    await until(lambda: len(b.got) == 51)
    assert a.got == list(range(1, 51))
    assert b.got == list(range(1, 52))
    assert other.got == []  # another tenant's group: nothing
    await hub.discard("tenant.1", a)
    await layer.group_send("tenant.1", event("tenant.1", 52))
    await until(lambda: len(b.got) == 52)
    assert a.got == list(range(1, 51))
    for socket, group in ((b, "tenant.1"), (b, "user.7"), (other, "tenant.2")):
        await hub.discard(group, socket)
    assert hub.channel is None  # nobody left: the hub stopped receiving


def delivered(event_type):
    return REGISTRY.get_sample_value("pytake_events_delivered_total", {"type": event_type}) or 0.0


async def test_deliveries_are_counted_once_per_event_and_only_those_sent(layer, hub):
    sockets = [Socket(f"s{i}") for i in range(5)]
    for socket in sockets:
        await hub.add("tenant.1", socket)
    before = delivered("hub.count")
    message = event("tenant.1", 1) | {"event_type": "hub.count", "skip": "s3"}
    await layer.group_send("tenant.1", message)
    await until(lambda: len(sockets[0].got) == 1)
    assert delivered("hub.count") - before == 4  # five sockets, one of which may not see it


async def test_a_socket_that_waits_does_not_hold_the_others_and_catches_up_in_order(layer, hub):
    slow, fast = Socket("slow"), Socket("fast")
    slow.gate = asyncio.Event()
    await hub.add("tenant.1", slow)
    await hub.add("tenant.1", fast)
    for n in range(1, 21):
        await layer.group_send("tenant.1", event("tenant.1", n))
    await until(lambda: len(fast.got) == 20)
    assert slow.got == []
    slow.gate.set()
    await until(lambda: len(slow.got) == 20)
    assert slow.got == list(range(1, 21))
    assert slow.closed is None


async def test_a_socket_that_stays_behind_is_closed_with_1013(layer, hub, settings):
    settings.PYTAKE_WS_SEND_BACKLOG = 5
    stuck, fast = Socket("stuck"), Socket("fast")
    stuck.gate = asyncio.Event()  # never set: it stopped reading
    await hub.add("tenant.1", stuck)
    await hub.add("tenant.1", fast)
    for n in range(1, 21):
        await layer.group_send("tenant.1", event("tenant.1", n))
    await until(lambda: stuck.closed is not None and len(fast.got) == 20)
    assert stuck.closed == CLOSE_TOO_SLOW
    assert fast.got == list(range(1, 21))
    await layer.group_send("tenant.1", event("tenant.1", 21))
    await until(lambda: len(fast.got) == 21)
    assert "stuck" not in hub.members["tenant.1"]  # no longer delivered to


async def test_a_socket_whose_waiting_frames_pass_the_byte_bound_is_closed_with_1013(layer, hub, settings):
    """PYTAKE_WS_MAX_SEND_BUFFER bounds the memory a client that stopped reading holds, whatever
    the server: here 10 frames of 1,000 characters may wait, the 11th closes the socket."""
    settings.PYTAKE_WS_MAX_SEND_BUFFER = 10_000
    stuck, fast = Socket("stuck"), Socket("fast")
    stuck.gate = asyncio.Event()
    await hub.add("tenant.1", stuck)
    await hub.add("tenant.1", fast)

    def big(n):
        return event("tenant.1", n) | {"text": f"{n}".ljust(1000)}

    for n in range(1, 12):  # the first is in flight, ten wait: 10,000 characters, at the bound
        await layer.group_send("tenant.1", big(n))
    await until(lambda: len(fast.got) == 11)
    assert stuck.closed is None
    await layer.group_send("tenant.1", big(12))
    await until(lambda: stuck.closed is not None and len(fast.got) == 12)
    assert stuck.closed == CLOSE_TOO_SLOW


async def test_a_send_that_times_out_closes_the_socket(layer, hub, settings):
    settings.PYTAKE_WS_SEND_TIMEOUT_SECONDS = 0.05
    stuck = Socket("stuck")
    stuck.gate = asyncio.Event()
    await hub.add("tenant.1", stuck)
    await layer.group_send("tenant.1", event("tenant.1", 1))
    await until(lambda: stuck.closed is not None)
    assert stuck.closed == CLOSE_TOO_SLOW


async def test_held_events_wait_for_their_socket(layer, hub):
    socket = Socket("s")
    socket.held = []
    await hub.add("tenant.1", socket)
    await layer.group_send("tenant.1", event("tenant.1", 1))
    await until(lambda: len(socket.held) == 1)
    assert socket.got == []


class FlakyLayer(InMemoryChannelLayer):
    """An in-memory layer that can be taken away, as Redis restarting takes the real one away."""

    away = False

    async def send(self, channel, message):
        if self.away:
            raise ConnectionError("the layer is away")
        await super().send(channel, message)


async def test_after_the_layer_was_away_every_socket_catches_up_once():
    layer = FlakyLayer(channel_capacity=HUB_CAPACITY)
    hub = Hub(layer, asyncio.get_running_loop())
    a, b = Socket("a"), Socket("b")
    await hub.add("tenant.1", a)
    await hub.add("tenant.1", b)
    await hub.add("user.1", a)
    try:
        await asyncio.sleep(1)  # probes go and come back: nothing to repair
        assert (a.caught_up, b.caught_up) == (0, 0)
        layer.away = True
        await until(lambda: hub._missed)
        layer.away = False
        await until(lambda: a.caught_up and b.caught_up)
        await asyncio.sleep(1)
        assert (a.caught_up, b.caught_up) == (1, 1)  # once each, though a is in two groups
    finally:
        stop(hub)


class LossyLayer(InMemoryChannelLayer):
    """Accepts a message and loses it, as a Redis pub/sub subscription that is not back yet does."""

    lose = 0

    async def send(self, channel, message):
        if self.lose and message.get("type") == "realtime.hub_probe":
            self.lose -= 1
            return
        await super().send(channel, message)


async def test_a_lost_probe_has_every_socket_catch_up(caplog):
    layer = LossyLayer(channel_capacity=HUB_CAPACITY)
    hub = Hub(layer, asyncio.get_running_loop())
    a = Socket("a")
    await hub.add("tenant.1", a)
    try:
        layer.lose = 1
        await until(lambda: a.caught_up == 1)
    finally:
        stop(hub)
    lost = [r.getMessage() for r in caplog.records if "never came back" in r.getMessage()]
    assert len(lost) == 1 and "events may have been lost" in lost[0]  # the operator is told why, once


class LateLayer(InMemoryChannelLayer):
    """Delivers every probe late, in order, as a loop busy with a reconnect storm does."""

    delay = 1.0

    async def send(self, channel, message):
        if message.get("type") != "realtime.hub_probe":
            return await super().send(channel, message)
        deliver = super().send
        asyncio.get_running_loop().call_later(self.delay, lambda: asyncio.ensure_future(deliver(channel, message)))


async def test_late_probes_are_not_taken_for_a_lost_layer():
    """Probes that come back late lose nothing: no socket replays the log for them, however late
    (here longer than a send may take, with ~24 out at once). A hub that took such silence for a
    loss had every socket of a busy server replay the log, which stalled it (the idle ramp)."""
    layer = LateLayer(channel_capacity=HUB_CAPACITY)
    layer.delay = PROBE_SEND_SECONDS + 1
    hub = Hub(layer, asyncio.get_running_loop())
    a = Socket("a")
    await hub.add("tenant.1", a)
    try:
        async with asyncio.timeout(layer.delay + 5):
            while hub._probes_back < 4:
                await asyncio.sleep(0.05)
        assert a.caught_up == 0 and not hub._missed
    finally:
        stop(hub)


@pytest.mark.redis
@pytest.mark.parametrize("backend", ["core", "pubsub"])
async def test_events_and_closes_reach_sockets_through_the_hub_on_both_redis_layers(backend):
    """On channels-redis' core layer a process reads all its channels from one Redis key, one
    receive loop at a time: a hub channel named apart from the consumers' was never read while a
    consumer waited on its own channel, and no event reached any socket. Sockets have no channel
    of their own now; on both Redis layers every event reaches them through the hub, and so does
    a close sent to a socket's address (the per-user cap's eviction from another process) and
    the server's restart (``server.shutdown`` to the process group)."""
    import uuid

    from channels_redis.core import RedisChannelLayer
    from channels_redis.pubsub import RedisPubSubChannelLayer
    from django.conf import settings

    from realtime.hub import send_close
    from realtime.lifecycle import SHUTDOWN_MESSAGE, process_group_name

    prefix = f"pytake-test-hub-{uuid.uuid4().hex[:8]}"
    layer_class = RedisChannelLayer if backend == "core" else RedisPubSubChannelLayer
    layer = layer_class(hosts=[settings.REDIS_URL], prefix=prefix)
    the_hub = Hub(layer, asyncio.get_running_loop())
    try:
        a, b, c = Socket("a"), Socket("b"), Socket("c")
        for socket in (a, b, c):
            socket.channel_name = await the_hub.attach(socket)
        await the_hub.add("tenant.1", a)
        for n in range(1, 21):
            await layer.group_send("tenant.1", event("tenant.1", n))
        await until(lambda: a.got == list(range(1, 21)))
        other_layer = layer_class(hosts=[settings.REDIS_URL], prefix=prefix)  # another process's
        await send_close(other_layer, b.channel_name, 4009)
        await until(lambda: b.closed == 4009)
        assert a.closed is None and c.closed is None
        await the_hub.detach(b)
        await other_layer.group_send(process_group_name(), dict(SHUTDOWN_MESSAGE))
        await until(lambda: a.closed == 1012 and c.closed == 1012)
        assert b.closed == 4009  # detached: the restart no longer reaches it
    finally:
        stop(the_hub)
        await layer.flush()


async def test_the_hub_stops_once_no_socket_is_attached_nor_subscribed():
    """The hub's channel (and its tasks) live while a socket is attached or a group has members;
    a socket closed by address after the hub started again is not found (nothing happens)."""
    from realtime.hub import send_close

    layer = InMemoryChannelLayer(capacity=1000)
    the_hub = Hub(layer, asyncio.get_running_loop())
    a, b = Socket("a"), Socket("b")
    a.channel_name = await the_hub.attach(a)
    first = the_hub.channel
    await the_hub.add("tenant.1", a)
    await the_hub.discard("tenant.1", a)
    assert the_hub.channel == first  # still attached
    await the_hub.detach(a)
    assert the_hub.channel is None and the_hub._runners == []
    b.channel_name = await the_hub.attach(b)
    assert the_hub.channel not in (None, first)
    await send_close(layer, a.channel_name, 4009)  # the old address: its channel is gone
    await send_close(layer, b.channel_name.replace("#", "#9"), 4009)  # no such socket here
    await the_hub.add("tenant.1", b)
    await layer.group_send("tenant.1", event("tenant.1", 1))
    await until(lambda: b.got == [1])
    assert a.closed is None and b.closed is None
    stop(the_hub)
