"""Inbound WhatsApp messages into the domain: contacts by WhatsApp id, conversations per number,
idempotent on Meta's message id, and the 24-hour customer-service window."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from conversations.media import MEDIA_TYPES
from conversations.models import (
    Attachment,
    Channel,
    Contact,
    Conversation,
    ConversationStatus,
    Direction,
    MediaStatus,
    Message,
    MessageStatus,
    MessageType,
    SenderType,
    WhatsAppAccount,
)
from conversations.services import conversation_record_inbound_locked
from pytake.errors import Conflict, ErrorCode

CUSTOMER_SERVICE_WINDOW = timedelta(hours=24)


def window_closes_at(conversation: Conversation) -> datetime | None:
    """The end of the 24-hour customer-service window (None: the customer never wrote)."""
    if conversation.last_customer_message_at is None:
        return None
    return conversation.last_customer_message_at + CUSTOMER_SERVICE_WINDOW


def whatsapp_window_open(conversation: Conversation, *, at: datetime | None = None) -> bool:
    """Whether free-form messages may be sent: the customer wrote in the last 24 hours."""
    closes = window_closes_at(conversation)
    return closes is not None and (at or timezone.now()) < closes


def refuse_outside_window(conversation: Conversation, message_type: str) -> None:
    """Free-form messages only inside the window; a template may always go."""
    if message_type == MessageType.TEMPLATE:
        return
    if not whatsapp_window_open(conversation):
        raise Conflict(
            "The customer has not written in the last 24 hours, so WhatsApp only accepts a template "
            "message now. Send an approved template to reopen the conversation.",
            code=ErrorCode.OUTSIDE_WINDOW,
            extra={"last_customer_message_at": conversation.last_customer_message_at},
        )


def contact_get_or_create_whatsapp(*, tenant_id: int, wa_id: str, profile_name: str = "") -> Contact:
    """The tenant's contact for ``wa_id``, created if new. Safe under concurrency: the insert is
    conditional on the (tenant, wa_id) unique constraint, and a loser of the race reads the
    winner's row. Updates the WhatsApp profile name when Meta sends a new one."""
    contact = Contact.objects.filter(tenant_id=tenant_id, wa_id=wa_id).first()
    if contact is None:
        try:
            with transaction.atomic():
                contact = Contact.objects.create(
                    tenant_id=tenant_id, wa_id=wa_id, phone=f"+{wa_id}", profile_name=profile_name[:200]
                )
        except IntegrityError:
            contact = Contact.objects.get(tenant_id=tenant_id, wa_id=wa_id)
    _contact_profile_name_update(contact, profile_name)
    return contact


def _contact_profile_name_update(contact: Contact, profile_name: str) -> None:
    if profile_name and contact.profile_name != profile_name[:200]:
        contact.profile_name = profile_name[:200]
        contact.save(update_fields=["profile_name", "updated_at"])


def message_create_inbound(
    *,
    account: WhatsAppAccount,
    wa_id: str,
    profile_name: str,
    wamid: str,
    message_type: str,
    content: dict[str, Any],
    created_at: datetime,
    sender_type: str = SenderType.CONTACT,
) -> tuple[Message, bool]:
    """Save one inbound WhatsApp message; returns ``(message, created)``.

    Idempotent on ``wamid``: Meta redelivers, and the same message can come in two payloads.
    The contact row is locked for the transaction, so concurrent first messages from one new
    contact find (or create) one conversation. The contact's latest conversation on this number
    is reused, and reopened if it was resolved. ``created_at`` is Meta's timestamp: the
    conversation's order and preview follow it, not the order webhooks are processed in.
    """
    with transaction.atomic():
        # The per-contact lock, taken as the contact is read (a new contact is created first).
        contact = Contact.objects.select_for_update().filter(tenant_id=account.tenant_id, wa_id=wa_id).first()
        if contact is None:
            contact = contact_get_or_create_whatsapp(
                tenant_id=account.tenant_id, wa_id=wa_id, profile_name=profile_name
            )
            Contact.objects.select_for_update().filter(pk=contact.pk).get()
        _contact_profile_name_update(contact, profile_name)
        existing = Message.objects.filter(whatsapp_account=account, whatsapp_message_id=wamid).first()
        if existing is not None:
            return existing, False
        conversation = (
            Conversation.objects.select_for_update(of=("self",))
            .select_related("assignee")
            .filter(contact=contact, channel=Channel.WHATSAPP, whatsapp_account=account)
            .order_by("-created_at", "-id")
            .first()
        )
        if conversation is not None:
            conversation.contact = contact  # its events carry the contact: already in hand
        else:
            # Not queued yet: the service flow decides (the bot answers first, then the queue).
            conversation = Conversation.objects.create(
                tenant_id=account.tenant_id,
                contact=contact,
                channel=Channel.WHATSAPP,
                whatsapp_account=account,
                status=ConversationStatus.OPEN,
                last_message_at=created_at,
            )
        message = Message(
            tenant_id=account.tenant_id,
            conversation=conversation,
            direction=Direction.INBOUND,
            sender_type=sender_type,
            type=message_type,
            content=content,
            status=MessageStatus.DELIVERED,
            whatsapp_account=account,
            whatsapp_message_id=wamid,
            created_at=created_at,
            delivered_at=timezone.now(),
        )
        attachment = _pending_attachment(message)  # tied first: message.new carries its media
        message.save()
        if attachment is not None:
            attachment.save()
        conversation_record_inbound_locked(conversation=conversation, message=message)
    return message, True


def _pending_attachment(message: Message) -> Attachment | None:
    """The file of an inbound media message, ``pending`` until the download task has it (what
    Meta declared, until the content is checked)."""
    content = message.content if isinstance(message.content, dict) else {}
    declared = content.get("media")
    if message.type not in MEDIA_TYPES or not isinstance(declared, dict):
        return None
    media_id = str(declared.get("id") or "")
    return Attachment(
        tenant_id=message.tenant_id,
        message=message,
        mime_type=str(declared.get("mime_type") or "")[:128],
        filename=str(declared.get("filename") or "")[:255],
        status=MediaStatus.PENDING if media_id else MediaStatus.FAILED,
        error="" if media_id else "WhatsApp sent no media id for this file.",
        voice=bool(declared.get("voice")),
        animated=bool(declared.get("animated")),
        remote_id=media_id[:128],
    )
