"""What the customer is told when something happens to their conversation besides a bot answer."""

from __future__ import annotations

import logging

from django.utils import timezone

from conversations import channels
from conversations.models import (
    Conversation,
    Direction,
    Message,
    MessageStatus,
    MessageType,
    SenderType,
    User,
)
from flow.bot.service import conversation_language
from flow.system_lines import customer_name, customer_text
from pytake.errors import ApplicationError

log = logging.getLogger(__name__)


def agent_joined_locked(*, conversation: Conversation, agent: User) -> Message | None:
    """Tell the customer that ``agent`` has joined ("Um atendente entrou na conversa: Ana."), in
    the conversation's bot language, on its channel (a message like the bot's, sent after
    commit; the widget also clears its place in line on it). None when the channel refuses a
    free-form message now (WhatsApp's 24-hour window closed). Caller holds the lock."""
    try:
        channels.check_outbound(conversation=conversation, message_type=MessageType.TEXT)
    except ApplicationError:
        log.info("Conversation %s: the customer cannot be told an agent joined now", conversation.pk)
        return None
    language = conversation_language(conversation=conversation)
    name = customer_name(agent)
    message = Message.objects.create(
        tenant_id=conversation.tenant_id,
        conversation=conversation,
        direction=Direction.OUTBOUND,
        sender_type=SenderType.BOT,
        type=MessageType.TEXT,
        content={
            "text": customer_text("agent_joined", language, agent_name=name),
            "notice": {"event": "agent_joined", "agent": agent.pk, "agent_name": name},
            "bot": {
                "intent": "agent_joined",
                "kind": "notice",
                "confidence": 1.0,
                "sentiment": 0.0,
                "language": language,
                "engine": "flow",
            },
        },
        status=MessageStatus.PENDING,
        whatsapp_account=conversation.whatsapp_account,
        created_at=timezone.now(),
    )
    channels.dispatch_on_commit(message)
    return message
