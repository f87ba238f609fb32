"""REST endpoints of the service flow: web-chat sessions, notes, queue, broadcast, agent load.
Each with its cross-tenant case, and agent-on-another-agent's-conversation where it applies."""

from __future__ import annotations

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from conversations.models import Channel, Contact, Conversation, ConversationStatus, Message, SenderType
from realtime.models import Event
from realtime.tokens import WebchatToken
from tests import factories
from tests.flow_helpers import eager_celery, webchat_conversation  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]


def start(tenant_slug, name="Maria", session=None, client=None):
    body = {"tenant": tenant_slug, "name": name}
    if session is not None:
        body["session"] = session
    return (client or APIClient()).post("/api/webchat/sessions/", body, format="json")


def as_customer(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


# --- web-chat sessions ----------------------------------------------------------------------------


def test_session_creates_a_webchat_conversation_and_a_scoped_token(tenant):
    response = start(tenant.slug, "Maria Silva")
    assert response.status_code == 201, response.content
    body = response.json()
    conversation = Conversation.objects.get(pk=body["conversation_id"])
    assert conversation.tenant_id == tenant.pk and conversation.channel == Channel.WEBCHAT
    assert conversation.contact.name == "Maria Silva"
    token = WebchatToken(body["token"])
    assert (token["conversation_id"], token["tenant_id"]) == (conversation.pk, tenant.pk)


def test_session_continues_with_a_held_token(tenant):
    first = start(tenant.slug).json()
    again = start(tenant.slug, session=first["token"])
    assert again.status_code == 201
    assert again.json()["conversation_id"] == first["conversation_id"]
    assert Conversation.objects.filter(tenant=tenant).count() == 1


def test_session_of_another_tenant_cannot_be_continued(tenant, other_tenant):
    first = start(tenant.slug).json()
    response = start(other_tenant.slug, session=first["token"])
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_session"
    assert not Conversation.objects.filter(tenant=other_tenant).exists()


@pytest.mark.parametrize("session", ["garbage", "a.b.c"])
def test_session_with_a_bad_token_is_refused(tenant, session):
    response = start(tenant.slug, session=session)
    assert response.status_code == 400 and response.json()["code"] == "invalid_session"


def test_staff_access_token_is_not_a_webchat_session(tenant, agent):
    from tests.conftest import access_token_for

    response = start(tenant.slug, session=access_token_for(agent))
    assert response.status_code == 400 and response.json()["code"] == "invalid_session"


def test_session_unknown_or_inactive_tenant_is_404(tenant):
    assert start("no-such-tenant").status_code == 404
    tenant.is_active = False
    tenant.save()
    response = start(tenant.slug)
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert not Contact.objects.exists()


def test_session_requires_a_name(tenant):
    response = APIClient().post("/api/webchat/sessions/", {"tenant": tenant.slug}, format="json")
    assert response.status_code == 400
    assert "name" in response.json()["extra"]["fields"]


def test_session_creation_is_throttled(tenant, settings):
    from rest_framework.settings import api_settings

    rates = {**api_settings.DEFAULT_THROTTLE_RATES, "webchat_session": "2/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    from webchat.views import WebchatSessionThrottle

    WebchatSessionThrottle.THROTTLE_RATES = rates
    try:
        codes = [start(tenant.slug).status_code for _ in range(3)]
    finally:
        WebchatSessionThrottle.THROTTLE_RATES = api_settings.DEFAULT_THROTTLE_RATES
    assert codes == [201, 201, 429]
    assert Conversation.objects.filter(tenant=tenant).count() == 2


def test_webchat_token_reads_only_its_own_conversation(tenant, agent, django_capture_on_commit_callbacks):
    mine = start(tenant.slug).json()
    other = start(tenant.slug, "John").json()
    from conversations import services

    services.message_create_webchat(conversation_id=other["conversation_id"], text="secret", client_id=None)
    conversation = Conversation.objects.get(pk=mine["conversation_id"])
    factories.MessageFactory(conversation=conversation, content={"text": "hello"})
    factories.MessageFactory(
        conversation=conversation, internal=True, direction="outbound", sender_type="agent", content={"text": "note"}
    )
    body = as_customer(mine["token"]).get("/api/webchat/conversation/").json()
    assert body["conversation_id"] == mine["conversation_id"]
    assert [m["text"] for m in body["messages"]] == ["hello"]  # no internal note, nothing of John's
    # The web-chat token opens no staff endpoint.
    customer = as_customer(mine["token"])
    assert customer.get(f"/api/conversations/{mine['conversation_id']}/").status_code == 401
    assert customer.get("/api/queue/").status_code == 401
    # And a staff token is not a web-chat session.
    from tests.conftest import access_token_for

    assert as_customer(access_token_for(agent)).get("/api/webchat/conversation/").status_code == 401
    assert APIClient().get("/api/webchat/conversation/").status_code in (401, 403)


def test_webchat_state_shows_the_queue_position(tenant):
    first = webchat_conversation(tenant, queued_at=timezone.now())
    mine = start(tenant.slug).json()
    conversation = Conversation.objects.get(pk=mine["conversation_id"])
    conversation.queued_at = timezone.now()
    conversation.save()
    body = as_customer(mine["token"]).get("/api/webchat/conversation/").json()
    assert body["queue"]["position"] == 2
    assert first.pk != conversation.pk


def test_widget_page(client, tenant):
    response = client.get(f"/chat/{tenant.slug}/")
    assert response.status_code == 200
    assert tenant.name.encode() in response.content
    assert b"webchat/widget.js" in response.content
    assert client.get("/chat/no-such-tenant/").status_code == 404


# --- internal notes -------------------------------------------------------------------------------


def test_note_is_internal_and_never_for_the_customer(api_for, tenant, agent):
    conversation = webchat_conversation(tenant, assignee=agent)
    response = api_for(agent).post(f"/api/conversations/{conversation.pk}/notes/", {"text": "VIP"}, format="json")
    assert response.status_code == 201, response.content
    note = Message.objects.get(pk=response.json()["id"])
    assert note.internal and note.sender_id == agent.pk and note.status == "sent"
    event = Event.objects.get(type="message.new", data__id=note.pk)
    assert event.customer is False  # the widget never receives it
    # Staff see it marked as a note, live and in the history, so the inbox can render it as one.
    assert response.json()["internal"] is True and event.data["internal"] is True
    history = api_for(agent).get(f"/api/conversations/{conversation.pk}/messages/").json()["results"]
    assert next(m for m in history if m["id"] == note.pk)["internal"] is True
    conversation.refresh_from_db()
    assert conversation.last_message_preview != "VIP"


@pytest.mark.parametrize("who", ["foreign_admin", "agent2"])
def test_note_on_a_conversation_you_cannot_see_is_404(request, api_for, tenant, agent, who):
    conversation = factories.ConversationFactory(tenant=tenant, assignee=agent)
    user = request.getfixturevalue(who)
    response = api_for(user).post(f"/api/conversations/{conversation.pk}/notes/", {"text": "x"}, format="json")
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert not Message.objects.filter(conversation=conversation).exists()


def test_empty_note_is_400(api_for, tenant, agent):
    conversation = factories.ConversationFactory(tenant=tenant, assignee=agent)
    response = api_for(agent).post(f"/api/conversations/{conversation.pk}/notes/", {"text": "  "}, format="json")
    assert response.status_code == 400
    assert not Message.objects.filter(conversation=conversation).exists()


# --- queue ----------------------------------------------------------------------------------------


def test_queue_lists_waiting_conversations_in_order(api_for, tenant, agent, other_tenant, foreign_admin):
    now = timezone.now()
    older = webchat_conversation(tenant, queued_at=now - timezone.timedelta(minutes=5))
    newer = webchat_conversation(tenant, queued_at=now - timezone.timedelta(minutes=1))
    webchat_conversation(tenant, queued_at=now, assignee=agent)  # taken: not waiting
    webchat_conversation(tenant, queued_at=now, status=ConversationStatus.RESOLVED)  # not waiting
    foreign = webchat_conversation(other_tenant, queued_at=now)
    body = api_for(agent).get("/api/queue/").json()
    assert body["size"] == 2
    assert [(r["conversation"]["id"], r["position"]) for r in body["results"]] == [(older.pk, 1), (newer.pk, 2)]
    assert body["results"][0]["waiting_seconds"] >= 299
    assert body["results"][1]["estimated_wait_seconds"] > body["results"][0]["estimated_wait_seconds"]
    theirs = api_for(foreign_admin).get("/api/queue/").json()
    assert [r["conversation"]["id"] for r in theirs["results"]] == [foreign.pk]


def test_queue_needs_staff(tenant):
    assert APIClient().get("/api/queue/").status_code == 401


# --- broadcast ------------------------------------------------------------------------------------


def test_supervisor_broadcasts_to_own_tenant(api_for, tenant, supervisor):
    response = api_for(supervisor).post("/api/broadcast/", {"text": "Fila cheia, todos no chat!"}, format="json")
    assert response.status_code == 201, response.content
    event = Event.objects.get(type="broadcast")
    assert event.tenant_id == tenant.pk and event.seq == response.json()["event_id"]
    assert event.data == {"text": "Fila cheia, todos no chat!", "from": {"id": supervisor.pk, "name": supervisor.name}}
    assert event.audience == "staff" and event.assignee_id is None


def test_agents_cannot_broadcast(api_for, agent):
    response = api_for(agent).post("/api/broadcast/", {"text": "hi all"}, format="json")
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    assert not Event.objects.filter(type="broadcast").exists()


def test_broadcast_never_reaches_another_tenant(api_for, tenant, foreign_admin):
    api_for(foreign_admin).post("/api/broadcast/", {"text": "other news"}, format="json")
    assert not Event.objects.filter(type="broadcast", tenant=tenant).exists()


def test_empty_broadcast_is_400(api_for, supervisor):
    assert api_for(supervisor).post("/api/broadcast/", {"text": ""}, format="json").status_code == 400


# --- agents with load -----------------------------------------------------------------------------


def test_agents_show_open_conversation_count(api_for, tenant, agent, agent2, supervisor, foreign_admin):
    for status in (ConversationStatus.OPEN, ConversationStatus.PENDING, ConversationStatus.RESOLVED):
        factories.ConversationFactory(tenant=tenant, assignee=agent, status=status)
    rows = {r["id"]: r for r in api_for(supervisor).get("/api/agents/").json()}
    assert rows[agent.pk]["open_conversations"] == 2
    assert rows[agent2.pk]["open_conversations"] == 0
    assert "presence" in rows[agent.pk]
    foreign_ids = {r["id"] for r in api_for(foreign_admin).get("/api/agents/").json()}
    assert agent.pk not in foreign_ids


def test_bot_messages_store_sender_type_bot(tenant, django_capture_on_commit_callbacks):
    from conversations import services

    conversation = webchat_conversation(tenant)
    with django_capture_on_commit_callbacks(execute=True):
        services.message_create_webchat(conversation_id=conversation.pk, text="hello", client_id=None)
    assert Message.objects.filter(conversation=conversation, sender_type=SenderType.BOT).exists()


def test_webchat_message_on_a_whatsapp_conversation_is_refused(tenant):
    from conversations import services
    from pytake.errors import NotFound

    conversation = factories.ConversationFactory(tenant=tenant)
    with pytest.raises(NotFound):
        services.message_create_webchat(conversation_id=conversation.pk, text="hi", client_id=None)
