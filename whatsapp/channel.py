"""WhatsApp's implementation of the domain's channel port (``conversations.channels``): messages
leave through the Graph API send task, reads and typing become Meta's mark-as-read call, and free
text is refused outside the 24-hour window. Registered by ``WhatsappConfig.ready()``."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.core.cache import cache

from conversations.models import Channel, Conversation, Direction, Message, User
from whatsapp import outreach, tasks, templates
from whatsapp.inbound import refuse_outside_window, window_closes_at

log = logging.getLogger(__name__)

TYPING_INTERVAL_SECONDS = 20  # Meta shows the indicator for up to 25 s; refresh a bit before.


def typing_indicator_send(*, conversation_id: int) -> bool:
    """An agent is typing in a WhatsApp conversation: show "typing…" on the customer's phone.

    For the real-time consumer to call on every typing frame: at most one Graph API call per
    conversation every ``TYPING_INTERVAL_SECONDS`` (the cache keeps the rate limit across
    processes with Redis). Returns whether a call was enqueued. Meta's typing indicator is part
    of the mark-as-read call, so it needs an inbound message to refer to.
    """
    key = f"wa-typing:{conversation_id}"
    if not cache.add(key, 1, timeout=TYPING_INTERVAL_SECONDS):
        return False
    conversation = (
        Conversation.objects.filter(pk=conversation_id, channel=Channel.WHATSAPP, whatsapp_account__isnull=False)
        .only("whatsapp_account_id")
        .first()
    )
    if conversation is None or conversation.whatsapp_account_id is None:
        return False
    wamid = (
        Message.objects.filter(
            conversation_id=conversation_id, direction=Direction.INBOUND, whatsapp_message_id__isnull=False
        )
        .order_by("-id")
        .values_list("whatsapp_message_id", flat=True)
        .first()
    )
    if not wamid:
        return False
    tasks.typing_indicator_enqueue(account_id=conversation.whatsapp_account_id, wamid=wamid)
    return True


class WhatsAppChannel:
    def send(self, *, message_id: int) -> None:
        tasks.message_send_enqueue(message_id=message_id)

    def check_outbound(self, *, conversation: Conversation, message_type: str) -> None:
        refuse_outside_window(conversation, message_type)

    def reply_window_closes_at(self, *, conversation: Conversation) -> datetime | None:
        return window_closes_at(conversation)

    def mark_read(self, *, conversation: Conversation, messages: list[Message]) -> None:
        # Marking the newest inbound message read marks the earlier ones too.
        wamid = next((m.whatsapp_message_id for m in reversed(messages) if m.whatsapp_message_id), None)
        if conversation.whatsapp_account_id and wamid:
            tasks.mark_read_enqueue(account_id=conversation.whatsapp_account_id, wamid=wamid)

    def typing(self, *, conversation_id: int) -> None:
        try:
            typing_indicator_send(conversation_id=conversation_id)
        except Exception:  # best effort: never fails the agent's typing frame
            log.warning("WhatsApp typing indicator failed for conversation %s", conversation_id, exc_info=True)

    def fetch_media(self, *, message_id: int) -> None:
        tasks.media_download_enqueue(message_id=message_id)

    def template_prepare(self, *, conversation: Conversation, template: Any) -> dict[str, Any]:
        return templates.template_prepare(
            account=conversation.whatsapp_account, spec=template, contact=conversation.contact
        )

    def conversation_start(self, *, user: User, phone: str, name: str, number_id: int | None) -> Conversation:
        return outreach.conversation_start(user=user, phone=phone, name=name, number_id=number_id)
