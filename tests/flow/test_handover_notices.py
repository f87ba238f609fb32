"""What the customer is told follows what happens: out of hours with an agent free, the agent
answers (no "we're closed"); a human taking over is announced on the conversation's channel in
the customer's language; the widget's place in line goes when the queue ticket does."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from conversations import channels, services
from conversations.models import Availability, Channel, Conversation, Message, SenderType, User
from flow import assignment, queue
from flow import services as flow
from flow.bot.defaults import bot_seed_defaults
from flow.bot.models import BotSettings
from pytake.errors import ErrorCode, InvalidInput
from realtime import groups
from tests import factories
from tests.flow_helpers import eager_celery, recorded_publishes, webchat_conversation  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]

CLOSED = {day: [] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


@pytest.fixture(autouse=True)
def _everyone_online() -> Iterator[None]:
    queue.set_presence_provider(
        lambda tenant_id: set(User.objects.filter(tenant_id=tenant_id).values_list("pk", flat=True))
    )
    yield
    queue.set_presence_provider(queue.realtime_presence)


@pytest.fixture
def closed_bot(tenant: Any) -> BotSettings:
    bot_seed_defaults(tenant=tenant)
    BotSettings.objects.filter(tenant=tenant).update(business_hours=CLOSED)
    return BotSettings.objects.get(tenant=tenant)


class FakeWhatsApp:
    """Records what the flow sends; refuses free text when ``window_open`` is False."""

    def __init__(self) -> None:
        self.sent: list[int] = []
        self.window_open = True

    def send(self, *, message_id: int) -> None:
        self.sent.append(message_id)

    def check_outbound(self, *, conversation: Conversation, message_type: str) -> None:
        if not self.window_open:
            raise InvalidInput("Window closed.", code=ErrorCode.OUTSIDE_WINDOW)

    def reply_window_closes_at(self, *, conversation: Conversation) -> datetime | None:
        return None

    def mark_read(self, *, conversation: Conversation, messages: list[Message]) -> None:
        return None

    def typing(self, *, conversation_id: int) -> None:
        return None

    def fetch_media(self, *, message_id: int) -> None:
        return None


@pytest.fixture
def fake_whatsapp() -> Iterator[FakeWhatsApp]:
    real = channels._backends.get(Channel.WHATSAPP)
    fake = FakeWhatsApp()
    channels.register(Channel.WHATSAPP, fake)
    yield fake
    if real is not None:
        channels.register(Channel.WHATSAPP, real)


def say(conversation: Conversation, text: str, capture: Any) -> None:
    with capture(execute=True):
        services.message_create_webchat(conversation_id=conversation.pk, text=text, client_id=None)
    conversation.refresh_from_db()


def bot_messages(conversation: Conversation) -> list[Message]:
    return list(Message.objects.filter(conversation=conversation, sender_type=SenderType.BOT).order_by("id"))


def test_out_of_hours_with_an_agent_free_the_agent_answers(
    closed_bot, tenant, agent, django_capture_on_commit_callbacks
):
    conversation = webchat_conversation(tenant)
    say(conversation, "quero falar com um humano", django_capture_on_commit_callbacks)
    assert conversation.assignee_id == agent.pk  # assigned at once, closed hours or not
    handoff, joined = bot_messages(conversation)
    assert handoff.content["bot"]["kind"] == "handoff"
    assert "fora do horário" not in handoff.text
    assert handoff.text == "Certo, vou chamar um atendente para você."
    first_name = agent.name.split()[0]
    assert joined.text == f"Um atendente entrou na conversa: {first_name}."
    assert joined.content["notice"] == {"event": "agent_joined", "agent": agent.pk, "agent_name": first_name}
    assert not joined.internal and joined.status == "sent"  # web chat: the widget has it


def test_out_of_hours_with_nobody_free_says_closed_and_queues(
    closed_bot, tenant, agent, django_capture_on_commit_callbacks
):
    agent.availability = Availability.AWAY
    agent.save()
    conversation = webchat_conversation(tenant)
    say(conversation, "falar com atendente", django_capture_on_commit_callbacks)
    assert conversation.assignee_id is None and conversation.queued_at is not None
    (handoff,) = bot_messages(conversation)
    assert "fora do horário" in handoff.text


def test_escalation_by_mood_out_of_hours_does_not_promise_an_agent_now(
    closed_bot, tenant, agent, django_capture_on_commit_callbacks
):
    agent.availability = Availability.AWAY
    agent.save()
    conversation = webchat_conversation(tenant)
    say(conversation, "Isso é um absurdo, atendimento péssimo!", django_capture_on_commit_callbacks)
    (reply,) = bot_messages(conversation)
    assert reply.content["bot"]["escalation"] == "negative_sentiment"
    assert "fora do horário" in reply.text


def test_whatsapp_customer_is_told_in_their_language_through_the_channel(
    tenant, agent, fake_whatsapp, django_capture_on_commit_callbacks
):
    conversation = factories.ConversationFactory(tenant=tenant, channel=Channel.WHATSAPP)
    # The bot has been speaking English with this customer.
    factories.MessageFactory(
        tenant=tenant,
        conversation=conversation,
        direction="outbound",
        sender_type=SenderType.BOT,
        content={"text": "Hello!", "bot": {"language": "en", "kind": "greeting"}},
        status="sent",
    )
    with django_capture_on_commit_callbacks(execute=True):
        assignment.conversation_assign(conversation=conversation, assignee=agent, actor=agent)
    notice = bot_messages(conversation)[-1]
    assert notice.text == f"An agent has joined: {agent.name.split()[0]}."
    assert fake_whatsapp.sent == [notice.pk]  # it left through the conversation's channel


def test_no_notice_when_the_channel_refuses_free_text(tenant, agent, fake_whatsapp, django_capture_on_commit_callbacks):
    fake_whatsapp.window_open = False  # WhatsApp's 24-hour window closed
    conversation = factories.ConversationFactory(tenant=tenant, channel=Channel.WHATSAPP)
    with django_capture_on_commit_callbacks(execute=True):
        assignment.conversation_assign(conversation=conversation, assignee=agent, actor=agent)
    assert bot_messages(conversation) == []
    assert fake_whatsapp.sent == []
    conversation.refresh_from_db()
    assert conversation.assignee_id == agent.pk  # the assignment itself stands


def test_the_place_in_line_goes_with_the_queue_ticket(tenant, agent, monkeypatch, django_capture_on_commit_callbacks):
    agent.availability = Availability.AWAY
    agent.save()
    waiting = [webchat_conversation(tenant) for _ in range(2)]
    with recorded_publishes(monkeypatch) as sent:
        for conversation in waiting:
            with django_capture_on_commit_callbacks(execute=True):
                flow.queue_request_human(conversation=conversation, reason="requested")
        with django_capture_on_commit_callbacks(execute=True):
            assignment.conversation_resolve(conversation=waiting[0], actor=None)
        with django_capture_on_commit_callbacks(execute=True):
            assignment.conversation_assign(conversation=waiting[1], assignee=agent, actor=agent)
    left = [(routes, m["frame"]["data"]) for routes, m in sent if m["event_type"] == "queue.left"]
    assert left == [
        ([groups.webchat(waiting[0].pk)], {"outcome": "resolved"}),
        ([groups.webchat(waiting[1].pk)], {"outcome": "assigned"}),
    ]
