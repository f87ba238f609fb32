"""Publishing from sync code outside any event loop, as a Celery worker's tasks do
(``realtime.events.PublishLoop``): every event arrives, in order, over one lasting connection
instead of one Redis connection (and one event loop and thread) per event. Real Redis."""

import asyncio
import json
import threading
import uuid

import pytest
from celery import signals
from channels_redis.pubsub import RedisPubSubChannelLayer
from redis.asyncio.connection import AbstractConnection

from pytake import celery as pytake_celery
from realtime import events

pytestmark = pytest.mark.redis
EVENTS = 20


def message(n: int) -> dict:
    text = json.dumps({"type": "presence", "data": {"n": n}})
    return {"type": "realtime.event", "id": n, "conversation_id": None, "event_type": "presence", "text": text}


def test_a_worker_publishes_every_event_over_one_lasting_connection(settings, monkeypatch):
    layer = RedisPubSubChannelLayer(hosts=[settings.REDIS_URL], prefix=f"publish-loop-{uuid.uuid4().hex[:8]}")
    monkeypatch.setattr(events, "get_channel_layer", lambda: layer)
    monkeypatch.setattr(events, "publish_loop", events.PublishLoop())
    subscribed, received = threading.Event(), []

    async def receive() -> None:
        channel = await layer.new_channel()
        await layer.group_add("agents", channel)
        subscribed.set()
        while len(received) < EVENTS:
            received.append(await asyncio.wait_for(layer.receive(channel), 10))
        await layer.flush()

    receiver = threading.Thread(target=asyncio.run, args=(receive(),))
    receiver.start()
    assert subscribed.wait(10)
    # Connections this process opens from now on (Redis's own total_connections_received counts
    # every client of the server: other test processes' too).
    opened_here = []
    real_on_connect = AbstractConnection.on_connect

    async def on_connect(connection):
        opened_here.append(connection)
        await real_on_connect(connection)

    monkeypatch.setattr(AbstractConnection, "on_connect", on_connect)
    for n in range(EVENTS):
        events._publish(["agents"], message(n))
    opened = len(opened_here)
    receiver.join(15)
    assert not receiver.is_alive(), f"received {len(received)} of {EVENTS}"
    assert [m["id"] for m in received] == list(range(EVENTS))
    assert {m["group"] for m in received} == {"agents"}
    # One publishing connection for the process (a loop per event opened one per event: >= 20).
    assert 1 <= opened <= 3, f"{opened} Redis connections opened for {EVENTS} events"


def test_a_worker_publishes_through_the_loop_from_its_start(monkeypatch):
    # Sending worker_init here would also install Celery's Django fixup into the test process.
    receivers = [ref() for _, ref in signals.worker_init.receivers]
    assert pytake_celery._publish_from_a_loop_of_its_own in receivers
    monkeypatch.setattr(events, "publish_loop", None)
    pytake_celery._publish_from_a_loop_of_its_own()
    assert isinstance(events.publish_loop, events.PublishLoop)


def test_a_publish_that_hangs_gives_up_and_loses_nothing_stored(monkeypatch, caplog):
    class Stuck:
        async def group_send(self, group, message):
            await asyncio.Event().wait()

    loop = events.PublishLoop()
    monkeypatch.setattr(loop, "TIMEOUT_SECONDS", 0.2)
    monkeypatch.setattr(events, "publish_loop", loop)
    monkeypatch.setattr(events, "get_channel_layer", lambda: Stuck())
    events._publish(["agents"], message(1))
    assert "stays in the log" in caplog.text
