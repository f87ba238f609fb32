"""Web chat's implementation of the domain's channel port: the widget is a socket of PyTake's own,
so a message is delivered by its ``message.new`` event and is ``sent`` at once; reads come from
the widget's own ``read`` frames and typing from its socket."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from conversations.models import Conversation, Message, MessageStatus
from conversations.transitions import message_status_can_advance


class WebchatChannel:
    def send(self, *, message_id: int) -> None:
        with transaction.atomic():
            message = Message.objects.select_for_update().select_related("conversation").get(pk=message_id)
            if not message_status_can_advance(message.status, MessageStatus.SENT):
                return
            message.status = MessageStatus.SENT
            message.sent_at = timezone.now()
            message.save(update_fields=["status", "sent_at"])

    def check_outbound(self, *, conversation: Conversation, message_type: str) -> None:
        return None  # no window: the widget takes any message at any time

    def reply_window_closes_at(self, *, conversation: Conversation) -> datetime | None:
        return None

    def mark_read(self, *, conversation: Conversation, messages: list[Message]) -> None:
        return None  # the widget hears ``message.status`` (read) on its socket

    def typing(self, *, conversation_id: int) -> None:
        return None  # the widget hears ``typing`` on its socket

    def fetch_media(self, *, message_id: int) -> None:
        return None  # uploads land in storage directly
