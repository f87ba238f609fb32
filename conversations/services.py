"""Writes. Each service owns its transaction and locks the conversation it changes.

State changes go through ``Model.save()`` so that the real-time publish path (``post_save``)
sees every one of them; never ``QuerySet.update()`` for a change a browser must learn about.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from conversations import audit, queue
from conversations.models import (
    AuditAction,
    Channel,
    Contact,
    Conversation,
    ConversationStatus,
    Direction,
    Message,
    MessageStatus,
    MessageType,
    SenderType,
    User,
    WhatsAppAccount,
)
from conversations.outbound import dispatch_on_commit
from conversations.selectors import conversation_for_user
from conversations.transitions import conversation_can_move, message_status_can_advance
from pytake.errors import Conflict, InvalidInput, NotFound
from pytake.transactions import on_commit_robust

PREVIEW_LENGTH = 255


def message_preview(message: Message) -> str:
    """One line for the inbox list: the text, or the kind of message."""
    text = message.text
    if not text and isinstance(message.content, dict):
        caption = message.content.get("caption", "")
        text = caption if isinstance(caption, str) else ""
    if text:
        return " ".join(text.split())[:PREVIEW_LENGTH]
    return f"[{message.get_type_display().lower()}]"


def _lock(conversation: Conversation) -> Conversation:
    """Reload ``conversation`` locked for the rest of the current transaction."""
    return (
        Conversation.objects.select_for_update(of=("self",))
        .select_related("contact", "assignee", "whatsapp_account")
        .get(pk=conversation.pk)
    )


def _move(conversation: Conversation, new_status: str) -> None:
    if conversation.status == new_status:
        return
    if not conversation_can_move(conversation.status, new_status):
        raise Conflict(
            f"A {conversation.status} conversation cannot become {new_status}.",
            code="invalid_transition",
            extra={"status": conversation.status},
        )
    conversation.status = new_status
    conversation.resolved_at = timezone.now() if new_status == ConversationStatus.RESOLVED else None


def conversation_set_status(
    *, conversation: Conversation, status: str, actor: User | None, reason: str = ""
) -> Conversation:
    """Move a conversation through its lifecycle (see ``transitions.CONVERSATION_TRANSITIONS``).
    Resolving takes it out of the queue and ends the agent's handling (for wait estimates)."""
    with transaction.atomic():
        conversation = _lock(conversation)
        _set_status_locked(conversation, status, actor=actor, reason=reason)
    return conversation


def _set_status_locked(conversation: Conversation, status: str, *, actor: User | None, reason: str = "") -> None:
    if conversation.status == status:
        return
    previous_status = conversation.status
    _move(conversation, status)
    if actor is not None and actor.tenant_id == conversation.tenant_id:
        audit.audit_record(
            tenant_id=conversation.tenant_id,
            actor=actor,
            action=audit.status_action(status),
            conversation=conversation,
            data={"from": previous_status, "to": status, "reason": reason},
        )
    left_queue = False
    if status == ConversationStatus.RESOLVED:
        left_queue = queue.queue_record_resolution_locked(conversation=conversation, now=timezone.now())
        conversation.queued_at = None
    conversation.save()
    if left_queue:
        queue.queue_updated(tenant_id=conversation.tenant_id, conversation_id=conversation.pk, reason="resolved")
    if status == ConversationStatus.RESOLVED:
        by = f" by {actor.get_full_name()}" if actor else ""
        why = f" ({reason})" if reason else ""
        system_message_create_locked(
            conversation=conversation,
            text=f"Conversation resolved{by}{why}.",
            data={"event": "resolved", "by": actor.pk if actor else None, "reason": reason},
        )
        _queue_changed_on_commit(conversation.tenant_id)


def conversation_auto_resolve(*, conversation_id: int, inactive_since: datetime) -> bool:
    """Resolve an open or pending conversation with no message since ``inactive_since``
    (checked under the lock: a message that just arrived keeps it open)."""
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update(of=("self",)).filter(pk=conversation_id).first()
        if (
            conversation is None
            or conversation.status == ConversationStatus.RESOLVED
            or conversation.last_message_at >= inactive_since
        ):
            return False
        _set_status_locked(conversation, ConversationStatus.RESOLVED, actor=None, reason="inactivity")
    return True


def conversation_resolve(*, conversation: Conversation, actor: User | None) -> Conversation:
    return conversation_set_status(conversation=conversation, status=ConversationStatus.RESOLVED, actor=actor)


def conversation_reopen(*, conversation: Conversation, actor: User | None) -> Conversation:
    return conversation_set_status(conversation=conversation, status=ConversationStatus.OPEN, actor=actor)


def conversation_assign(
    *,
    conversation: Conversation,
    assignee: User | None,
    actor: User | None,
    reason: str = "",
    expect_waiting: bool = False,
) -> Conversation:
    """Give ``conversation`` to ``assignee`` (or back to the queue with ``None``).

    Agents may take an unassigned conversation for themselves or hand back their own; supervisors
    and admins may assign to any active staff member of the tenant. ``actor=None`` is the system
    (automatic assignment, absent agents, admin actions by operators). Two agents taking the same
    conversation at once: the row lock serialises them and the second gets ``Conflict``
    ``already_assigned``. ``expect_waiting`` (automatic assignment): refuse unless it still waits.
    Every change of hands is recorded as an internal system message.
    """
    if assignee is not None and (assignee.tenant_id != conversation.tenant_id or not assignee.is_active):
        raise InvalidInput("The assignee must be an active member of this tenant.", code="invalid_assignee")
    with transaction.atomic():
        conversation = _lock(conversation)
        if actor is not None and not actor.is_supervisor:
            taking = assignee is not None and assignee.pk == actor.pk
            releasing = assignee is None and conversation.assignee_id == actor.pk
            if not (taking or releasing):
                raise InvalidInput(
                    "Agents can only take conversations or hand back their own.", code="forbidden_assignment"
                )
            if taking and conversation.assignee_id not in (None, actor.pk):
                raise Conflict("Another agent has already taken this conversation.", code="already_assigned")
        if expect_waiting:
            if conversation.assignee_id is not None:
                raise Conflict("Another agent has already taken this conversation.", code="already_assigned")
            if conversation.queued_at is None or conversation.status == ConversationStatus.RESOLVED:
                raise Conflict("The conversation is no longer waiting.", code="not_waiting")
        if conversation.assignee_id == (assignee.pk if assignee else None):
            return conversation
        previous = conversation.assignee
        if actor is not None:
            audit.audit_record(
                tenant_id=conversation.tenant_id,
                actor=actor,
                action=audit.assignment_action(
                    previous_id=previous.pk if previous else None,
                    assignee_id=assignee.pk if assignee else None,
                    actor_id=actor.pk,
                ),
                conversation=conversation,
                data={"from": previous.pk if previous else None, "to": assignee.pk if assignee else None},
            )
        was_waiting = conversation.queued_at is not None and previous is None
        now = timezone.now()
        queue.queue_record_assignment_locked(conversation=conversation, assignee=assignee, now=now)
        conversation.assignee = assignee
        requeued = False
        if assignee is not None:
            conversation.queued_at = None
            if conversation.status == ConversationStatus.RESOLVED:
                _move(conversation, ConversationStatus.OPEN)
        else:
            # Handed back: it waits again (first in line by its new queued_at, i.e. last).
            requeued = queue.queue_enter_locked(conversation=conversation, reason=reason or "returned", now=now)
        conversation.save()
        if was_waiting and assignee is not None:
            queue.queue_updated(tenant_id=conversation.tenant_id, conversation_id=conversation.pk, reason="assigned")
        elif requeued:
            queue.queue_updated(tenant_id=conversation.tenant_id, conversation_id=conversation.pk, reason="queued")
        system_message_create_locked(
            conversation=conversation,
            text=_transfer_text(previous=previous, assignee=assignee, actor=actor, reason=reason),
            data={
                "event": "assignment",
                "from": previous.pk if previous else None,
                "to": assignee.pk if assignee else None,
                "by": actor.pk if actor else None,
                "reason": reason,
            },
        )
        _queue_changed_on_commit(conversation.tenant_id)
    return conversation


def _transfer_text(*, previous: User | None, assignee: User | None, actor: User | None, reason: str) -> str:
    def name(user: User | None) -> str:
        return user.get_full_name() if user else "the system"

    if assignee is None:
        text = (
            f"{name(previous)} returned the conversation to the queue"
            if actor and actor == previous
            else (f"Returned to the queue by {name(actor)}" if actor else "Returned to the queue")
        )
    elif actor is not None and actor == assignee and previous is None:
        text = f"{name(assignee)} took the conversation"
    elif previous is None:
        text = f"Assigned to {name(assignee)}" + (f" by {name(actor)}" if actor else " automatically")
    else:
        text = f"Transferred from {name(previous)} to {name(assignee)}" + (f" by {name(actor)}" if actor else "")
    return text + (f" ({reason})" if reason and reason not in ("auto", "returned") else "") + "."


def system_message_create_locked(*, conversation: Conversation, text: str, data: dict[str, Any]) -> Message:
    """Record an event in the conversation's history (assignment, resolution): an internal message
    with ``sender_type`` system, shown to staff, never to the customer. Caller holds the lock."""
    return Message.objects.create(
        tenant_id=conversation.tenant_id,
        conversation=conversation,
        direction=Direction.OUTBOUND,
        sender_type=SenderType.SYSTEM,
        type=MessageType.TEXT,
        content={"text": text, "system": data},
        status=MessageStatus.SENT,
        internal=True,
        created_at=timezone.now(),
    )


def _queue_changed_on_commit(tenant_id: int) -> None:
    """After commit: hand waiting conversations to free agents and tell customers their new place."""
    from conversations import flow

    on_commit_robust(flow.queue_changed, tenant_id=tenant_id)


def conversation_mark_read(*, conversation: Conversation, actor: User) -> Conversation:
    """The agent has read everything: unread goes to zero and inbound messages become read."""
    with transaction.atomic():
        conversation = _lock(conversation)
        now = timezone.now()
        unread = list(
            Message.objects.select_for_update()
            .filter(conversation=conversation, direction=Direction.INBOUND, read_at__isnull=True)
            .order_by("pk")
        )
        for message in unread:
            message.read_at = now
            message.status = MessageStatus.READ
            message.save(update_fields=["read_at", "status"])
        if conversation.unread_count:
            conversation.unread_count = 0
            conversation.save()
        # Tell Meta (blue ticks on the customer's phone): marking the newest inbound message read
        # marks the earlier ones too.
        last_wamid = next((m.whatsapp_message_id for m in reversed(unread) if m.whatsapp_message_id), None)
        if conversation.channel == Channel.WHATSAPP and conversation.whatsapp_account_id and last_wamid:
            from whatsapp.tasks import mark_read_enqueue

            account_id = conversation.whatsapp_account_id
            transaction.on_commit(lambda: mark_read_enqueue(account_id=account_id, wamid=last_wamid), robust=True)
    return conversation


def message_create_outbound_text(
    *, user: User, conversation_id: object, text: str, client_id: str | None = None
) -> tuple[Message, bool]:
    """Queue an agent's text message for sending. Returns ``(message, created)``.

    A repeated ``client_id`` in the same conversation returns the first message, never a second.
    The message starts ``pending``; the channel's sender moves it on.
    """
    text = text.strip()
    if not text:
        raise InvalidInput("The message is empty.", code="empty_message")
    return _outbound_create(
        user=user,
        conversation_id=conversation_id,
        message_type=MessageType.TEXT,
        content={"text": text},
        client_id=client_id,
    )


def _outbound_create(
    *, user: User, conversation_id: object, message_type: str, content: dict[str, Any], client_id: str | None
) -> tuple[Message, bool]:
    """The one way an agent's message is created: visibility, idempotency on ``client_id`` (also
    under a race), WhatsApp's 24-hour window, the inbox preview, and dispatch after commit."""
    if client_id:
        existing = _message_by_client_id(conversation_id, client_id)
        if existing is not None:
            conversation_for_user(user=user, conversation_id=conversation_id)  # same visibility rule
            return existing, False
    try:
        with transaction.atomic():
            conversation = conversation_for_user(user=user, conversation_id=conversation_id, lock=True)
            _refuse_outside_window(conversation, message_type)
            now = timezone.now()
            message = Message.objects.create(
                tenant_id=conversation.tenant_id,
                conversation=conversation,
                direction=Direction.OUTBOUND,
                sender_type=SenderType.AGENT,
                sender=user,
                type=message_type,
                content=content,
                status=MessageStatus.PENDING,
                whatsapp_account=conversation.whatsapp_account,
                client_id=client_id or None,
                created_at=now,
            )
            conversation.last_message_at = now
            conversation.last_message_preview = message_preview(message)
            if conversation.status == ConversationStatus.RESOLVED:
                _move(conversation, ConversationStatus.OPEN)
            conversation.save()
            dispatch_on_commit(message)
    except IntegrityError:
        # A concurrent request with the same client_id won the race: return its message.
        if client_id:
            existing = _message_by_client_id(conversation_id, client_id)
            if existing is not None:
                return existing, False
        raise
    return message, True


def _message_by_client_id(conversation_id: object, client_id: str) -> Message | None:
    try:
        pk = int(str(conversation_id))
    except (TypeError, ValueError):
        return None
    return Message.objects.filter(conversation_id=pk, client_id=client_id).first()


MAX_TEXT_LENGTH = 4096


def conversation_record_inbound_locked(*, conversation: Conversation, message: Message) -> None:
    """What every inbound customer message does to its (locked) conversation: it moves to the top
    of the inbox, counts as unread, opens the reply window, and reopens a resolved or pending
    conversation. Saves the conversation. Shared by the web-chat and WhatsApp inbound paths."""
    conversation.last_message_at = max(conversation.last_message_at, message.created_at)
    conversation.last_message_preview = message_preview(message)
    conversation.unread_count += 1
    conversation.last_customer_message_at = message.created_at
    if conversation.status in (ConversationStatus.RESOLVED, ConversationStatus.PENDING):
        _move(conversation, ConversationStatus.OPEN)
    conversation.save()


def message_create_webchat(*, conversation_id: int, text: str, client_id: str | None) -> tuple[Message, bool]:
    """A web-chat customer's text message (the socket's ``message`` action). Returns
    ``(message, created)``; the same ``client_id`` again returns the first message.

    After commit the message goes to the service flow (bot, escalation, queue) as a Celery task.
    Precondition: the caller checked that the customer's token is for ``conversation_id``.
    """
    text = (text or "").strip() if isinstance(text, str) else ""
    if not text:
        raise InvalidInput("The message is empty.", code="empty_message")
    if len(text) > MAX_TEXT_LENGTH:
        raise InvalidInput(f"Messages are limited to {MAX_TEXT_LENGTH} characters.", code="message_too_long")
    client_id = client_id or None
    if client_id is not None and (not isinstance(client_id, str) or len(client_id) > 64):
        raise InvalidInput("client_id must be a string of at most 64 characters.", code="invalid")
    if client_id:
        existing = Message.objects.filter(conversation_id=conversation_id, client_id=client_id).first()
        if existing is not None:
            return existing, False
    try:
        with transaction.atomic():
            conversation = (
                Conversation.objects.select_for_update(of=("self",))
                .select_related("contact", "assignee")
                .filter(pk=conversation_id, channel=Channel.WEBCHAT)
                .first()
            )
            if conversation is None:
                raise NotFound("Conversation not found.")
            message = Message.objects.create(
                tenant_id=conversation.tenant_id,
                conversation=conversation,
                direction=Direction.INBOUND,
                sender_type=SenderType.CONTACT,
                type=MessageType.TEXT,
                content={"text": text},
                status=MessageStatus.DELIVERED,
                client_id=client_id,
                created_at=timezone.now(),
            )
            conversation_record_inbound_locked(conversation=conversation, message=message)
            on_commit_robust(_hand_to_flow, message.pk)
    except IntegrityError:
        if client_id:
            existing = Message.objects.filter(conversation_id=conversation_id, client_id=client_id).first()
            if existing is not None:
                return existing, False
        raise
    return message, True


def _hand_to_flow(message_id: int) -> None:
    from conversations.tasks import flow_inbound_received

    flow_inbound_received.delay(message_id)


def note_create(*, user: User, conversation_id: object, text: str) -> Message:
    """An internal note on a conversation the user may see: staff only, never sent to the customer
    (the publish path keeps ``internal`` messages from the web-chat customer; no sender runs)."""
    text = (text or "").strip()
    if not text:
        raise InvalidInput("The note is empty.", code="empty_message")
    with transaction.atomic():
        conversation = conversation_for_user(user=user, conversation_id=conversation_id, lock=True)
        return Message.objects.create(
            tenant_id=conversation.tenant_id,
            conversation=conversation,
            direction=Direction.OUTBOUND,
            sender_type=SenderType.AGENT,
            sender=user,
            type=MessageType.TEXT,
            content={"text": text},
            status=MessageStatus.SENT,
            internal=True,
            created_at=timezone.now(),
        )


def broadcast_send(*, user: User, text: str) -> Any:
    """A supervisor's announcement to all staff of their tenant: a durable ``broadcast`` event."""
    from realtime.events import Recipients, event_record
    from realtime.models import Audience

    text = (text or "").strip()
    if not text:
        raise InvalidInput("The announcement is empty.", code="empty_message")
    assert user.tenant_id is not None
    with transaction.atomic():
        audit.audit_record(tenant_id=user.tenant_id, actor=user, action=AuditAction.BROADCAST, data={"text": text})
        return event_record(
            tenant_id=user.tenant_id,
            type="broadcast",
            data={"text": text, "from": {"id": user.pk, "name": user.get_full_name()}},
            recipients=Recipients(Audience.STAFF),
        )


def _availability_changed(*, user: User) -> None:
    """An agent set themselves away (their conversations may return to the queue after the grace
    period) or available again (they may be given waiting conversations)."""
    from conversations import flow
    from conversations.models import Availability

    if user.availability == Availability.AWAY:
        flow.agent_went_away(user_id=user.pk)
    else:
        flow.agent_came_back(user_id=user.pk)


def conversation_mark_read_by_customer(*, conversation_id: int) -> Conversation:
    """The web-chat customer has seen the conversation: our outbound messages become read."""
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update(of=("self",)).get(pk=conversation_id)
        now = timezone.now()
        unread = Message.objects.select_for_update().filter(
            conversation=conversation, direction=Direction.OUTBOUND, read_at__isnull=True, internal=False
        )
        for message in unread.order_by("pk"):
            message.read_at = now
            message.delivered_at = message.delivered_at or now
            message.status = MessageStatus.READ
            message.save(update_fields=["read_at", "delivered_at", "status"])
    return conversation


def user_set_availability(*, user: User, availability: str) -> User:
    """An agent switches between available and away; the tenant sees it as presence."""
    from realtime.presence import announce_availability

    if user.availability != availability:
        user.availability = availability
        user.save(update_fields=["availability"])
        announce_availability(user=user)
        _availability_changed(user=user)
    return user


# --- WhatsApp: inbound messages, statuses, outbound sending -------------------------------------
# Called by whatsapp/ (webhook processing and the send task). The WhatsApp side parses Meta's
# payloads; these functions only know the data model.

CUSTOMER_SERVICE_WINDOW = timedelta(hours=24)
_INBOUND_PREVIEW_KINDS = {SenderType.CONTACT, SenderType.SYSTEM}


def whatsapp_window_open(conversation: Conversation, *, at: datetime | None = None) -> bool:
    """Whether free-form messages may be sent: the customer wrote in the last 24 hours."""
    if conversation.last_customer_message_at is None:
        return False
    return (at or timezone.now()) < conversation.last_customer_message_at + CUSTOMER_SERVICE_WINDOW


def _refuse_outside_window(conversation: Conversation, message_type: str) -> None:
    if conversation.channel != Channel.WHATSAPP or message_type == MessageType.TEMPLATE:
        return
    if not whatsapp_window_open(conversation):
        raise Conflict(
            "The customer has not written in the last 24 hours, so WhatsApp only accepts a template "
            "message now. Send an approved template to reopen the conversation.",
            code="outside_window",
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
        message = Message.objects.create(
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
        if conversation.status in (ConversationStatus.RESOLVED, ConversationStatus.PENDING):
            _move(conversation, ConversationStatus.OPEN)
        if created_at >= conversation.last_message_at or not conversation.last_message_preview:
            conversation.last_message_at = max(created_at, conversation.last_message_at)
            conversation.last_message_preview = message_preview(message)
        if sender_type in _INBOUND_PREVIEW_KINDS and message_type != MessageType.REACTION:
            conversation.unread_count += 1
        if sender_type == SenderType.CONTACT and (
            conversation.last_customer_message_at is None or created_at > conversation.last_customer_message_at
        ):
            conversation.last_customer_message_at = created_at
        conversation.save()
        if sender_type == SenderType.CONTACT:
            on_commit_robust(_hand_to_flow, message.pk)  # the bot answers, or the queue takes it
    return message, True


def message_status_apply(
    *,
    message_id: int,
    status: str,
    at: datetime,
    error_code: int | None = None,
    error_title: str = "",
) -> Message:
    """Move a message's delivery status forward (see ``transitions.message_status_can_advance``).

    A status that would move it backwards (a late ``delivered`` after ``read``) changes nothing
    but the missing timestamp. ``read`` implies ``delivered``: Meta skips ``delivered`` when both
    happen at once. ``failed`` keeps Meta's error code and title.
    """
    with transaction.atomic():
        message = Message.objects.select_for_update().get(pk=message_id)
        changed: set[str] = set()
        stamps = {
            MessageStatus.SENT: ["sent_at"],
            MessageStatus.DELIVERED: ["sent_at", "delivered_at"],
            MessageStatus.READ: ["sent_at", "delivered_at", "read_at"],
        }
        for stamp in stamps.get(status, []):  # type: ignore[call-overload]
            if getattr(message, stamp) is None:
                setattr(message, stamp, at)
                changed.add(stamp)
        if message_status_can_advance(message.status, status):
            message.status = status
            changed.add("status")
            if status == MessageStatus.FAILED:
                message.error_code = error_code
                message.error_title = error_title[:255]
                changed |= {"error_code", "error_title"}
        if changed:
            message.save(update_fields=sorted(changed))
    return message


def message_set_sent(*, message_id: int, wamid: str, at: datetime) -> Message:
    """The Graph API accepted the message: keep its wamid and move it to ``sent``."""
    with transaction.atomic():
        message = Message.objects.select_for_update().get(pk=message_id)
        message.whatsapp_message_id = wamid
        fields = ["whatsapp_message_id"]
        if message_status_can_advance(message.status, MessageStatus.SENT):
            message.status = MessageStatus.SENT
            fields.append("status")
        if message.sent_at is None:
            message.sent_at = at
            fields.append("sent_at")
        message.save(update_fields=fields)
    return message


def message_create_outbound(
    *, user: User, conversation_id: object, message_type: str, content: dict[str, Any], client_id: str | None = None
) -> tuple[Message, bool]:
    """Queue an agent's non-text WhatsApp message: media by link (``{"link", "caption"}``), a
    template (``{"name", "language", "components"}``) or a reaction (``{"message_id", "emoji"}``).
    Same rules as ``message_create_outbound_text``; templates are the one kind allowed outside
    the 24-hour window."""
    allowed = {
        MessageType.IMAGE,
        MessageType.AUDIO,
        MessageType.VIDEO,
        MessageType.DOCUMENT,
        MessageType.STICKER,
        MessageType.TEMPLATE,
        MessageType.REACTION,
    }
    if message_type not in allowed:
        raise InvalidInput(f"Cannot send a {message_type} message this way.", code="invalid_type")
    return _outbound_create(
        user=user, conversation_id=conversation_id, message_type=message_type, content=content, client_id=client_id
    )
