"""Who has a conversation and whether it is done: taking, assigning, transferring, handing back,
resolving and reopening. Each keeps the queue's books (tickets, handling times) in the same
transaction, audits what staff did, and leaves a system line in the conversation's history.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from conversations import audit
from conversations.models import Conversation, ConversationStatus, User
from conversations.services import conversation_lock, conversation_move_locked, system_message_create_locked
from flow import queue
from pytake.errors import Conflict, ErrorCode, InvalidInput
from pytake.transactions import on_commit_robust

# Sent after commit when the queue or an agent's load changed (``tenant_id``):
# ``flow.services.queue_changed``, connected in ``FlowConfig.ready()``, assigns what it can and
# tells waiting customers their new place.
queue_moved = Signal()


def conversation_set_status(
    *, conversation: Conversation, status: str, actor: User | None, reason: str = ""
) -> Conversation:
    """Move a conversation through its lifecycle (see ``transitions.CONVERSATION_TRANSITIONS``).
    Resolving takes it out of the queue and ends the agent's handling (for wait estimates)."""
    with transaction.atomic():
        conversation = conversation_lock(conversation)
        _set_status_locked(conversation, status, actor=actor, reason=reason)
    return conversation


def _set_status_locked(conversation: Conversation, status: str, *, actor: User | None, reason: str = "") -> None:
    if conversation.status == status:
        return
    previous_status = conversation.status
    conversation_move_locked(conversation, status)
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
    transfer: bool = False,
) -> Conversation:
    """Give ``conversation`` to ``assignee`` (or back to the queue with ``None``).

    Agents may take an unassigned conversation for themselves or hand back their own; supervisors
    and admins may assign to any active staff member of the tenant. ``actor=None`` is the system
    (automatic assignment, absent agents, admin actions by operators). Two agents taking the same
    conversation at once: the row lock serialises them and the second gets ``Conflict``
    ``already_assigned``. ``expect_waiting`` (automatic assignment): refuse unless it still waits.
    ``transfer``: an agent may also hand their own conversation to another staff member.
    Every change of hands is recorded as an internal system message.
    """
    if assignee is not None and (assignee.tenant_id != conversation.tenant_id or not assignee.is_active):
        raise InvalidInput("The assignee must be an active member of this tenant.", code=ErrorCode.INVALID_ASSIGNEE)
    with transaction.atomic():
        conversation = conversation_lock(conversation)
        if actor is not None and not actor.is_supervisor:
            taking = assignee is not None and assignee.pk == actor.pk
            releasing = assignee is None and conversation.assignee_id == actor.pk
            passing_on = transfer and assignee is not None and conversation.assignee_id == actor.pk
            if not (taking or releasing or passing_on):
                raise InvalidInput(
                    "Agents can only take conversations or hand back their own.", code=ErrorCode.FORBIDDEN_ASSIGNMENT
                )
            if taking and conversation.assignee_id not in (None, actor.pk):
                raise Conflict("Another agent has already taken this conversation.", code=ErrorCode.ALREADY_ASSIGNED)
        if expect_waiting:
            if conversation.assignee_id is not None:
                raise Conflict("Another agent has already taken this conversation.", code=ErrorCode.ALREADY_ASSIGNED)
            if conversation.queued_at is None or conversation.status == ConversationStatus.RESOLVED:
                raise Conflict("The conversation is no longer waiting.", code=ErrorCode.NOT_WAITING)
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
                conversation_move_locked(conversation, ConversationStatus.OPEN)
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


def _queue_changed_on_commit(tenant_id: int) -> None:
    on_commit_robust(queue_moved.send, sender=Conversation, tenant_id=tenant_id)
