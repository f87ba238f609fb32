"""Who has a conversation and whether it is done: taking, assigning, transferring, handing back,
resolving and reopening. Each keeps the queue's books (tickets, handling times) in the same
transaction, audits what staff did, and leaves a system line in the conversation's history.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from conversations import audit
from conversations.models import Conversation, ConversationStatus, User
from conversations.services import conversation_lock, conversation_move_locked, system_message_create_locked
from flow import notices, queue, system_lines
from flow.bot.service import tenant_language
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
        _system_line_locked(conversation, system_lines.resolution_event(actor=actor, reason=reason))
        _queue_changed_on_commit(conversation.tenant_id)


def conversation_auto_resolve(*, conversation_id: int, inactive_since: datetime) -> bool:
    """Resolve an open or pending conversation with no message since ``inactive_since``
    (checked under the lock: a message that just arrived keeps it open)."""
    with transaction.atomic():
        conversation = (
            Conversation.objects.select_for_update(of=("self",), no_key=True).filter(pk=conversation_id).first()
        )
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
        _system_line_locked(
            conversation,
            system_lines.assignment_event(previous=previous, assignee=assignee, actor=actor, reason=reason),
        )
        if assignee is not None:
            notices.agent_joined_locked(conversation=conversation, agent=assignee)
        _queue_changed_on_commit(conversation.tenant_id)
    return conversation


def _system_line_locked(conversation: Conversation, data: dict[str, Any]) -> None:
    """The history line of ``data`` (an event code and its parameters, ``flow.system_lines``),
    its text in the tenant's language for clients that do not render the code."""
    text = system_lines.system_text(data, tenant_language(tenant_id=conversation.tenant_id))
    system_message_create_locked(conversation=conversation, text=text, data=data)


def _queue_changed_on_commit(tenant_id: int) -> None:
    on_commit_robust(queue_moved.send, sender=Conversation, tenant_id=tenant_id)
