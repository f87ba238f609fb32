"""Web chat's implementation of the domain's channel port: the widget is a socket of PyTake's own,
so a message is delivered by its ``message.new`` event and is ``sent`` at once; reads come from
the widget's own ``read`` frames and typing from its socket."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from conversations import services as conversation_services
from conversations.models import Conversation, Message, MessageStatus, User
from conversations.transitions import message_status_can_advance
from pytake.errors import ErrorCode, InvalidInput


class WebchatChannel:
    def send(self, *, message_id: int) -> None:
        with transaction.atomic():
            message = conversation_services.message_lock(message_id)
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

    def template_prepare(self, *, conversation: Conversation, template: Any) -> dict[str, Any]:
        raise InvalidInput("Web chat has no message templates: write a message.", code=ErrorCode.NO_TEMPLATES)

    def conversation_start(self, *, user: User, phone: str, name: str, number_id: int | None) -> Conversation:
        raise InvalidInput(
            "A web chat conversation is started by the visitor.",
            code=ErrorCode.INVALID,
            extra={"fields": {"channel": ["Only whatsapp conversations can be started."]}},
        )
