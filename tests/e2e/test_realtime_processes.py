"""The real-time path across real processes: two servers on channels-redis and
PostgreSQL, clients on the `websockets` library. Nothing is mocked."""

import asyncio
import json
import signal
import threading

import httpx
import pytest
import websockets
from django.db import connections, transaction

from conversations.models import Channel
from realtime.events import Recipients, event_record
from realtime.models import Audience
from tests import factories
from tests.conftest import access_token_for
from tests.live import start_servers
from tests.locks import backend_pid, wait_until_blocked

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]
TIMEOUT = 10


@pytest.fixture
def servers(tmp_path):
    running = start_servers(2, tmp_path)
    yield running
    for server in running:
        server.stop()


async def open_socket(server, token):
    ws = await websockets.connect(server.ws_url, subprotocols=["bearer", token], open_timeout=TIMEOUT)
    hello = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
    assert hello["type"] == "hello"
    return ws, hello


async def request(ws, **frame):
    frame.setdefault("ref", "q")
    await ws.send(json.dumps(frame))
    frames = []
    while True:
        reply = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        if reply.get("ref") == frame["ref"] and reply["type"] in {"ack", "error", "resync"}:
            return frames, reply
        frames.append(reply)


async def frames_until(ws, predicate):
    frames = []
    while not predicate(frames):
        frames.append(json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT)))
    return frames


def post_message(server, token, conversation_id, text):
    response = httpx.post(
        f"{server.url}/api/conversations/{conversation_id}/messages/",
        json={"text": text},
        headers={"Authorization": f"Bearer {token}"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_message_posted_on_one_server_reaches_a_client_of_the_other(servers, tenant, supervisor, foreign_admin):
    a, b = servers
    conversation = factories.ConversationFactory(tenant=tenant, assignee=supervisor, channel=Channel.WEBCHAT)
    token = access_token_for(supervisor)
    foreign_token = access_token_for(foreign_admin)

    async def scenario():
        ws, _ = await open_socket(b, token)
        spy, _ = await open_socket(a, foreign_token)
        await request(ws, action="join", conversation_id=conversation.pk)
        message_id = await asyncio.to_thread(post_message, a, token, conversation.pk, "across processes")
        frames = await frames_until(ws, lambda fs: any(f["type"] == "message.new" for f in fs))
        new = next(f for f in frames if f["type"] == "message.new")
        assert new["data"]["id"] == message_id and new["data"]["text"] == "across processes"
        # The other tenant's socket, on the server that handled the write, hears nothing.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(spy.recv(), 0.5)
        await ws.close()
        await spy.close()

    asyncio.run(scenario())


def test_disconnected_client_resumes_exactly_the_100_missed_messages(servers, tenant, supervisor):
    a, b = servers
    conversation = factories.ConversationFactory(tenant=tenant, assignee=supervisor, channel=Channel.WEBCHAT)
    token = access_token_for(supervisor)

    async def scenario():
        ws, hello = await open_socket(b, token)
        await request(ws, action="join", conversation_id=conversation.pk)
        first = await asyncio.to_thread(post_message, a, token, conversation.pk, "before")
        seen = await frames_until(
            ws,
            lambda fs: any(f["type"] == "message.new" and f["data"]["id"] == first for f in fs)
            and any(f["type"] == "conversation.updated" for f in fs),
        )
        last_seen = max(f["id"] for f in seen if "id" in f)
        await ws.close()

        missed = [await asyncio.to_thread(post_message, a, token, conversation.pk, f"missed {i}") for i in range(100)]

        ws, _ = await open_socket(b, token)
        await request(ws, action="join", conversation_id=conversation.pk)
        replayed, ack = await request(ws, action="resume", last_event_id=last_seen, ref="resume")
        assert ack["type"] == "ack"
        known = {f["id"] for f in seen if "id" in f}
        fresh = [f for f in replayed if f.get("id") not in known]  # the client's dedupe
        ids = [f["id"] for f in fresh]
        assert ids == sorted(ids) and len(ids) == len(set(ids))
        assert [f["data"]["id"] for f in fresh if f["type"] == "message.new"] == missed
        # Live again after the replay.
        live_id = await asyncio.to_thread(post_message, a, token, conversation.pk, "after")
        live = await frames_until(ws, lambda fs: any(f["type"] == "message.new" for f in fs))
        assert next(f for f in live if f["type"] == "message.new")["data"]["id"] == live_id
        await ws.close()

    asyncio.run(scenario())


def test_the_server_closes_a_frame_over_the_cap_with_1009_and_serves_the_next_socket(servers, supervisor):
    """The production server's WebSocket protocol enforces PYTAKE_WS_MAX_FRAME_BYTES itself (the
    frame never reaches the application), with the documented code."""
    server, token = servers[0], access_token_for(supervisor)

    async def scenario():
        ws, _ = await open_socket(server, token)
        await ws.send(json.dumps({"action": "ping", "pad": "x" * (64 * 1024)}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), TIMEOUT)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        ws, _ = await open_socket(server, token)
        await ws.send(json.dumps({"action": "ping"}))
        frames = await frames_until(ws, lambda fs: any(f["type"] == "pong" for f in fs))
        await ws.close()
        return frames

    assert asyncio.run(scenario())[-1]["type"] == "pong"


def test_event_ids_follow_commit_order_across_concurrent_transactions(tenant):
    """Trap (1) of the design: T1 takes an id and commits late; T2 must not get a smaller id
    and commit first. T2 waits on the tenant counter until T1 commits, then gets T1's id + 1."""
    t1_recorded, release_t1, t2_started = threading.Event(), threading.Event(), threading.Event()
    results: dict[str, int] = {}
    t2_backend: list[int] = []

    def record(name, before_commit=None):
        try:
            if name == "t2":
                t2_backend.append(backend_pid())
                t2_started.set()
            with transaction.atomic():
                event = event_record(
                    tenant_id=tenant.pk,
                    type="queue.updated",
                    data={"size": 0, "conversation_id": None, "reason": name},
                    recipients=Recipients(Audience.STAFF),
                )
                if before_commit:
                    before_commit()
            results[name] = event.seq
        finally:
            connections.close_all()

    def t1_body():
        t1_recorded.set()
        assert release_t1.wait(TIMEOUT)

    t1 = threading.Thread(target=record, args=("t1", t1_body))
    t1.start()
    assert t1_recorded.wait(TIMEOUT)
    t2 = threading.Thread(target=record, args=("t2",))
    t2.start()
    assert t2_started.wait(TIMEOUT)
    # T2 waits on T1's counter lock instead of taking an id (PostgreSQL says so).
    wait_until_blocked(t2_backend[0])
    assert "t2" not in results
    release_t1.set()
    t1.join(TIMEOUT)
    t2.join(TIMEOUT)
    assert results["t2"] == results["t1"] + 1  # and T2 committed after T1: it was blocked until then


@pytest.mark.parametrize("asgi_server", ["uvicorn", "daphne"])
def test_sigterm_closes_the_applications_sockets_with_1012(tmp_path, supervisor, agent, asgi_server):
    """Both servers of ``deploy/asgi-server``, serving the real application: on SIGTERM every
    socket is closed with 1012 (uvicorn closes them itself; under daphne the process group's
    ``server.shutdown`` reaches each socket through its process's hub)."""
    (server,) = start_servers(1, tmp_path, PYTAKE_ASGI_SERVER=asgi_server)
    tokens = [access_token_for(user) for user in (supervisor, agent)]

    async def scenario():
        sockets = [(await open_socket(server, token))[0] for token in tokens]
        server.proc.send_signal(signal.SIGTERM)
        for ws in sockets:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                while True:  # presence frames may come first
                    await asyncio.wait_for(ws.recv(), TIMEOUT)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012, server.log_tail()

    try:
        asyncio.run(scenario())
        assert server.proc.wait(timeout=TIMEOUT) == 0, server.log_tail()
    finally:
        server.stop()
