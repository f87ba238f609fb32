"""The moves agents make besides taking and resolving: waiting on the customer (pending),
snoozing until a time, transferring with a note, and the same action over many conversations.

Status moves follow ``conversations.transitions.CONVERSATION_TRANSITIONS`` through
``assignment.conversation_set_status``; a snoozed conversation comes back to open when its time
comes (``snoozed_wake_due``, run by Celery beat) or when the customer writes first
(``conversations.services.conversation_record_inbound_locked``). Every move is audited and leaves
a system line in the history, which is the notice staff see live.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from conversations import audit, labels
from conversations.access import conversation_for_user
from conversations.mentions import mentions_record
from conversations.models import (
    AuditAction,
    Conversation,
    ConversationStatus,
    Direction,
    Message,
    MessageStatus,
    SenderType,
    User,
)
from conversations.services import conversation_lock, conversation_move_locked, system_message_create_locked
from flow import assignment
from pytake.errors import ApplicationError, InvalidInput

MAX_SNOOZE = timedelta(days=90)
MAX_BULK = 100


def conversation_mark_pending(*, conversation: Conversation, actor: User) -> Conversation:
    """Waiting on the customer: it stays the agent's, and the customer's next message reopens it."""
    return assignment.conversation_set_status(conversation=conversation, status=ConversationStatus.PENDING, actor=actor)


def conversation_snooze(*, conversation: Conversation, until: datetime, actor: User) -> Conversation:
    """Set a conversation aside until ``until`` (in the future, at most ``MAX_SNOOZE`` away)."""
    now = timezone.now()
    if until <= now or until > now + MAX_SNOOZE:
        raise InvalidInput(
            "Snooze until a time in the future, at most 90 days away.",
            extra={"fields": {"until": ["Not in the next 90 days."]}},
        )
    with transaction.atomic():
        conversation = conversation_lock(conversation)
        previous = conversation.status
        conversation_move_locked(conversation, ConversationStatus.SNOOZED)
        conversation.snoozed_until = until
        conversation.save()
        audit.audit_record(
            tenant_id=conversation.tenant_id,
            actor=actor,
            action=AuditAction.SNOOZE,
            conversation=conversation,
            data={"from": previous, "until": until.isoformat()},
        )
        system_message_create_locked(
            conversation=conversation,
            text=f"Snoozed by {actor.get_full_name()} until {until:%Y-%m-%d %H:%M} UTC.",
            data={"event": "snoozed", "by": actor.pk, "until": until.isoformat()},
        )
    return conversation


def conversation_wake(*, conversation_id: int, now: datetime | None = None) -> bool:
    """Bring a snoozed conversation whose time has come back to open, with a notice in its
    history (checked under the lock: one reopened or re-snoozed meanwhile is left alone)."""
    now = now or timezone.now()
    with transaction.atomic():
        conversation = (
            Conversation.objects.select_for_update(of=("self",), no_key=True).filter(pk=conversation_id).first()
        )
        if (
            conversation is None
            or conversation.status != ConversationStatus.SNOOZED
            or conversation.snoozed_until is None
            or conversation.snoozed_until > now
        ):
            return False
        conversation_move_locked(conversation, ConversationStatus.OPEN)
        conversation.save()
        system_message_create_locked(
            conversation=conversation,
            text="The snooze ended: the conversation is open again.",
            data={"event": "snooze_ended"},
        )
    return True


def snoozed_wake_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Wake every snoozed conversation whose time has come (Celery beat, every minute)."""
    now = now or timezone.now()
    due = (
        Conversation.objects.filter(status=ConversationStatus.SNOOZED, snoozed_until__lte=now)
        .order_by("snoozed_until", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(conversation_wake(conversation_id=pk, now=now) for pk in list(due))


def conversation_transfer(
    *, conversation: Conversation, assignee: User | None, actor: User, note: str = ""
) -> Conversation:
    """Hand a conversation to another staff member (``None``: back to the queue), with a note for
    whoever picks it up, kept as an internal note in its history. Agents transfer their own
    conversations; supervisors and admins any."""
    note = note.strip()
    with transaction.atomic():
        conversation = assignment.conversation_assign(
            conversation=conversation, assignee=assignee, actor=actor, transfer=True
        )
        if note:
            written = Message.objects.create(
                tenant_id=conversation.tenant_id,
                conversation=conversation,
                direction=Direction.OUTBOUND,
                sender_type=SenderType.AGENT,
                sender=actor,
                type="text",
                content={"text": note, "transfer": {"to": assignee.pk if assignee else None}},
                status=MessageStatus.SENT,
                internal=True,
                created_at=timezone.now(),
            )
            mentions_record(note=written, author=actor)
    return conversation


# --- bulk -----------------------------------------------------------------------------------------


@dataclass
class BulkResult:
    id: int
    ok: bool
    code: str = ""
    message: str = ""


def conversations_bulk(*, user: User, ids: list[int], act: Callable[[Conversation], object]) -> list[BulkResult]:
    """Run ``act`` on each conversation, each in its own transaction, each checked by the
    audience rule first: one that fails (not found, a move not allowed…) is reported and the
    others go on."""
    results: list[BulkResult] = []
    for pk in dict.fromkeys(ids):  # once each, in the order given
        try:
            with transaction.atomic():
                conversation = conversation_for_user(user=user, conversation_id=pk)
                act(conversation)
        except ApplicationError as exc:
            results.append(BulkResult(pk, False, str(exc.code), exc.message))
        else:
            results.append(BulkResult(pk, True))
    return results


def bulk_assign(*, user: User, ids: list[int], assignee: User | None) -> list[BulkResult]:
    return conversations_bulk(
        user=user, ids=ids, act=lambda c: assignment.conversation_assign(conversation=c, assignee=assignee, actor=user)
    )


def bulk_resolve(*, user: User, ids: list[int]) -> list[BulkResult]:
    return conversations_bulk(
        user=user, ids=ids, act=lambda c: assignment.conversation_resolve(conversation=c, actor=user)
    )


def bulk_label(*, user: User, ids: list[int], add: list[int], remove: list[int]) -> list[BulkResult]:
    def act(conversation: Conversation) -> None:
        locked = conversation_lock(conversation)
        labels.conversation_labels_set_locked(conversation=locked, add=add, remove=remove, actor=user)

    return conversations_bulk(user=user, ids=ids, act=act)
