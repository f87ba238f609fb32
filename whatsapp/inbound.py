"""Inbound WhatsApp messages into the domain: contacts by WhatsApp id, conversations per number,
idempotent on Meta's message id, and the 24-hour customer-service window."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from conversations.contacts import contacts_merge_locked
from conversations.media import MEDIA_TYPES
from conversations.models import (
    Attachment,
    AuditAction,
    AuditEntry,
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
from conversations.services import conversation_record_inbound_locked, message_lock, message_preview
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


def contact_resolve_locked(
    *, tenant_id: int, wa_id: str = "", user_id: str = "", username: str = "", profile_name: str = ""
) -> Contact:
    """The tenant's WhatsApp contact named by a phone number (``wa_id``), a business-scoped user
    id (``user_id``) or both, locked for the rest of the caller's transaction; created if new.

    A customer may be known by either: a username hides the number, and an older conversation
    knew only the number. When one delivery names both, the contact found by either learns the
    other; two contacts found (one by number, one by user id) are the same person and are merged
    into the older one. Safe under concurrency: the insert is guarded by the per-tenant unique
    constraints, and a loser of the race reads (and locks) the winner's row.
    """
    if not wa_id and not user_id:
        raise ValueError("A WhatsApp contact needs a phone number or a user id.")
    for _attempt in range(3):
        found = _contacts_named(tenant_id=tenant_id, wa_id=wa_id, user_id=user_id)
        if not found:
            try:
                with transaction.atomic():
                    contact = Contact.objects.create(
                        tenant_id=tenant_id,
                        wa_id=wa_id,
                        wa_user_id=user_id,
                        wa_username=username[:64],
                        phone=f"+{wa_id}" if wa_id else "",
                        profile_name=profile_name[:200],
                    )
            except IntegrityError:
                continue  # another delivery created it first: read theirs
            return Contact.objects.select_for_update().get(pk=contact.pk)
        contact = found[0]
        if len(found) == 2:
            contacts_merge_locked(keep=found[0], other=found[1])
            _merge_audit(contact, found[1].pk)
        try:
            _contact_learn(contact, wa_id=wa_id, user_id=user_id, username=username, profile_name=profile_name)
        except IntegrityError:
            continue  # another delivery just gave the other identifier its own contact: merge it
        return contact
    raise RuntimeError("The WhatsApp contact kept changing while it was being read.")


def _contacts_named(*, tenant_id: int, wa_id: str, user_id: str) -> list[Contact]:
    """The contacts (at most two) with this number or this user id, locked in pk order."""
    named = Q(wa_id=wa_id) if wa_id else Q()
    if user_id:
        named = named | Q(wa_user_id=user_id) if wa_id else Q(wa_user_id=user_id)
    return list(Contact.objects.select_for_update().filter(named, tenant_id=tenant_id).order_by("pk"))


def _merge_audit(contact: Contact, merged_id: int) -> None:
    AuditEntry.objects.create(
        tenant_id=contact.tenant_id,
        actor=None,
        actor_email="whatsapp",
        via="webhook",
        action=AuditAction.MERGE,
        data={"kept": contact.pk, "merged": {"id": merged_id}, "reason": "same WhatsApp customer"},
    )


def _contact_learn(contact: Contact, *, wa_id: str, user_id: str, username: str, profile_name: str) -> None:
    """What a delivery tells of a contact it names: a number or user id it did not have (a user
    id can change: Meta gives a new one with a new number), the username, the profile name."""
    changed = []
    if wa_id and not contact.wa_id:
        contact.wa_id = wa_id
        contact.phone = contact.phone or f"+{wa_id}"
        changed += ["wa_id", "phone"]
    if user_id and contact.wa_user_id != user_id and (not contact.wa_user_id or contact.wa_id == wa_id):
        contact.wa_user_id = user_id
        changed.append("wa_user_id")
    if username and contact.wa_username != username[:64]:
        contact.wa_username = username[:64]
        changed.append("wa_username")
    if profile_name and contact.profile_name != profile_name[:200]:
        contact.profile_name = profile_name[:200]
        changed.append("profile_name")
    if changed:
        with transaction.atomic():  # a savepoint: the caller tries again if the id was just taken
            contact.save(update_fields=[*changed, "updated_at"])


def contact_change_number(*, contact: Contact, new_wa_id: str, new_user_id: str = "") -> Contact:
    """A customer moved to a new number (``system`` ``user_changed_number``): the contact takes
    it, so the next message from the new number continues the same conversations. A contact
    already known by the new number is the same person: merged into this one. Call locked."""
    other = Contact.objects.select_for_update().filter(tenant_id=contact.tenant_id, wa_id=new_wa_id).first()
    if other is not None and other.pk != contact.pk:
        contacts_merge_locked(keep=contact, other=other)
        _merge_audit(contact, other.pk)
    old = contact.wa_id
    contact.wa_id = new_wa_id
    if not contact.phone or contact.phone == f"+{old}":
        contact.phone = f"+{new_wa_id}"
    if new_user_id:
        contact.wa_user_id = new_user_id
    contact.save(update_fields=["wa_id", "phone", "wa_user_id", "updated_at"])
    return contact


def contact_wa_id_resolved(*, contact_id: int, sent_to: str, wa_id: str) -> None:
    """Meta answers a send with the WhatsApp id the number belongs to, which is not always the
    number as written: most Brazilian mobiles registered before the ninth digit keep their old id
    (a send to 5511987654321 goes to 551187654321, and the customer's replies come from it). The
    contact takes that id, so the replies meet its conversation; a contact already known by it
    is the same customer, merged into this one. The number shown (``phone``) stays as written."""
    if not wa_id or not sent_to or wa_id == sent_to:
        return
    tenant_id = Contact.objects.filter(pk=contact_id).values_list("tenant_id", flat=True).first()
    with transaction.atomic():
        named = Q(pk=contact_id, wa_id=sent_to) | Q(tenant_id=tenant_id, wa_id=wa_id)
        locked = list(Contact.objects.select_for_update().filter(named).order_by("pk"))  # the merge's lock order
        contact = next((c for c in locked if c.pk == contact_id), None)
        if contact is None:
            return
        other = next((c for c in locked if c.pk != contact_id), None)
        if other is not None:
            contacts_merge_locked(keep=contact, other=other)
            _merge_audit(contact, other.pk)
        contact.wa_id = wa_id
        contact.save(update_fields=["wa_id", "updated_at"])


def _conversation_for_locked(*, account: WhatsAppAccount, contact: Contact, created_at: datetime) -> Conversation:
    """The contact's latest conversation on this number, locked (created if none)."""
    conversation = (
        Conversation.objects.select_for_update(of=("self",), no_key=True)
        .select_related("assignee")
        .filter(contact=contact, channel=Channel.WHATSAPP, whatsapp_account=account)
        .order_by("-created_at", "-id")
        .first()
    )
    if conversation is not None:
        conversation.contact = contact  # its events carry the contact: already in hand
        return conversation
    # Not queued yet: the service flow decides (the bot answers first, then the queue).
    return Conversation.objects.create(
        tenant_id=account.tenant_id,
        contact=contact,
        channel=Channel.WHATSAPP,
        whatsapp_account=account,
        status=ConversationStatus.OPEN,
        last_message_at=created_at,
    )


def _quoted(account: WhatsAppAccount, content: dict[str, Any]) -> Message | None:
    """The message a reply quotes (its ``context.id``), if it is one of this number's."""
    context = content.get("context")
    wamid = context.get("id") if isinstance(context, dict) else None
    if not isinstance(wamid, str) or not wamid:
        return None
    return Message.objects.filter(whatsapp_account=account, whatsapp_message_id=wamid).first()


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
    user_id: str = "",
    username: str = "",
    echo: bool = False,
) -> tuple[Message, bool]:
    """Save one inbound WhatsApp message; returns ``(message, created)``.

    Idempotent on ``wamid``: Meta redelivers, and the same message can come in two payloads.
    The contact row is locked for the transaction, so concurrent first messages from one new
    contact find (or create) one conversation. The contact's latest conversation on this number
    is reused, and reopened if it was resolved. ``created_at`` is Meta's timestamp: the
    conversation's order and preview follow it, not the order webhooks are processed in.

    With ``echo``, the message is one the business sent from the WhatsApp Business app on its
    phone: stored as outbound and ``sent`` (nothing is sent again), not read as the customer's.
    """
    with transaction.atomic():
        contact = contact_resolve_locked(
            tenant_id=account.tenant_id, wa_id=wa_id, user_id=user_id, username=username, profile_name=profile_name
        )
        existing = Message.objects.filter(whatsapp_account=account, whatsapp_message_id=wamid).first()
        if existing is not None:
            return existing, False
        conversation = _conversation_for_locked(account=account, contact=contact, created_at=created_at)
        if echo:
            content = {**content, "from_phone": True}
        message = Message(
            tenant_id=account.tenant_id,
            conversation=conversation,
            direction=Direction.OUTBOUND if echo else Direction.INBOUND,
            sender_type=SenderType.AGENT if echo else sender_type,
            type=message_type,
            content=content,
            status=MessageStatus.SENT if echo else MessageStatus.DELIVERED,
            whatsapp_account=account,
            whatsapp_message_id=wamid,
            created_at=created_at,
            sent_at=created_at if echo else None,
            delivered_at=None if echo else timezone.now(),
            reply_to=_quoted(account, content),
        )
        attachment = _pending_attachment(message)  # tied first: message.new carries its media
        message.save()
        if attachment is not None:
            attachment.save()
        if echo:
            if created_at >= conversation.last_message_at:
                conversation.last_message_at = created_at
                conversation.last_message_preview = message_preview(message)
                conversation.save(update_fields=["last_message_at", "last_message_preview", "updated_at"])
        else:
            conversation_record_inbound_locked(conversation=conversation, message=message)
    return message, True


def _target(account: WhatsAppAccount, wamid: str) -> Message | None:
    """The message a reaction, edit or revoke names, locked; ``None`` if this number has none."""
    if not wamid:
        return None
    found = (
        Message.objects.filter(whatsapp_account=account, whatsapp_message_id=wamid).values_list("pk", flat=True).first()
    )
    return None if found is None else message_lock(found)


def message_react(*, account: WhatsAppAccount, target_wamid: str, emoji: str, at: datetime, by: str) -> Message | None:
    """A reaction to a message: one per reactor (``by``: "contact" or "agent"), replaced by a newer
    one, removed by an empty emoji (``message.updated``; the serializer shows the non-empty ones). It is not a message of its own: no
    bubble, no unread count, nothing for the bot. A reaction older than the one kept is stale
    (deliveries come out of order) and changes nothing. ``None``: no such message here."""
    with transaction.atomic():
        message = _target(account, target_wamid)
        if message is None:
            return None
        kept = [r for r in message.reactions or [] if isinstance(r, dict)]
        mine = next((r for r in kept if r.get("by") == by), None)
        if mine is not None and str(mine.get("at", "")) > at.isoformat():
            return message
        # A removal is kept as an empty emoji (not shown), so that a reaction older than it,
        # delivered late, is known to be stale.
        reactions = [r for r in kept if r.get("by") != by]
        reactions.append({"emoji": emoji, "by": by, "at": at.isoformat()})
        if reactions != kept:
            message.reactions = reactions
            message.save(update_fields=["reactions"])
    return message


def message_edit(
    *, account: WhatsAppAccount, target_wamid: str, edit_wamid: str, text: str, at: datetime
) -> Message | None:
    """The customer edited a message: its text becomes the new one, each earlier text is kept in
    ``content.edits`` (``message.updated``). The same edit delivered twice applies once."""
    with transaction.atomic():
        message = _target(account, target_wamid)
        if message is None:
            return None
        content = dict(message.content) if isinstance(message.content, dict) else {}
        edits = [e for e in content.get("edits") or [] if isinstance(e, dict)]
        if any(e.get("wamid") == edit_wamid for e in edits):
            return message
        field = "caption" if message.type in MEDIA_TYPES else "text"
        edits.append({"wamid": edit_wamid, "text": str(content.get(field) or ""), "at": at.isoformat()})
        content["edits"] = edits
        content[field] = text
        message.content = content
        message.edited_at = at
        message.save(update_fields=["content", "edited_at"])
        _preview_follow_edit(message)
    return message


def _preview_follow_edit(message: Message) -> None:
    """The inbox list shows the conversation's newest message: if that is the one edited, its new text."""
    if Message.objects.filter(conversation_id=message.conversation_id, pk__gt=message.pk, internal=False).exists():
        return
    conversation = Conversation.objects.select_for_update(of=("self",), no_key=True).select_related(
        "contact", "assignee"
    )
    locked = conversation.get(pk=message.conversation_id)
    preview = message_preview(message)
    if locked.last_message_preview != preview:
        locked.last_message_preview = preview
        locked.save(update_fields=["last_message_preview", "updated_at"])


def message_revoke(*, account: WhatsAppAccount, target_wamid: str, at: datetime) -> Message | None:
    """The customer deleted a message for everyone: it is marked deleted (``message.updated``);
    its content stays for the audit trail, and the inbox hides it unless staff ask to see it."""
    with transaction.atomic():
        message = _target(account, target_wamid)
        if message is None:
            return None
        if message.deleted_at is None:
            message.deleted_at = at
            message.save(update_fields=["deleted_at"])
    return message


def contact_marketing_preference(
    *, account: WhatsAppAccount, wa_id: str, user_id: str, stop: bool, at: datetime
) -> Contact:
    """Record a customer's marketing preference (``user_preferences``): ``stop`` opts them out of
    marketing messages, ``resume`` back in. An older preference than the one kept changes nothing."""
    with transaction.atomic():
        contact = contact_resolve_locked(tenant_id=account.tenant_id, wa_id=wa_id, user_id=user_id)
        if contact.marketing_opt_out_at is None or at >= contact.marketing_opt_out_at:
            contact.marketing_opt_out = stop
            contact.marketing_opt_out_at = at
            contact.save(update_fields=["marketing_opt_out", "marketing_opt_out_at", "updated_at"])
    return contact


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
