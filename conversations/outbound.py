"""Handing outbound messages (agent and bot replies) to their channel. Call after commit.

Web chat needs no sender: the widget receives ``message.new`` over its socket, so the message is
marked ``sent`` at once. WhatsApp messages go to the WhatsApp send task (wired at merge by
``whatsapp_sender``; until then they stay ``pending``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from conversations.models import Channel, Direction, Message, MessageStatus
from conversations.transitions import message_status_can_advance
from pytake.transactions import on_commit_robust

log = logging.getLogger(__name__)

# Set by the WhatsApp app: ``sender(message_id)`` queues the Graph API send (a Celery task).
whatsapp_sender: Callable[[int], None] | None = None


def dispatch(message: Message) -> None:
    """Send a saved, committed outbound message through its conversation's channel."""
    if message.direction != Direction.OUTBOUND or message.internal or message.status != MessageStatus.PENDING:
        return
    channel = message.conversation.channel
    if channel == Channel.WEBCHAT:
        _mark_sent(message.pk)
    elif channel == Channel.WHATSAPP:
        if whatsapp_sender is None:
            log.warning("No WhatsApp sender is wired: message %s stays pending", message.pk)
            return
        whatsapp_sender(message.pk)


def dispatch_on_commit(message: Message) -> None:
    """``dispatch`` once the current transaction commits (at once outside one)."""
    on_commit_robust(dispatch, message)


def _mark_sent(message_id: int) -> None:
    with transaction.atomic():
        message = Message.objects.select_for_update().select_related("conversation").get(pk=message_id)
        if not message_status_can_advance(message.status, MessageStatus.SENT):
            return
        message.status = MessageStatus.SENT
        message.sent_at = timezone.now()
        message.save(update_fields=["status", "sent_at"])
