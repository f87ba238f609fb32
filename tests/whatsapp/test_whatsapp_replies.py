"""Agents replying to a message: ``reply_to`` on POST /api/conversations/{id}/messages/, checked
to be a message of the same conversation the customer saw, and sent to WhatsApp with
``context.message_id``; a customer known by a user id only is sent to by it."""

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from conversations import channels
from conversations.models import Direction, Message, MessageStatus, SenderType
from tests import factories
from whatsapp import services

pytestmark = pytest.mark.django_db


class RecordingChannel:
    """A WhatsApp backend that records what it was asked to send (the port's fake)."""

    def __init__(self) -> None:
        self.sent: list[int] = []

    def send(self, *, message_id: int) -> None:
        self.sent.append(message_id)

    def check_outbound(self, *, conversation: Any, message_type: str) -> None:
        return None

    def reply_window_closes_at(self, *, conversation: Any) -> None:
        return None

    def mark_read(self, **kwargs: Any) -> None:
        return None

    def typing(self, **kwargs: Any) -> None:
        return None

    def fetch_media(self, **kwargs: Any) -> None:
        return None


@pytest.fixture
def channel():
    previous = channels.backend_for("whatsapp")
    fake = RecordingChannel()
    channels.register("whatsapp", fake)
    yield fake
    channels.register("whatsapp", previous)


@pytest.fixture
def conversation(tenant, agent):
    account = factories.WhatsAppAccountFactory(tenant=tenant)
    return factories.ConversationFactory(
        tenant=tenant,
        whatsapp_account=account,
        assignee=agent,
        last_customer_message_at=timezone.now() - timedelta(minutes=5),
    )


@pytest.fixture
def customer_said(conversation):
    return factories.MessageFactory(
        conversation=conversation,
        direction=Direction.INBOUND,
        sender_type=SenderType.CONTACT,
        content={"text": "Is the blue one in stock?"},
        whatsapp_message_id="wamid.customer-question",
    )


def post(api_for, user, conversation, **body):
    return api_for(user).post(f"/api/conversations/{conversation.pk}/messages/", body, format="json")


def test_an_agent_replies_to_a_customers_message(api_for, agent, conversation, customer_said, channel):
    response = post(api_for, agent, conversation, text="Yes, it is", reply_to=customer_said.pk)
    assert response.status_code == 201, response.content
    assert response.json()["reply_to"] == {
        "id": customer_said.pk,
        "type": "text",
        "direction": "inbound",
        "sender_type": "contact",
        "text": "Is the blue one in stock?",
        "deleted": False,
    }
    assert Message.objects.get(pk=response.json()["id"]).reply_to_id == customer_said.pk


@pytest.mark.parametrize("case", ["other_conversation", "internal_note", "missing", "other_tenant"])
def test_reply_to_must_be_a_message_of_the_same_conversation(
    api_for, agent, conversation, customer_said, channel, other_tenant, case
):
    if case == "other_conversation":
        elsewhere = factories.ConversationFactory(tenant=conversation.tenant, assignee=agent)
        target = factories.MessageFactory(conversation=elsewhere).pk
    elif case == "internal_note":
        target = factories.MessageFactory(conversation=conversation, internal=True, sender_type=SenderType.AGENT).pk
    elif case == "other_tenant":
        target = factories.MessageFactory(conversation=factories.ConversationFactory(tenant=other_tenant)).pk
    else:
        target = 10**12
    before = Message.objects.count()
    response = post(api_for, agent, conversation, text="Hi", reply_to=target)
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid"
    assert "reply_to" in response.json()["extra"]["fields"]
    assert Message.objects.count() == before and channel.sent == []


def test_another_agent_cannot_reply_in_a_conversation_not_theirs(api_for, agent2, conversation, customer_said):
    response = post(api_for, agent2, conversation, text="Hi", reply_to=customer_said.pk)
    assert response.status_code == 404


def test_reply_to_that_is_not_an_id_is_400(api_for, agent, conversation, channel):
    response = post(api_for, agent, conversation, text="Hi", reply_to="the blue one")
    assert response.status_code == 400 and response.json()["code"] == "invalid"


class RecordingClient:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def send(self, **kwargs: Any) -> str:
        self.calls.append(kwargs)
        return "wamid.sent"


def test_the_reply_goes_to_whatsapp_with_the_quoted_wamid(conversation, customer_said, agent):
    reply = factories.MessageFactory(
        conversation=conversation,
        direction=Direction.OUTBOUND,
        sender_type=SenderType.AGENT,
        sender=agent,
        status=MessageStatus.PENDING,
        content={"text": "Yes, it is"},
        reply_to=customer_said,
    )
    client = RecordingClient()
    services._send_one(client, reply, conversation.contact)  # type: ignore[arg-type]
    [call] = client.calls
    assert call["context_wamid"] == "wamid.customer-question"
    assert call["to"] == conversation.contact.wa_id and call["recipient"] == ""


def test_a_customer_known_by_user_id_only_is_sent_to_by_it(tenant):
    contact = factories.ContactFactory(tenant=tenant, wa_id="", phone="", wa_user_id="BR.1502576394655843")
    conversation = factories.ConversationFactory(
        tenant=tenant, contact=contact, whatsapp_account=factories.WhatsAppAccountFactory(tenant=tenant)
    )
    message = factories.MessageFactory(
        conversation=conversation, direction=Direction.OUTBOUND, sender_type=SenderType.AGENT, content={"text": "Hi"}
    )
    client = RecordingClient()
    services._send_one(client, message, contact)  # type: ignore[arg-type]
    assert (client.calls[0]["to"], client.calls[0]["recipient"]) == ("", "BR.1502576394655843")
