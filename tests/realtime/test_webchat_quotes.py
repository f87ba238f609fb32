"""A web-chat customer replies to a message (``reply_to`` on the socket's ``message`` action): the
message quotes it, staff and the customer get the quote in ``message.new``, and only a message the
customer sees in their own conversation may be quoted. Anything else is refused and stores nothing.
The file upload's ``reply_to`` is tested with the other web-chat files
(tests/conversations/test_media_webchat.py)."""

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async as db
from django.utils import timezone

from conversations import services
from conversations.models import Channel, Conversation, Direction, Message, SenderType
from realtime.models import Event
from realtime.tokens import WebchatToken
from tests import factories
from tests.ws import command, connect, next_of
from webchat.auth import WebchatCustomer
from webchat.sessions import webchat_state

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("clean_realtime")]


@pytest.fixture
def conversation(tenant, agent, without_flow) -> Conversation:
    return factories.ConversationFactory(tenant=tenant, assignee=agent, channel=Channel.WEBCHAT)


@pytest.fixture
def agents_message(conversation, agent) -> Message:
    message, _ = services.message_create_outbound_text(
        user=agent, conversation_id=conversation.pk, text="Your order ships on Monday."
    )
    return message


async def customer_of(conversation):
    return await connect(str(await db(WebchatToken.for_conversation)(conversation)))


@db
def stored_messages(conversation) -> list[tuple[str, int | None]]:
    return list(Message.objects.filter(conversation=conversation).order_by("pk").values_list("direction", "reply_to"))


@db
def customer_history(conversation) -> list[dict]:
    """The history the widget reads on (re)connecting (``GET /api/webchat/conversation/``)."""
    customer = WebchatCustomer(
        conversation_id=conversation.pk, tenant_id=conversation.tenant_id, contact_id=conversation.contact_id
    )
    return list(webchat_state(customer=customer)["messages"])


async def test_a_customer_quotes_the_agents_message_and_both_sides_see_the_quote(conversation, agent, agents_message):
    staff = await connect(agent)
    await command(staff, action="join", conversation_id=conversation.pk)
    customer = await customer_of(conversation)

    ack = await command(
        customer, action="message", text="Can it come sooner?", client_id="w-q1", reply_to=agents_message.pk
    )
    assert ack["type"] == "ack", ack
    quoted = {
        "id": agents_message.pk,
        "type": "text",
        "direction": "outbound",
        "sender_type": "agent",
        "text": "Your order ships on Monday.",
        "deleted": False,
    }
    stored = await db(Message.objects.get)(pk=ack["data"]["message_id"])
    assert stored.reply_to_id == agents_message.pk

    # The inbox hears it with the quote (what messages.js renders above the bubble)…
    to_staff = await next_of(staff, "message.new")
    assert to_staff["data"]["id"] == stored.pk and to_staff["data"]["reply_to"] == quoted
    # … and so does the customer's own widget, which swaps its pending bubble for this copy.
    to_customer = await next_of(customer, "message.new")
    assert to_customer["data"]["id"] == stored.pk and to_customer["data"]["reply_to"] == quoted
    event = await db(Event.objects.get)(type="message.new", data__id=stored.pk)
    assert event.customer is True and event.data["reply_to"] == quoted

    # The same client_id again is the same message, not a second one.
    again = await command(
        customer, action="message", text="Can it come sooner?", client_id="w-q1", reply_to=agents_message.pk
    )
    assert again["data"]["message_id"] == stored.pk
    # The history the widget reads on (re)connecting shows the quote too.
    history = await customer_history(conversation)
    assert [m["reply_to"] for m in history if m["id"] == stored.pk] == [quoted]
    for socket in (staff, customer):
        await socket.disconnect()


async def test_a_quoted_bot_answer_reaches_the_customer_without_the_bots_scores(conversation):
    @db
    def bot_answer() -> Message:
        return factories.MessageFactory(
            conversation=conversation,
            direction=Direction.OUTBOUND,
            sender_type=SenderType.BOT,
            content={"text": "We open at 9.", "bot": {"intent": "hours", "confidence": 0.93, "sentiment": "neutral"}},
        )

    answer = await bot_answer()
    customer = await customer_of(conversation)
    ack = await command(customer, action="message", text="And on Sundays?", reply_to=answer.pk)
    assert ack["type"] == "ack", ack
    frame = await next_of(customer, "message.new")
    while frame["data"]["id"] != ack["data"]["message_id"]:
        frame = await next_of(customer, "message.new")
    quote = frame["data"]["reply_to"]
    assert quote["id"] == answer.pk and quote["text"] == "We open at 9."
    assert set(quote) == {"id", "type", "direction", "sender_type", "text", "deleted"}  # no content, no scores
    assert "confidence" not in str(frame) and "intent" not in str(frame)
    await customer.disconnect()


@pytest.mark.parametrize(
    "case", ["other_conversation", "other_tenant", "internal_note", "system_line", "deleted", "missing"]
)
async def test_only_a_message_the_customer_sees_in_their_conversation_may_be_quoted(
    conversation, agent, other_tenant, case
):
    @db
    def target() -> int:
        if case == "other_conversation":  # the same tenant's, another customer's chat
            elsewhere = factories.ConversationFactory(tenant=conversation.tenant, channel=Channel.WEBCHAT)
            return factories.MessageFactory(conversation=elsewhere, content={"text": "someone else's"}).pk
        if case == "other_tenant":
            elsewhere = factories.ConversationFactory(tenant=other_tenant, channel=Channel.WEBCHAT)
            return factories.MessageFactory(conversation=elsewhere).pk
        if case == "internal_note":
            return services.note_create(user=agent, conversation_id=conversation.pk, text="VIP, be quick").pk
        if case == "system_line":
            return factories.MessageFactory(
                conversation=conversation, sender_type=SenderType.SYSTEM, direction=Direction.OUTBOUND
            ).pk
        if case == "deleted":
            return factories.MessageFactory(
                conversation=conversation, deleted_at=timezone.now() - timedelta(minutes=1)
            ).pk
        return 10**12

    quoted = await target()
    before = await stored_messages(conversation)
    customer = await customer_of(conversation)
    error = await command(customer, action="message", text="Hi", client_id="w-bad", reply_to=quoted)
    assert (error["type"], error["code"]) == ("error", "invalid"), error
    assert "reply_to" in error["message"]
    assert await stored_messages(conversation) == before
    await customer.disconnect()


@pytest.mark.parametrize("reply_to", ["12", 1.5, True, 0, -3, [1], {"id": 1}])
async def test_a_reply_to_that_is_not_a_message_id_is_refused(conversation, agents_message, reply_to):
    before = await stored_messages(conversation)
    customer = await customer_of(conversation)
    error = await command(customer, action="message", text="Hi", reply_to=reply_to)
    assert (error["type"], error["code"]) == ("error", "invalid"), error
    assert await stored_messages(conversation) == before
    await customer.disconnect()


async def test_an_id_beyond_any_message_is_refused_not_a_crash(conversation):
    customer = await customer_of(conversation)
    error = await command(customer, action="message", text="Hi", reply_to=2**70)
    assert (error["type"], error["code"]) == ("error", "invalid"), error
    assert await stored_messages(conversation) == []
    await customer.disconnect()
