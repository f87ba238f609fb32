"""Conversations the business starts: a customer's number, the WhatsApp number to write from,
and the conversation the first template goes into."""

from __future__ import annotations

import re

from django.db import transaction
from django.utils import timezone

from conversations.models import Channel, Conversation, ConversationStatus, User, WhatsAppAccount
from flow.assignment import conversation_assign
from pytake.errors import Conflict, ErrorCode, InvalidInput
from whatsapp.inbound import contact_resolve_locked

_SEPARATORS = re.compile(r"[\s().\-/]")


def phone_e164(raw: object) -> str:
    """``raw`` as an E.164 number ("+5511987654321"): a leading + (or 00) and country code, then
    8 to 15 digits in all; spaces, dots, dashes and brackets are dropped. ``InvalidInput``
    (``invalid_phone``) otherwise: a number without its country code cannot be told apart."""
    text = _SEPARATORS.sub("", raw.strip()) if isinstance(raw, str) else ""
    if text.startswith("00"):
        text = "+" + text[2:]
    digits = text[1:]
    if not text.startswith("+") or not digits.isdigit() or not (8 <= len(digits) <= 15) or digits[0] == "0":
        raise InvalidInput(
            "Give the phone number in international form, with its country code: +55 11 98765-4321.",
            code=ErrorCode.INVALID_PHONE,
            extra={"fields": {"phone": ["Not a phone number in international form (+ and country code)."]}},
        )
    return "+" + digits


def number_for_start(*, user: User, number_id: int | None) -> WhatsAppAccount:
    """The tenant's WhatsApp number to write from: ``number_id``, or the only active one."""
    if user.tenant_id is None:
        raise InvalidInput("Only a tenant's staff can start conversations.", code=ErrorCode.INVALID)
    numbers = WhatsAppAccount.objects.filter(tenant_id=user.tenant_id, is_active=True).order_by("pk")
    if number_id is not None:
        account = numbers.filter(pk=number_id).first()
        if account is None:  # another tenant's number is as unknown as a missing one
            raise InvalidInput(
                "No such WhatsApp number.",
                code=ErrorCode.INVALID,
                extra={"fields": {"number_id": ["No active WhatsApp number of yours has this id."]}},
            )
        return account
    found = list(numbers[:2])
    if not found:
        raise InvalidInput("There is no active WhatsApp number to write from.", code=ErrorCode.INVALID)
    if len(found) > 1:
        raise InvalidInput(
            "Choose the WhatsApp number to write from.",
            code=ErrorCode.INVALID,
            extra={"fields": {"number_id": ["This field is required: there are several numbers."]}},
        )
    return found[0]


def conversation_start(*, user: User, phone: str, name: str, number_id: int | None) -> Conversation:
    """The contact of ``phone`` (created if new, with ``name``) and its conversation on the
    number, created if it has none. Whoever has it keeps it; nobody's becomes ``user``'s; an
    agent cannot write into another agent's (``already_assigned``, with its id). The contact
    row is locked until the caller's transaction ends, so two agents starting with the same
    number at once get one conversation."""
    e164 = phone_e164(phone)
    account = number_for_start(user=user, number_id=number_id)
    name = name.strip()[:200] if isinstance(name, str) else ""
    with transaction.atomic():
        contact = contact_resolve_locked(tenant_id=account.tenant_id, wa_id=e164[1:])
        if name and not contact.name:
            contact.name = name
            contact.save(update_fields=["name", "updated_at"])
        conversation = (
            Conversation.objects.select_for_update(of=("self",), no_key=True)
            .filter(contact=contact, channel=Channel.WHATSAPP, whatsapp_account=account)
            .order_by("-created_at", "-id")
            .first()
        )
        if conversation is None:
            conversation = Conversation.objects.create(
                tenant_id=account.tenant_id,
                contact=contact,
                channel=Channel.WHATSAPP,
                whatsapp_account=account,
                status=ConversationStatus.OPEN,
                last_message_at=timezone.now(),
            )
        if conversation.assignee_id is None:
            conversation = conversation_assign(conversation=conversation, assignee=user, actor=user)
        elif conversation.assignee_id != user.pk and not user.is_supervisor:
            raise Conflict(
                "This customer's conversation is another agent's.",
                code=ErrorCode.ALREADY_ASSIGNED,
                extra={"conversation_id": conversation.pk},
            )
    return conversation
