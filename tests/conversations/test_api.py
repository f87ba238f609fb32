"""The REST API: every endpoint, its errors, and tenant and role scoping."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.exceptions import AuthenticationFailed

from conversations.models import ConversationStatus, Direction, Message, MessageStatus
from tests import factories

pytestmark = pytest.mark.django_db


def convo(tenant, **kwargs):
    return factories.ConversationFactory(tenant=tenant, **kwargs)


# --- auth ---------------------------------------------------------------------------------------


def test_login_by_email_returns_tokens_with_tenant_and_role_claims(api_for, agent):
    from rest_framework_simplejwt.tokens import AccessToken

    response = api_for(None).post(
        "/api/auth/token/", {"email": agent.email.upper(), "password": factories.PASSWORD}, format="json"
    )
    assert response.status_code == 200, response.content
    access = AccessToken(response.json()["access"])
    assert access["tenant_id"] == agent.tenant_id
    assert access["role"] == "agent"
    assert access["user_id"] == str(agent.pk)


def test_login_with_wrong_password_is_401_with_code(api_for, agent):
    response = api_for(None).post("/api/auth/token/", {"email": agent.email, "password": "nope"}, format="json")
    assert response.status_code == 401
    body = response.json()
    assert body["code"] == "no_active_account"
    assert body["message"]


def test_login_missing_fields_is_400_with_field_errors(api_for):
    response = api_for(None).post("/api/auth/token/", {}, format="json")
    assert response.status_code == 400
    assert set(response.json()["extra"]["fields"]) == {"email", "password"}


def test_refresh_and_verify(api_for, agent):
    tokens = (
        api_for(None)
        .post("/api/auth/token/", {"email": agent.email, "password": factories.PASSWORD}, format="json")
        .json()
    )
    refreshed = api_for(None).post("/api/auth/token/refresh/", {"refresh": tokens["refresh"]}, format="json")
    assert refreshed.status_code == 200
    assert refreshed.json()["access"]
    # Rotation blacklists the old refresh token: it cannot be used twice.
    again = api_for(None).post("/api/auth/token/refresh/", {"refresh": tokens["refresh"]}, format="json")
    assert again.status_code == 401
    verified = api_for(None).post("/api/auth/token/verify/", {"token": tokens["access"]}, format="json")
    assert verified.status_code == 200
    bad = api_for(None).post("/api/auth/token/verify/", {"token": tokens["access"] + "x"}, format="json")
    assert bad.status_code == 401
    assert bad.json()["code"] == "token_not_valid"


def test_login_is_throttled(api_for, agent, settings):
    rates = dict(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], login="3/min")
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    from pytake.throttling import LoginThrottle as ScopedRateThrottle

    ScopedRateThrottle.THROTTLE_RATES = rates
    try:
        codes = [
            api_for(None).post("/api/auth/token/", {"email": agent.email, "password": "x"}, format="json").status_code
            for _ in range(4)
        ]
    finally:
        from rest_framework.settings import api_settings

        ScopedRateThrottle.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES
    assert codes == [401, 401, 401, 429]


@pytest.mark.parametrize("header", ["Bearer nonsense", "Bearer ", "Token abc"])
def test_bad_tokens_are_401(api_for, header, agent):
    client = api_for(None)
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/me/")
    assert response.status_code == 401
    assert response.json()["code"] in {"token_not_valid", "not_authenticated", "bad_authorization_header"}


def test_expired_token_is_401(api_for, agent):
    from rest_framework_simplejwt.tokens import AccessToken

    token = AccessToken.for_user(agent)
    token.set_exp(from_time=timezone.now() - timedelta(hours=1), lifetime=timedelta(minutes=1))
    client = api_for(None)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = client.get("/api/conversations/")
    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"


def test_deactivated_user_token_is_rejected(api_for, agent):
    client = api_for(agent)
    agent.is_active = False
    agent.save()
    assert client.get("/api/me/").status_code == 401


def test_a_deactivated_tenant_locks_its_staff_out_over_rest_and_websocket(api_for, tenant, agent):
    from realtime.auth import resolve_principal
    from tests.conftest import access_token_for

    client, token = api_for(agent), access_token_for(agent)
    assert client.get("/api/me/").status_code == 200
    tenant.is_active = False
    tenant.save()
    assert client.get("/api/me/").status_code == 403
    with pytest.raises(AuthenticationFailed, match="tenant is not active"):
        resolve_principal(token)


def test_a_staff_token_is_checked_in_one_query(agent, django_assert_num_queries):
    """The user comes with its tenant: a socket's check (and a request's permission) reads both at
    once, which a connect storm does thousands of times."""
    from realtime.auth import resolve_principal
    from tests.conftest import access_token_for

    token = access_token_for(agent)
    with django_assert_num_queries(1):
        principal = resolve_principal(token)
        assert principal.tenant_id == agent.tenant_id and principal.user.tenant.is_active


def test_anonymous_is_401(api_for):
    response = api_for(None).get("/api/conversations/")
    assert response.status_code == 401
    assert response.json() == {
        "code": "not_authenticated",
        "message": "Authentication credentials were not provided.",
        "extra": {},
    }


# --- me, agents, contacts -----------------------------------------------------------------------


def test_me(api_for, supervisor):
    body = api_for(supervisor).get("/api/me/").json()
    assert body["email"] == supervisor.email
    assert body["role"] == "supervisor"
    assert body["tenant"]["id"] == supervisor.tenant_id


def test_me_patch_changes_availability_not_role(api_for, agent):
    response = api_for(agent).patch("/api/me/", {"availability": "away", "role": "admin"}, format="json")
    assert response.status_code == 200
    agent.refresh_from_db()
    assert agent.availability == "away"
    assert agent.role == "agent"
    bad = api_for(agent).patch("/api/me/", {"availability": "asleep"}, format="json")
    assert bad.status_code == 400
    assert "availability" in bad.json()["extra"]["fields"]


def test_agents_lists_only_own_tenant(api_for, agent, agent2, foreign_admin):
    ids = {row["id"] for row in api_for(agent).get("/api/agents/").json()}
    assert {agent.pk, agent2.pk} <= ids
    assert foreign_admin.pk not in ids


def test_agent_sees_contacts_of_own_and_queued_conversations_only(api_for, tenant, agent, agent2):
    own = convo(tenant, assignee=agent).contact
    queued = convo(tenant).contact
    others = convo(tenant, assignee=agent2).contact
    ids = {row["id"] for row in api_for(agent).get("/api/contacts/").json()["results"]}
    assert ids == {own.pk, queued.pk}
    assert api_for(agent).get(f"/api/contacts/{others.pk}/").status_code == 404


def test_contacts_list_search_update_and_isolation(api_for, tenant, other_tenant, supervisor):
    mine = factories.ContactFactory(tenant=tenant, name="Maria Silva")
    factories.ContactFactory(tenant=tenant, name="John")
    foreign = factories.ContactFactory(tenant=other_tenant, name="Maria Foreign")
    client = api_for(supervisor)
    rows = client.get("/api/contacts/", {"search": "maria"}).json()["results"]
    assert [r["id"] for r in rows] == [mine.pk]
    assert client.get(f"/api/contacts/{foreign.pk}/").status_code == 404
    assert client.patch(f"/api/contacts/{foreign.pk}/", {"name": "x"}, format="json").status_code == 404
    response = client.patch(f"/api/contacts/{mine.pk}/", {"name": "Maria S.", "wa_id": "1"}, format="json")
    assert response.status_code == 200
    mine.refresh_from_db()
    assert mine.name == "Maria S."
    assert mine.wa_id != "1"
    foreign.refresh_from_db()
    assert foreign.name == "Maria Foreign"


# --- conversations ------------------------------------------------------------------------------


def test_agent_sees_own_and_unassigned_supervisor_sees_all(api_for, tenant, agent, agent2, supervisor):
    own = convo(tenant, assignee=agent)
    queued = convo(tenant)
    others = convo(tenant, assignee=agent2)
    ids = lambda user: {row["id"] for row in api_for(user).get("/api/conversations/").json()["results"]}  # noqa: E731
    assert ids(agent) == {own.pk, queued.pk}
    assert ids(supervisor) == {own.pk, queued.pk, others.pk}


def test_conversation_filters(api_for, tenant, supervisor, agent):
    open_mine = convo(tenant, assignee=agent)
    resolved = convo(tenant, status=ConversationStatus.RESOLVED)
    webchat = convo(tenant, channel="webchat")
    searchable = convo(tenant, contact=factories.ContactFactory(tenant=tenant, name="Zélia Unique"))
    client = api_for(supervisor)

    def ids(**params):
        response = client.get("/api/conversations/", params)
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert ids(status="resolved") == {resolved.pk}
    assert ids(assignee=agent.pk) == {open_mine.pk}
    assert ids(unassigned="true") == {resolved.pk, webchat.pk, searchable.pk}
    assert ids(channel="webchat") == {webchat.pk}
    assert ids(search="zélia") == {searchable.pk}
    assert api_for(agent).get("/api/conversations/", {"assignee": "me"}).json()["results"][0]["id"] == open_mine.pk
    bad = client.get("/api/conversations/", {"status": "closed", "assignee": "someone"})
    assert bad.status_code == 400
    assert set(bad.json()["extra"]["fields"]) == {"status", "assignee"}


def test_conversation_list_is_ordered_by_last_message_and_paginated(api_for, tenant, supervisor):
    now = timezone.now()
    rows = [convo(tenant, last_message_at=now - timedelta(minutes=i)) for i in range(5)]
    client = api_for(supervisor)
    page = client.get("/api/conversations/", {"page_size": 2}).json()
    assert [r["id"] for r in page["results"]] == [rows[0].pk, rows[1].pk]
    second = client.get(page["next"]).json()
    assert [r["id"] for r in second["results"]] == [rows[2].pk, rows[3].pk]


def test_conversation_list_query_count_does_not_grow_with_rows(
    api_for, tenant, supervisor, django_assert_max_num_queries
):
    client = api_for(supervisor)
    for _ in range(3):
        convo(tenant, assignee=supervisor)
    with django_assert_max_num_queries(6) as small:
        client.get("/api/conversations/")
    for _ in range(20):
        convo(tenant, assignee=supervisor)
    with django_assert_max_num_queries(len(small.captured_queries)):
        assert len(client.get("/api/conversations/").json()["results"]) == 23


def test_conversation_detail_and_window(api_for, tenant, agent):
    conversation = convo(tenant, assignee=agent)
    body = api_for(agent).get(f"/api/conversations/{conversation.pk}/").json()
    assert body["contact"]["id"] == conversation.contact_id
    assert body["window_expires_at"] is not None
    assert body["assignee"]["id"] == agent.pk


def test_resolve_and_reopen(api_for, tenant, agent):
    conversation = convo(tenant, assignee=agent)
    client = api_for(agent)
    resolved = client.post(f"/api/conversations/{conversation.pk}/resolve/")
    assert resolved.status_code == 200
    assert resolved.json()["status"] == "resolved"
    assert resolved.json()["resolved_at"]
    reopened = client.post(f"/api/conversations/{conversation.pk}/reopen/")
    assert reopened.json()["status"] == "open"
    assert reopened.json()["resolved_at"] is None
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.OPEN


def test_every_copy_of_a_conversation_carries_the_seq_it_reflects(api_for, tenant, agent, agent2, supervisor):
    """REST answers and live events race in a client; each copy's ``seq`` (the conversation's
    event sequence number it reflects) is how the client keeps the newer one."""
    from realtime.models import Event

    conversation = convo(tenant, assignee=agent)
    client = api_for(agent)

    def newest_seq():
        seqs = Event.objects.filter(conversation_id=conversation.pk, conversation_seq__isnull=False)
        return max(seqs.values_list("conversation_seq", flat=True))

    before = client.get(f"/api/conversations/{conversation.pk}/").json()["seq"]
    assert before == newest_seq()
    resolved = client.post(f"/api/conversations/{conversation.pk}/resolve/").json()
    # Past the resolution's conversation.updated and its system line's message.new.
    assert resolved["seq"] == newest_seq() >= before + 2
    reopened = client.post(f"/api/conversations/{conversation.pk}/reopen/").json()
    assert reopened["seq"] == newest_seq() > resolved["seq"]
    listed = client.get("/api/conversations/").json()["results"]
    assert [c["seq"] for c in listed if c["id"] == conversation.pk] == [reopened["seq"]]
    # An event's copy says the seq of the event that carries it; the new assignee's own notice
    # carries the same copy (it has no seq of its own).
    moved = api_for(supervisor).post(
        f"/api/conversations/{conversation.pk}/assign/", {"assignee_id": agent2.pk}, format="json"
    )
    events = Event.objects.filter(conversation_id=conversation.pk)
    for event in events.filter(type__startswith="conversation.").exclude(type="conversation.revoked"):
        if event.conversation_seq is not None:
            assert event.data["seq"] == event.conversation_seq, event.type
    updated = events.filter(type="conversation.updated").latest("seq")
    assigned = events.filter(type="conversation.assigned").latest("seq")
    assert assigned.conversation_seq is None
    assert assigned.data["seq"] == updated.conversation_seq
    assert moved.json()["seq"] == newest_seq() > reopened["seq"]  # the hand-over's system line too


def test_assign_rules(api_for, tenant, agent, agent2, supervisor, foreign_admin):
    queued = convo(tenant)
    # An agent takes an unassigned conversation for themselves...
    taken = api_for(agent).post(f"/api/conversations/{queued.pk}/assign/", {"assignee_id": agent.pk}, format="json")
    assert taken.status_code == 200
    assert taken.json()["assignee"]["id"] == agent.pk
    # ...but cannot give it to someone else.
    refused = api_for(agent).post(f"/api/conversations/{queued.pk}/assign/", {"assignee_id": agent2.pk}, format="json")
    assert refused.status_code == 400
    assert refused.json()["code"] == "forbidden_assignment"
    # The other agent no longer sees it at all.
    assert (
        api_for(agent2)
        .post(f"/api/conversations/{queued.pk}/assign/", {"assignee_id": agent2.pk}, format="json")
        .status_code
        == 404
    )
    # A supervisor transfers it.
    moved = api_for(supervisor).post(
        f"/api/conversations/{queued.pk}/assign/", {"assignee_id": agent2.pk}, format="json"
    )
    assert moved.json()["assignee"]["id"] == agent2.pk
    # Nobody can assign to a user of another tenant.
    foreign = api_for(supervisor).post(
        f"/api/conversations/{queued.pk}/assign/", {"assignee_id": foreign_admin.pk}, format="json"
    )
    assert foreign.status_code == 400
    assert foreign.json()["code"] == "invalid_assignee"
    # Back to the queue.
    back = api_for(supervisor).post(f"/api/conversations/{queued.pk}/assign/", {"assignee_id": None}, format="json")
    assert back.json()["assignee"] is None
    missing = api_for(supervisor).post(f"/api/conversations/{queued.pk}/assign/", {}, format="json")
    assert missing.status_code == 400
    assert "assignee_id" in missing.json()["extra"]["fields"]
    queued.refresh_from_db()
    assert queued.assignee_id is None


def test_take_already_taken_is_409(tenant, agent, agent2):
    from flow import assignment

    conversation = convo(tenant)
    assignment.conversation_assign(conversation=conversation, assignee=agent, actor=agent)
    from pytake.errors import Conflict

    with pytest.raises(Conflict) as caught:
        assignment.conversation_assign(conversation=conversation, assignee=agent2, actor=agent2)
    assert caught.value.status == 409
    conversation.refresh_from_db()
    assert conversation.assignee_id == agent.pk


def test_mark_read(api_for, tenant, agent):
    conversation = convo(tenant, assignee=agent, unread_count=2)
    unread = factories.MessageFactory.create_batch(2, conversation=conversation)
    response = api_for(agent).post(f"/api/conversations/{conversation.pk}/read/")
    assert response.status_code == 200
    assert response.json()["unread_count"] == 0
    for message in unread:
        message.refresh_from_db()
        assert message.status == MessageStatus.READ
        assert message.read_at is not None


# --- messages -----------------------------------------------------------------------------------


def test_message_history_cursor_newest_first_and_before_after(api_for, tenant, agent):
    conversation = convo(tenant, assignee=agent)
    start = timezone.now() - timedelta(hours=1)
    messages = [
        factories.MessageFactory(conversation=conversation, created_at=start + timedelta(seconds=i)) for i in range(7)
    ]
    client = api_for(agent)
    url = f"/api/conversations/{conversation.pk}/messages/"
    first = client.get(url, {"limit": 3}).json()
    assert [m["id"] for m in first["results"]] == [messages[6].pk, messages[5].pk, messages[4].pk]
    assert first["has_more"] is True
    second = client.get(first["next"]).json()
    assert [m["id"] for m in second["results"]] == [messages[3].pk, messages[2].pk, messages[1].pk]
    last = client.get(second["next"]).json()
    assert [m["id"] for m in last["results"]] == [messages[0].pk]
    assert last["has_more"] is False and last["next"] is None
    after = client.get(url, {"after": messages[4].pk}).json()
    assert [m["id"] for m in after["results"]] == [messages[5].pk, messages[6].pk]
    assert client.get(url, {"before": 1, "after": 2}).status_code == 400
    assert client.get(url, {"limit": 0}).status_code == 400
    other = factories.MessageFactory(conversation=convo(tenant, assignee=agent))
    assert client.get(url, {"before": other.pk}).status_code == 404


def test_message_history_pages_through_messages_stored_at_the_same_instant(api_for, tenant, agent):
    """A page boundary between messages of one instant (a burst stored in one transaction)
    neither skips nor repeats one, scrolling up or catching up."""
    conversation = convo(tenant, assignee=agent)
    start = timezone.now() - timedelta(hours=1)
    instants = [0, 1, 1, 1, 2, 2, 3]
    messages = [
        factories.MessageFactory(conversation=conversation, created_at=start + timedelta(seconds=s)) for s in instants
    ]
    client = api_for(agent)
    url = f"/api/conversations/{conversation.pk}/messages/"
    for anchor in range(len(messages)):
        older = client.get(url, {"before": messages[anchor].pk, "limit": 100}).json()["results"]
        assert [m["id"] for m in older] == [m.pk for m in reversed(messages[:anchor])]
        newer = client.get(url, {"after": messages[anchor].pk, "limit": 100}).json()["results"]
        assert [m["id"] for m in newer] == [m.pk for m in messages[anchor + 1 :]]
    seen, page = [], client.get(url, {"limit": 2}).json()
    while True:
        seen += [m["id"] for m in page["results"]]
        if not page["next"]:
            break
        page = client.get(page["next"]).json()
    assert seen == [m.pk for m in reversed(messages)]


def test_history_is_in_the_order_pytake_stored_it_not_by_the_channels_clock(api_for, tenant, agent):
    """A customer's WhatsApp message carries Meta's whole-second time, which can fall after the
    bot reply it caused (stored a moment later, stamped by PyTake's clock): the reply still comes
    after it, in the history and in the pages."""
    conversation = convo(tenant, assignee=agent)
    meta_time = timezone.now().replace(microsecond=0) + timedelta(seconds=1)
    question = factories.MessageFactory(conversation=conversation, created_at=meta_time, content={"text": "Oi"})
    reply = factories.MessageFactory(
        conversation=conversation,
        created_at=meta_time - timedelta(milliseconds=160),
        direction=Direction.OUTBOUND,
        sender_type="bot",
        content={"text": "Olá! Como posso ajudar?"},
    )
    client = api_for(agent)
    url = f"/api/conversations/{conversation.pk}/messages/"
    assert [m["id"] for m in client.get(url).json()["results"]] == [reply.pk, question.pk]  # newest first
    assert [m["id"] for m in client.get(url, {"after": question.pk}).json()["results"]] == [reply.pk]
    assert [m["id"] for m in client.get(url, {"before": reply.pk}).json()["results"]] == [question.pk]


def test_message_history_query_count_is_constant(api_for, tenant, agent, django_assert_max_num_queries):
    conversation = convo(tenant, assignee=agent)
    factories.MessageFactory.create_batch(3, conversation=conversation, sender=agent)
    client = api_for(agent)
    url = f"/api/conversations/{conversation.pk}/messages/"
    with django_assert_max_num_queries(8) as small:
        client.get(url)
    factories.MessageFactory.create_batch(30, conversation=conversation, sender=agent)
    with django_assert_max_num_queries(len(small.captured_queries)):
        assert len(client.get(url).json()["results"]) == 33


def test_send_text_is_pending_and_idempotent_on_client_id(api_for, tenant, agent):
    conversation = convo(tenant, assignee=agent)
    client = api_for(agent)
    url = f"/api/conversations/{conversation.pk}/messages/"
    first = client.post(url, {"text": "  Hello there ", "client_id": "c-1"}, format="json")
    assert first.status_code == 201, first.content
    body = first.json()
    assert body["status"] == "pending"
    assert body["text"] == "Hello there"
    assert body["direction"] == "outbound" and body["sender"]["id"] == agent.pk
    repeat = client.post(url, {"text": "Hello there", "client_id": "c-1"}, format="json")
    assert repeat.status_code == 200
    assert repeat.json()["id"] == body["id"]
    assert Message.objects.filter(conversation=conversation, direction=Direction.OUTBOUND).count() == 1
    conversation.refresh_from_db()
    assert conversation.last_message_preview == "Hello there"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "text"),
        ({"text": ""}, "text"),
        ({"text": "x" * 4097}, "text"),
        ({"text": "ok", "client_id": "c" * 65}, "client_id"),
    ],
)
def test_send_invalid_payload_is_400_and_stores_nothing(api_for, tenant, agent, payload, field):
    conversation = convo(tenant, assignee=agent)
    response = api_for(agent).post(f"/api/conversations/{conversation.pk}/messages/", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["extra"]["fields"]
    assert not Message.objects.filter(conversation=conversation).exists()


def test_send_to_resolved_conversation_reopens_it(api_for, tenant, agent):
    conversation = convo(tenant, assignee=agent, status=ConversationStatus.RESOLVED)
    api_for(agent).post(f"/api/conversations/{conversation.pk}/messages/", {"text": "hi"}, format="json")
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.OPEN


def test_schema_and_docs(api_for):
    schema = api_for(None).get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/conversations/{id}/assign/" in schema.content
    assert api_for(None).get("/api/docs/").status_code == 200
