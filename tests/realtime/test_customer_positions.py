"""A web-chat customer's socket: positions in their own conversation, never the tenant's event ids
(which would tell a stranger how busy the business is), and messages without what only staff read
(what the bot understood and how sure it was; agents' user ids)."""

import pytest
from channels.db import database_sync_to_async as db
from rest_framework.test import APIClient

from conversations.models import Channel, Conversation, Direction, Message, SenderType
from realtime.models import Event
from tests import factories
from tests.ws import command, connect, next_of

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("clean_realtime")]


@db
def open_widget(tenant, name):
    response = APIClient().post("/api/webchat/sessions/", {"tenant": tenant.slug, "name": name}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


@db
def bot_answer(conversation_id, text):
    """A bot's answer as the flow stores it: with what it understood, for staff."""
    conversation = Conversation.objects.get(pk=conversation_id)
    return Message.objects.create(
        tenant_id=conversation.tenant_id,
        conversation=conversation,
        direction=Direction.OUTBOUND,
        sender_type=SenderType.BOT,
        content={"text": text, "bot": {"intent": "business_hours", "confidence": 0.93, "sentiment": "neutral"}},
    )


@db
def logged(message_id):
    """The tenant event id and the conversation seq of a message's ``message.new``."""
    event = Event.objects.get(type="message.new", data__id=message_id)
    return event.seq, event.conversation_seq


@db
def busy_elsewhere(tenant, count):
    """Other conversations of the tenant, each with a message: the tenant's event ids move on."""
    for _ in range(count):
        factories.MessageFactory(conversation=factories.ConversationFactory(tenant=tenant, channel=Channel.WHATSAPP))


async def test_a_customer_counts_in_their_conversation_and_never_sees_the_bots_scores(tenant):
    widget = await open_widget(tenant, "Maria")
    customer = await connect(widget["token"])
    assert customer.hello["data"]["last_event_id"] == 0  # nothing of theirs yet, however busy the tenant

    await busy_elsewhere(tenant, 5)
    answer = await bot_answer(widget["conversation_id"], "Abrimos às 9h.")
    live = await next_of(customer, "message.new")
    assert live["data"]["text"] == "Abrimos às 9h."
    assert "bot" not in live["data"]["content"]
    first = live["id"]
    tenant_id, conversation_seq = await logged(answer.pk)
    assert first == conversation_seq != tenant_id  # the conversation's seq, not the tenant's event id

    await busy_elsewhere(tenant, 5)
    await bot_answer(widget["conversation_id"], "Posso ajudar em algo mais?")
    second = await next_of(customer, "message.new")
    assert second["id"] > first
    assert second["id"] - first < 5  # the other conversations' events left no trace in it
    assert "bot" not in second["data"]["content"]

    # The REST state the widget reads on (re)connecting says no more.
    state = await db(APIClient(HTTP_AUTHORIZATION=f"Bearer {widget['token']}").get)("/api/webchat/conversation/")
    assert state.status_code == 200
    assert all("bot" not in m["content"] for m in state.json()["messages"])

    # A resume from the first position replays the second answer only, in the customer's form.
    await customer.disconnect()
    customer = await connect(widget["token"])
    assert customer.hello["data"]["last_event_id"] == second["id"]
    reply = await command(customer, action="resume", last_event_id=first)
    assert reply["type"] == "ack", reply
    assert reply["data"]["last_event_id"] == second["id"]
    replayed = [f for f in customer.skipped if f.get("type") == "message.new"]
    assert [f["id"] for f in replayed if f["id"] > first] == [second["id"]]
    assert all("bot" not in f["data"]["content"] for f in replayed)
    await customer.disconnect()


async def test_an_agents_message_reaches_the_customer_with_the_agents_name_only(tenant, agent):
    widget = await open_widget(tenant, "Maria")
    customer = await connect(widget["token"])

    @db
    def reply():
        conversation = Conversation.objects.get(pk=widget["conversation_id"])
        return factories.MessageFactory(
            conversation=conversation, direction=Direction.OUTBOUND, sender_type=SenderType.AGENT, sender=agent
        )

    await reply()
    frame = await next_of(customer, "message.new")
    assert frame["data"]["sender"] == {"name": agent.get_full_name()}
    await customer.disconnect()


async def test_a_position_the_conversation_never_reached_is_a_resync(tenant):
    await busy_elsewhere(tenant, 3)
    widget = await open_widget(tenant, "Maria")
    customer = await connect(widget["token"])
    await bot_answer(widget["conversation_id"], "Oi!")
    live = await next_of(customer, "message.new")

    reply = await command(customer, action="resume", last_event_id=live["id"] + 1000)
    assert reply["type"] == "resync"
    assert reply["data"] == {"reason": "unknown_position", "last_event_id": live["id"]}
    await customer.disconnect()
