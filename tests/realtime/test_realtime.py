"""The /ws/ consumer: every action, error and close code, and the isolation invariant."""

import asyncio
import json
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async as db
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken

from conversations import services
from conversations.models import Channel, Conversation, ConversationStatus, MessageStatus
from flow import assignment
from realtime.tokens import WebchatToken
from tests import factories
from tests.ws import Communicator, command, connect, expect_close, next_of, send

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("clean_realtime")]


def convo(tenant, **kwargs) -> Conversation:
    return factories.ConversationFactory(tenant=tenant, **kwargs)


@db
def send_text(user, conversation, text="hello", client_id=None):
    return services.message_create_outbound_text(
        user=user, conversation_id=conversation.pk, text=text, client_id=client_id
    )[0]


# --- connecting -----------------------------------------------------------------------------------


async def test_hello_with_subprotocol_and_query_token(agent):
    comm = await connect(agent)
    assert comm.hello["data"]["user"] == {"id": agent.pk, "role": "agent", "tenant_id": agent.tenant_id}
    assert comm.hello["data"]["last_event_id"] >= 0
    await comm.disconnect()
    comm = await connect(agent, query=True)
    await comm.disconnect()


def held(function):
    """``function`` made to wait, once called, until released: (the stand-in, an event set when
    it is called, the event that releases it)."""
    import threading

    called, release = threading.Event(), threading.Event()

    def waiting(*args, **kwargs):
        called.set()
        release.wait(10)
        return function(*args, **kwargs)

    return waiting, called, release


def _token_cases(agent):
    expired = AccessToken.for_user(agent)
    expired.set_exp(from_time=timezone.now() - timedelta(hours=1), lifetime=timedelta(minutes=1))
    return {
        "missing": "",
        "malformed": "not-a-jwt",
        "expired": str(expired),
        "tampered": str(AccessToken.for_user(agent)) + "x",
    }


@pytest.mark.parametrize("case", ["missing", "malformed", "expired", "tampered"])
async def test_bad_tokens_close_4001(agent, case):
    from pytake.asgi import application

    token = _token_cases(agent)[case]
    comm = Communicator(application, f"/ws/?token={token}")
    connected, _ = await comm.connect(timeout=5)
    assert connected
    await expect_close(comm, 4001)


async def test_revoked_and_deactivated_users_close_4001(agent, agent2):
    from tests.conftest import access_token_for

    token = await db(access_token_for)(agent)
    agent.set_password("a-new-password-123")
    await db(agent.save)()  # a password change revokes earlier tokens

    from pytake.asgi import application

    comm = Communicator(application, "/ws/", subprotocols=["bearer", token])
    await comm.connect(timeout=5)
    await expect_close(comm, 4001)

    token2 = await db(access_token_for)(agent2)
    agent2.is_active = False
    await db(agent2.save)()
    comm = Communicator(application, "/ws/", subprotocols=["bearer", token2])
    await comm.connect(timeout=5)
    await expect_close(comm, 4001)


async def test_a_client_gone_during_its_token_check_is_refused_and_never_registered(agent, monkeypatch):
    """A client that leaves while its token is checked (a handshake timed out in a connect storm)
    gets its handshake answered with a close, not left unanswered (an ASGI server logs that as an
    error, uvicorn once per socket), and the consumer never starts: nothing counts the socket."""

    from pytake.asgi import application
    from realtime import auth
    from realtime.presence import registry
    from tests.conftest import access_token_for

    token = await db(access_token_for)(agent)
    slow_check, checking, release = held(auth.resolve_principal)
    monkeypatch.setattr(auth, "resolve_principal", slow_check)
    comm = Communicator(application, "/ws/", subprotocols=["bearer", token])
    try:
        await comm.send_input({"type": "websocket.connect"})
        assert await asyncio.to_thread(checking.wait, 5)
        await comm.send_input({"type": "websocket.disconnect", "code": 1006})
        assert await comm.receive_output(timeout=5) == {"type": "websocket.close"}
        await comm.wait(timeout=5)  # the application returned
    finally:
        release.set()
    assert await registry().online([f"u{agent.pk}"]) == set()


async def test_foreign_origin_closes_4003_and_own_origin_is_accepted(agent):
    from pytake.asgi import application
    from tests.conftest import access_token_for

    token = await db(access_token_for)(agent)
    evil = Communicator(
        application, "/ws/", subprotocols=["bearer", token], headers=[(b"origin", b"https://evil.example")]
    )
    await evil.connect(timeout=5)
    await expect_close(evil, 4003)
    good = await connect(agent, headers=[(b"origin", b"http://localhost:8000")])
    await good.disconnect()


async def test_token_expiry_closes_open_socket_with_4001(agent):
    token = AccessToken.for_user(agent)
    token.set_exp(lifetime=timedelta(seconds=1))
    comm = await connect(str(token))
    await expect_close(comm, 4001, timeout=5)


async def test_silent_client_is_closed_4008(agent, settings):
    settings.PYTAKE_WS_HEARTBEAT_SECONDS = 0.2
    comm = await connect(agent)
    await expect_close(comm, 4008, timeout=5)


async def test_a_failed_presence_refresh_does_not_stop_the_socket_checks(agent, settings, monkeypatch):
    """Redis away: the refresh fails, and the watchdog still closes a silent socket (and one
    whose token expires). It used to end with the first failed refresh."""
    from realtime.presence import registry

    settings.PYTAKE_WS_HEARTBEAT_SECONDS = 1.0  # a sweep every 0.5 s; silent for 2 s closes
    comm = await connect(agent)
    refreshes = []
    refreshed = asyncio.Event()

    async def redis_away(sockets):
        refreshes.extend(conn.channel for conn, _joined in sockets)
        refreshed.set()
        raise ConnectionError("Redis is away")

    monkeypatch.setattr(registry(), "touch", redis_away)
    # The socket is heard after each sweep until the sweep has failed to refresh it twice (it
    # keeps trying)...
    while len(refreshes) < 2:
        refreshed.clear()
        reply = await command(comm, action="ping")
        assert reply["type"] == "pong", reply
        await asyncio.wait_for(refreshed.wait(), 10)
    # ...then falls silent: the sweep still closes it.
    await expect_close(comm, 4008, timeout=10)


# --- join, events, isolation ----------------------------------------------------------------------


async def test_join_permission_matches_rest(tenant, agent, agent2, supervisor, foreign_admin):
    own = await db(convo)(tenant, assignee=agent)
    queued = await db(convo)(tenant)
    others = await db(convo)(tenant, assignee=agent2)
    comm = await connect(agent)
    assert (await command(comm, action="join", conversation_id=own.pk))["data"]["conversation_id"] == own.pk
    assert (await command(comm, action="join", conversation_id=queued.pk))["type"] == "ack"
    refused = await command(comm, action="join", conversation_id=others.pk)
    assert refused["type"] == "error" and refused["code"] == "not_found"
    missing = await command(comm, action="join", conversation_id=999999)
    assert missing == {**refused, "message": missing["message"]}
    foreign = await connect(foreign_admin)
    assert (await command(foreign, action="join", conversation_id=own.pk))["code"] == "not_found"
    boss = await connect(supervisor)
    assert (await command(boss, action="join", conversation_id=others.pk))["type"] == "ack"
    for c in (comm, foreign, boss):
        await c.disconnect()


async def test_message_sent_over_rest_reaches_joined_sockets_only(tenant, agent, supervisor, foreign_admin):
    conversation = await db(convo)(tenant, assignee=agent)
    joined = await connect(agent)
    await command(joined, action="join", conversation_id=conversation.pk)
    inbox_only = await connect(supervisor)
    foreign = await connect(foreign_admin)
    message = await send_text(agent, conversation, "olá")
    new = await next_of(joined, "message.new")
    assert new["data"]["id"] == message.pk and new["data"]["text"] == "olá"
    assert new["conversation_id"] == conversation.pk and new["seq"] >= 1 and new["id"] > 0
    # The supervisor, not joined, sees the inbox update but not the message itself.
    updated = await next_of(inbox_only, "conversation.updated")
    assert updated["data"]["last_message_preview"] == "olá"
    assert await inbox_only.receive_nothing(timeout=0.3)
    assert await foreign.receive_nothing(timeout=0.3)
    for c in (joined, inbox_only, foreign):
        await c.disconnect()


async def test_agent_never_receives_another_agents_conversation(tenant, agent, agent2):
    theirs = await db(convo)(tenant, assignee=agent2)
    spy = await connect(agent)
    await send_text(agent2, theirs, "private")
    assert await spy.receive_nothing(timeout=0.5)
    await spy.disconnect()


async def test_message_status_event(tenant, agent):
    conversation = await db(convo)(tenant, assignee=agent)
    message = await send_text(agent, conversation)
    comm = await connect(agent)
    await command(comm, action="join", conversation_id=conversation.pk)

    @db
    def deliver():
        message.status = MessageStatus.DELIVERED
        message.delivered_at = timezone.now()
        message.save()

    await deliver()
    status = await next_of(comm, "message.status")
    assert status["data"]["id"] == message.pk and status["data"]["status"] == "delivered"
    await comm.disconnect()


async def test_seq_counts_every_event_of_a_joined_conversation(tenant, supervisor):
    conversation = await db(convo)(tenant, assignee=supervisor)
    comm = await connect(supervisor)
    ack = await command(comm, action="join", conversation_id=conversation.pk)
    seq = ack["data"]["seq"]
    await send_text(supervisor, conversation, "one")
    seen = []
    while len(seen) < 2:  # message.new and conversation.updated
        frame = await comm.receive_json_from(timeout=5)
        if "seq" in frame:
            seen.append(frame["seq"])
    assert sorted(seen) == [seq + 1, seq + 2]
    await comm.disconnect()


async def test_assignment_to_another_agent_revokes_and_stops_events(tenant, agent, agent2, supervisor):
    conversation = await db(convo)(tenant)
    watcher = await connect(agent)
    await command(watcher, action="join", conversation_id=conversation.pk)
    newcomer = await connect(agent2)

    @db
    def assign():
        assignment.conversation_assign(conversation=conversation, assignee=agent2, actor=supervisor)

    await assign()
    revoked = await next_of(watcher, "conversation.revoked")
    assert revoked["data"] == {"id": conversation.pk}
    assigned = await next_of(newcomer, "conversation.assigned")
    assert assigned["data"]["assignee"]["id"] == agent2.pk
    await send_text(agent2, conversation, "now mine")
    assert await watcher.receive_nothing(timeout=0.5)
    for c in (watcher, newcomer):
        await c.disconnect()


async def test_typing_no_echo_and_automatic_stop(tenant, agent, supervisor, settings):
    settings.PYTAKE_TYPING_TIMEOUT_SECONDS = 0.3
    conversation = await db(convo)(tenant, assignee=agent)
    typist = await connect(agent)
    watcher = await connect(supervisor)
    for c in (typist, watcher):
        await command(c, action="join", conversation_id=conversation.pk)
    assert (await command(typist, action="typing", conversation_id=conversation.pk, state="start"))["type"] == "ack"
    start = await next_of(watcher, "typing")
    assert start["data"]["state"] == "start" and start["data"]["user"]["id"] == agent.pk
    stop = await next_of(watcher, "typing", timeout=3)
    assert stop["data"]["state"] == "stop"
    assert await typist.receive_nothing(timeout=0.3)  # never echoed
    not_joined = await command(watcher, action="typing", conversation_id=999, state="start")
    assert not_joined["code"] == "not_joined"
    for c in (typist, watcher):
        await c.disconnect()


async def test_read_marks_conversation_read_and_emits_update(tenant, agent):
    conversation = await db(convo)(tenant, assignee=agent, unread_count=1)
    await db(factories.MessageFactory)(conversation=conversation)
    comm = await connect(agent)
    await command(comm, action="join", conversation_id=conversation.pk)
    assert (await command(comm, action="read", conversation_id=conversation.pk))["type"] == "ack"
    updated = await next_of(comm, "conversation.updated")
    assert updated["data"]["unread_count"] == 0
    await db(conversation.refresh_from_db)()
    assert conversation.unread_count == 0
    await comm.disconnect()


async def test_ping_pong(agent):
    comm = await connect(agent)
    assert await command(comm, action="ping", ref=7) == {"type": "pong", "ref": 7}
    await comm.disconnect()


async def test_frames_and_events_cost_no_hop_to_the_database_thread(agent, monkeypatch):
    """Channels closes stale database connections before every handler, through its one shared
    thread: a third of an idle server's CPU at 9,000 sockets, for heartbeats. The consumer's
    handlers do without (their database calls close stale connections themselves)."""
    import channels.consumer

    hops = []

    async def counted():
        hops.append(1)

    monkeypatch.setattr(channels.consumer, "aclose_old_connections", counted)
    boss = await connect(agent)
    conversation = await db(convo)(agent.tenant, assignee=agent)
    assert (await command(boss, action="join", conversation_id=conversation.pk))["type"] == "ack"
    for n in range(3):
        assert await command(boss, action="ping", ref=n) == {"type": "pong", "ref": n}
    await send_text(agent, conversation, "seen live")
    assert (await next_of(boss, "message.new"))["data"]["text"] == "seen live"
    await boss.disconnect()
    assert hops == []


# --- bad input and limits -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{not json", "bad_request"),
        ("[1, 2]", "bad_request"),
        (json.dumps({"action": "dance"}), "unknown_action"),
        (json.dumps({"action": "message", "text": "staff cannot"}), "unknown_action"),
        (json.dumps({"action": "join", "conversation_id": "7"}), "invalid"),
        (json.dumps({"action": "join", "conversation_id": True}), "invalid"),
        (json.dumps({"action": "resume", "last_event_id": -1}), "invalid"),
        (json.dumps({"action": "typing", "conversation_id": 1, "state": "maybe"}), "invalid"),
    ],
)
async def test_bad_frames_get_an_error_and_the_socket_stays_open(agent, raw, code):
    comm = await connect(agent)
    await comm.send_to(text_data=raw)
    error = await comm.receive_json_from(timeout=5)
    assert error["type"] == "error" and error["code"] == code, error
    assert (await command(comm, action="ping"))["type"] == "pong"
    await comm.disconnect()


async def test_oversized_frame_closes_1009(agent, settings):
    settings.PYTAKE_WS_MAX_FRAME_BYTES = 1024
    comm = await connect(agent)
    await send(comm, action="ping", pad="x" * 2000)
    await expect_close(comm, 1009)


async def test_rate_limit_errors_then_4029(agent, settings):
    settings.PYTAKE_WS_RATE = 1
    settings.PYTAKE_WS_BURST = 3
    settings.PYTAKE_WS_ABUSE_LIMIT = 5
    comm = await connect(agent)
    for _ in range(3):
        await send(comm, action="ping")
    for _ in range(3):
        assert (await comm.receive_json_from(timeout=5))["type"] == "pong"
    await send(comm, action="ping")
    assert (await comm.receive_json_from(timeout=5))["code"] == "rate_limited"
    for _ in range(6):
        await send(comm, action="ping")
    await expect_close(comm, 4029)


async def test_sockets_share_their_process_channel_and_restart_closes_them_with_1012(agent, agent2, settings):
    """A socket has no channel of its own in the layer (a subscription and a queue per socket):
    its events, its eviction and the server's restart all come through the process's hub, whose
    channel joins the process group that daphne's graceful stop sends ``server.shutdown`` to."""
    from channels.layers import get_channel_layer

    from realtime.hub import hub
    from realtime.lifecycle import SHUTDOWN_MESSAGE, process_group_name

    layer = get_channel_layer()
    made = []
    new_channel = layer.new_channel

    async def counting(*args, **kwargs):
        made.append(await new_channel(*args, **kwargs))
        return made[-1]

    layer.new_channel = counting
    try:
        sockets = [await connect(user) for user in (agent, agent, agent2)]
    finally:
        del layer.new_channel
    assert len(made) <= 1  # the hub's, once per process (none if an earlier test started it)
    addresses = {m.channel_name for m in hub().attached.values()}
    assert len(addresses) == 3 and all(a.startswith(f"{hub().channel}#") for a in addresses)
    await layer.group_send(process_group_name(), dict(SHUTDOWN_MESSAGE))
    for comm in sockets:
        await expect_close(comm, 1012)
        await comm.disconnect()
    assert hub().attached == {}


async def test_sixth_socket_closes_the_oldest_with_4009(agent, settings):
    settings.PYTAKE_WS_MAX_PER_USER = 2
    first = await connect(agent)
    second = await connect(agent)
    third = await connect(agent)
    await expect_close(first, 4009)
    assert (await command(second, action="ping"))["type"] == "pong"
    assert (await command(third, action="ping"))["type"] == "pong"
    for c in (second, third):
        await c.disconnect()


async def test_a_client_gone_before_its_hello_never_counts_against_the_cap(agent, settings, monkeypatch):
    """In a connect storm a client may give up waiting for its hello while the server still
    prepares it. That socket must not count against its user's cap: counted, it evicted a live
    socket of the same user (4009) until the server had undone it."""

    from pytake.asgi import application
    from realtime import consumers
    from realtime.presence import registry
    from tests.conftest import access_token_for

    settings.PYTAKE_WS_MAX_PER_USER = 1
    live = await connect(agent)
    slow_last_id, preparing, release = held(consumers.tenant_last_event_id)
    monkeypatch.setattr(consumers, "tenant_last_event_id", slow_last_id)
    token = await db(access_token_for)(agent)
    gone = Communicator(application, "/ws/", subprotocols=["bearer", token])
    try:
        await gone.send_input({"type": "websocket.connect"})
        assert (await gone.receive_output(timeout=5))["type"] == "websocket.accept"
        assert await asyncio.to_thread(preparing.wait, 5)
        await gone.send_input({"type": "websocket.disconnect", "code": 1006})
    finally:
        release.set()
    await gone.wait(timeout=5)  # the consumer finished, its teardown included
    # The live socket's entry is still there (an eviction removes it before its close arrives).
    assert await registry().online([f"u{agent.pk}"]) == {f"u{agent.pk}"}
    assert (await command(live, action="ping"))["type"] == "pong"
    await live.disconnect()
    assert await registry().online([f"u{agent.pk}"]) == set()


async def test_max_joined_conversations(tenant, supervisor, settings):
    settings.PYTAKE_WS_MAX_JOINED = 2
    conversations = [await db(convo)(tenant) for _ in range(3)]
    comm = await connect(supervisor)
    for c in conversations[:2]:
        assert (await command(comm, action="join", conversation_id=c.pk))["type"] == "ack"
    refused = await command(comm, action="join", conversation_id=conversations[2].pk)
    assert refused["code"] == "too_many_joined"
    await comm.disconnect()


# --- resume ---------------------------------------------------------------------------------------


async def _collect_until_ack(comm, ref="r"):
    frames = []
    while True:
        frame = await comm.receive_json_from(timeout=5)
        if frame.get("ref") == ref and frame["type"] in {"ack", "resync", "error"}:
            return frames, frame
        frames.append(frame)


async def test_resume_replays_exactly_the_missed_events_in_order(tenant, supervisor):
    conversation = await db(convo)(tenant, assignee=supervisor)
    comm = await connect(supervisor)
    await command(comm, action="join", conversation_id=conversation.pk)
    await send_text(supervisor, conversation, "seen live")
    live = [await next_of(comm, "message.new"), await next_of(comm, "conversation.updated")]
    last_seen = max(f["id"] for f in live)
    await comm.disconnect()

    sent = [await send_text(supervisor, conversation, f"missed {i}") for i in range(10)]

    comm = await connect(supervisor)
    await command(comm, action="join", conversation_id=conversation.pk)
    await send(comm, action="resume", last_event_id=last_seen, ref="r")
    frames, ack = await _collect_until_ack(comm)
    new = [f for f in frames if f.get("id", 0) > last_seen]
    ids = [f["id"] for f in new]
    assert ids == sorted(ids) and len(ids) == len(set(ids))
    assert [f["data"]["id"] for f in new if f["type"] == "message.new"] == [m.pk for m in sent]
    assert len([f for f in new if f["type"] == "conversation.updated"]) == 10
    assert ack["data"]["last_event_id"] == ids[-1]
    await comm.disconnect()


async def test_resume_replays_only_what_the_user_may_see(tenant, agent, agent2):
    theirs = await db(convo)(tenant, assignee=agent2)
    mine = await db(convo)(tenant, assignee=agent)
    comm = await connect(agent)
    start = comm.hello["data"]["last_event_id"]
    await comm.disconnect()
    await send_text(agent2, theirs, "secret")
    await send_text(agent, mine, "mine")
    comm = await connect(agent)
    await command(comm, action="join", conversation_id=mine.pk)
    await send(comm, action="resume", last_event_id=start, ref="r")
    frames, _ack = await _collect_until_ack(comm)
    assert frames, "the agent's own events are replayed"
    assert all(f["conversation_id"] == mine.pk for f in frames), frames
    await comm.disconnect()


async def test_resume_seam_no_gap_no_duplicate_under_live_traffic(tenant, supervisor):
    conversation = await db(convo)(tenant, assignee=supervisor)
    comm = await connect(supervisor)
    start = comm.hello["data"]["last_event_id"]
    await command(comm, action="join", conversation_id=conversation.pk)
    before = [await send_text(supervisor, conversation, f"before {i}") for i in range(5)]
    # Publish more while the resume is being served.
    writer = asyncio.gather(*[send_text(supervisor, conversation, f"during {i}") for i in range(5)])
    await send(comm, action="resume", last_event_id=start, ref="r")
    frames, _ack = await _collect_until_ack(comm)
    during = await writer
    expected = {m.pk for m in before} | {m.pk for m in during}
    received = []

    def delivered():
        return {f["data"]["id"] for f in frames + received if f["type"] == "message.new"}

    while delivered() != expected:
        received.append(await comm.receive_json_from(timeout=5))
    while not await comm.receive_nothing(timeout=0.3):
        received.append(await comm.receive_json_from(timeout=1))
    everything = [f for f in frames + received if "id" in f]
    ids = [f["id"] for f in everything]
    assert len(ids) == len(set(ids)), "no duplicate across the seam"
    assert {f["data"]["id"] for f in everything if f["type"] == "message.new"} == expected
    await comm.disconnect()


def test_the_dedupe_remembers_recent_ids_in_a_few_hundred_bytes():
    """Each id once, in any order within the window; an id from before the window is new (a
    replay from far back); and what a socket keeps for it stays small however many events it
    got (a set of the last 2,048 ids held 130-260 KB per socket)."""
    import sys

    from realtime.consumers import SEEN_WINDOW, RealtimeConsumer

    socket = RealtimeConsumer()
    socket.last_id = 1_000  # the tenant's newest at hello
    assert [socket._seen(i) for i in (1_001, 1_003, 1_002, 1_003, 1_001)] == [False, False, False, True, True]
    assert [socket._seen(i) for i in (990, 990)] == [False, True]  # replayed from before hello: once
    for i in range(1_004, 50_000, 3):  # a socket that gets every third event of its tenant
        assert not socket._seen(i)
    top = socket.last_id
    assert socket._seen(top - 3 * 100) and not socket._seen(top - 3 * 100 + 1)
    assert not socket._seen(top - SEEN_WINDOW) and not socket._seen(top - SEEN_WINDOW)  # too old to tell
    assert not socket._seen(top + SEEN_WINDOW + 5) and socket._seen(top + SEEN_WINDOW + 5)  # a jump
    assert socket.last_id == top + SEEN_WINDOW + 5
    assert sys.getsizeof(socket.seen_bits) <= SEEN_WINDOW // 8 + 64


async def test_resume_from_pruned_or_unknown_position_gets_resync(tenant, supervisor):
    conversation = await db(convo)(tenant, assignee=supervisor)
    await send_text(supervisor, conversation, "old")

    @db
    def age_and_prune():
        from realtime.models import Event
        from realtime.tasks import prune_events

        Event.objects.update(created_at=timezone.now() - timedelta(days=3))
        return prune_events()

    assert await age_and_prune() > 0
    comm = await connect(supervisor)
    reply = await command(comm, action="resume", last_event_id=0)
    assert reply["type"] == "resync" and reply["data"]["reason"] == "expired"
    future = await command(comm, action="resume", last_event_id=10**9)
    assert future["type"] == "resync" and future["data"]["reason"] == "unknown_position"
    await comm.disconnect()


# --- presence, availability, stats ------------------------------------------------------------------


async def presence_of(comm, user_id: int) -> str:
    """The status of ``user_id`` in the next ``presence`` frame that names them."""
    while True:
        frame = await next_of(comm, "presence")
        statuses = {change["user_id"]: change["status"] for change in frame["data"]["users"]}
        if user_id in statuses:
            return statuses[user_id]


async def test_presence_first_connect_and_last_disconnect(agent, supervisor, api_for, settings):
    settings.PYTAKE_PRESENCE_BATCH_SECONDS = 0.5  # the production default (tests run without batching)
    boss = await connect(supervisor)
    phone = await connect(agent)
    assert await presence_of(boss, agent.pk) == "online"
    laptop = await connect(agent)  # a second device: no new announcement
    await phone.disconnect()
    assert await boss.receive_nothing(timeout=1.0)  # twice the batching window

    @db
    def agents():
        return {row["id"]: row["presence"] for row in api_for(supervisor).get("/api/agents/").json()}

    assert (await agents())[agent.pk] == "online"
    await laptop.disconnect()
    assert await presence_of(boss, agent.pk) == "offline"
    assert (await agents())[agent.pk] == "offline"
    await boss.disconnect()


async def test_a_team_connecting_is_announced_in_batches(supervisor, tenant, other_tenant, settings, monkeypatch):
    """N agents connecting cost a few frames, not N: and a user who came and went within one
    window is announced as they are at its end. Another tenant's agents are never named. The
    database learns the same in the same batches: absences as they are at the window's end, and
    one pass of the queue per window instead of one per agent."""
    from flow import services as flow
    from flow.models import AgentAbsence
    from realtime.presence import PresenceBatcher

    # The window ends when the test says so (after every connect and the disconnect are in it),
    # not after a time a busy machine may overrun.
    settings.PYTAKE_PRESENCE_BATCH_SECONDS = 1.0
    window_ends = asyncio.Event()

    async def flush_when_told(self, tenant_id, window):
        await window_ends.wait()
        await self.flush(tenant_id)

    monkeypatch.setattr(PresenceBatcher, "_flush_later", flush_when_told)
    queue_passes = []
    real_queue_changed = flow.queue_changed
    monkeypatch.setattr(flow, "queue_changed", lambda **kw: (queue_passes.append(kw), real_queue_changed(**kw)))
    boss = await connect(supervisor)
    team = [await db(factories.UserFactory)(tenant=tenant) for _ in range(6)]
    await db(AgentAbsence.objects.bulk_create)([AgentAbsence(user=user) for user in team])  # all were away
    stranger = await db(factories.UserFactory)(tenant=other_tenant)
    sockets = list(await asyncio.gather(*(connect(user) for user in team)))
    foreign = await connect(stranger)
    await sockets.pop().disconnect()  # came and went within the window
    window_ends.set()
    expected = {user.pk: "online" for user in team[:-1]} | {team[-1].pk: "offline"}
    seen: dict[int, str] = {}
    frames = 0
    while seen != expected:  # next_of times out if it never gets there
        frame = await next_of(boss, "presence")
        frames += 1
        seen.update({change["user_id"]: change["status"] for change in frame["data"]["users"]})
        assert stranger.pk not in seen
    assert frames == 1, f"{frames} presence frames for 7 changes"  # one per change without batching
    absent = await db(lambda: set(AgentAbsence.objects.values_list("user_id", flat=True)))()
    assert absent == {team[-1].pk}  # the one who came and went is absent again; the others are back
    assert [kw for kw in queue_passes if kw["tenant_id"] == tenant.pk] == [
        {"tenant_id": tenant.pk}
    ]  # one per agent before
    for comm in [*sockets, foreign, boss]:
        await comm.disconnect()


async def test_a_big_tenants_presence_window_grows_with_its_sockets(agent, agent2, supervisor, foreign_admin, settings):
    """Each presence frame goes to every staff socket of the tenant: past
    PYTAKE_PRESENCE_FANOUT_PER_SECOND × the window, the window grows (sockets ÷ that rate), so a
    big tenant's connects cannot make presence take the whole server. Here 1 socket per second:
    with three sockets, three seconds. Another tenant's window does not grow with them."""
    from realtime.presence import PresenceBatcher

    settings.PYTAKE_PRESENCE_BATCH_SECONDS = 0.2
    settings.PYTAKE_PRESENCE_FANOUT_PER_SECOND = 1
    boss = await connect(supervisor)
    first = await connect(agent)
    assert await presence_of(boss, agent.pk) == "online"
    foreign = await connect(foreign_admin)
    second = await connect(agent2)
    assert PresenceBatcher.window(agent.tenant_id) == 3.0
    assert PresenceBatcher.window(foreign_admin.tenant_id) == 1.0  # its one socket: 0.2 stretched to 1
    assert await boss.receive_nothing(timeout=1.5)  # a 0.2 s window would have announced agent2
    assert await presence_of(boss, agent2.pk) == "online"
    for comm in (boss, first, second, foreign):
        await comm.disconnect()


async def test_availability_change_is_announced(agent, supervisor, api_for):
    boss = await connect(supervisor)
    comm = await connect(agent)
    assert await presence_of(boss, agent.pk) == "online"
    response = await db(lambda: api_for(agent).patch("/api/me/", {"availability": "away"}, format="json"))()
    assert response.status_code == 200
    assert await presence_of(boss, agent.pk) == "away"
    for c in (boss, comm):
        await c.disconnect()


async def test_stats_for_admins_of_their_own_tenant_only(agent, admin_user, foreign_admin, api_for):
    comm = await connect(agent)
    stats = await db(lambda: api_for(admin_user).get("/api/realtime/stats/"))()
    assert stats.status_code == 200
    body = stats.json()
    assert body["connections"] == 1 and body["connections_by_role"] == {"agent": 1}
    assert body["peak_connections"] >= 1
    foreign = (await db(lambda: api_for(foreign_admin).get("/api/realtime/stats/"))()).json()
    assert foreign["connections"] == 0
    assert (await db(lambda: api_for(agent).get("/api/realtime/stats/"))()).status_code == 403
    await comm.disconnect()


# --- web-chat customers -----------------------------------------------------------------------------


async def test_webchat_customer_sees_own_conversation_only(tenant, agent):
    conversation = await db(convo)(tenant, assignee=agent, channel=Channel.WEBCHAT)
    other = await db(convo)(tenant, channel=Channel.WEBCHAT)
    token = str(await db(WebchatToken.for_conversation)(conversation))
    customer = await connect(token)
    assert customer.hello["data"]["conversation_id"] == conversation.pk
    assert (await command(customer, action="join", conversation_id=conversation.pk))["type"] == "ack"
    assert (await command(customer, action="join", conversation_id=other.pk))["code"] == "not_found"
    assert (await command(customer, action="read", conversation_id=other.pk))["code"] == "not_found"
    assert (await command(customer, action="leave", conversation_id=conversation.pk))["code"] == "unknown_action"
    # An agent's reply arrives; an internal note does not; another conversation's message does not.
    await send_text(agent, conversation, "Hi, how can I help?")
    reply = await next_of(customer, "message.new")
    assert reply["data"]["text"] == "Hi, how can I help?"
    # Web chat needs no sender: the reply is marked sent as soon as it is committed.
    sent = await next_of(customer, "message.status")
    assert (sent["data"]["id"], sent["data"]["status"]) == (reply["data"]["id"], "sent")

    @db
    def note_and_other():
        factories.MessageFactory(conversation=conversation, internal=True, content={"text": "internal"})
        factories.MessageFactory(conversation=other, content={"text": "someone else"})

    await note_and_other()
    assert await customer.receive_nothing(timeout=0.5)
    await customer.disconnect()


async def test_webchat_customer_message_typing_and_read(tenant, agent):
    conversation = await db(convo)(tenant, assignee=agent, channel=Channel.WEBCHAT)
    token = str(await db(WebchatToken.for_conversation)(conversation))
    customer = await connect(token)
    staff = await connect(agent)
    await command(staff, action="join", conversation_id=conversation.pk)
    ack = await command(customer, action="message", text="I need help", client_id="w1")
    again = await command(customer, action="message", text="I need help", client_id="w1")
    assert ack["data"]["message_id"] == again["data"]["message_id"]
    new = await next_of(staff, "message.new")
    assert new["data"]["direction"] == "inbound" and new["data"]["text"] == "I need help"
    await command(customer, action="typing", conversation_id=conversation.pk, state="start")
    typing = await next_of(staff, "typing")
    assert typing["data"]["user"] is None and typing["data"]["state"] == "start"
    reply = await send_text(agent, conversation, "on it")
    sent = await next_of(staff, "message.status")  # web chat: sent as soon as committed
    assert sent["data"]["id"] == reply.pk and sent["data"]["status"] == "sent"
    await command(customer, action="read", conversation_id=conversation.pk)
    status = await next_of(staff, "message.status")
    assert status["data"]["id"] == reply.pk and status["data"]["status"] == "read"
    assert (await command(customer, action="message", text=""))["code"] == "invalid"
    for c in (customer, staff):
        await c.disconnect()


async def test_resolved_webchat_conversation_reopens_on_customer_message(tenant):
    conversation = await db(convo)(tenant, channel=Channel.WEBCHAT, status=ConversationStatus.RESOLVED)
    token = str(await db(WebchatToken.for_conversation)(conversation))
    customer = await connect(token)
    await command(customer, action="message", text="back again")
    await db(conversation.refresh_from_db)()
    assert conversation.status == ConversationStatus.OPEN
    await customer.disconnect()


async def test_last_socket_closing_marks_the_agent_absent_and_first_socket_clears_it(agent):
    from flow.models import AgentAbsence

    absent = db(lambda: AgentAbsence.objects.filter(user_id=agent.pk).exists())
    first = await connect(agent)
    second = await connect(agent)
    await first.disconnect()
    assert not await absent()  # one device still connected
    await second.disconnect()
    assert await absent()
    again = await connect(agent)
    assert not await absent()
    await again.disconnect()


async def test_after_the_layer_was_away_sockets_catch_up_from_the_log(tenant, agent, foreign_admin, monkeypatch):
    """Events whose publish was lost (the layer away) reach the sockets when the hub has them
    catch up (realtime.hub notices the gap with its probes); other tenants' sockets get none."""
    from realtime import events
    from realtime.hub import hub

    conversation = await db(convo)(tenant, assignee=agent)
    comm = await connect(agent)
    await command(comm, action="join", conversation_id=conversation.pk)
    foreign = await connect(foreign_admin)
    monkeypatch.setattr(events, "_publish", lambda routes, message: None)  # lost on the way
    message = await send_text(agent, conversation, "perdida")
    assert await comm.receive_nothing(timeout=0.3)
    members = {m.channel_name: m for ms in hub().members.values() for m in ms.values()}
    for member in members.values():
        await member.catch_up()
    new = await next_of(comm, "message.new")
    assert new["data"]["id"] == message.pk
    assert (await next_of(comm, "conversation.updated"))["conversation_id"] == conversation.pk
    assert await foreign.receive_nothing(timeout=0.3)
    for member in members.values():  # a second catch-up sends nothing twice
        await member.catch_up()
    assert await comm.receive_nothing(timeout=0.3)
    for c in (comm, foreign):
        await c.disconnect()
