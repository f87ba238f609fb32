"""The waiting queue of a tenant: who waits, in which position, for how long, and who gets what.

A conversation waits when ``queued_at`` is set and nobody is assigned (and it is not resolved);
the oldest ``queued_at`` is first. Functions named ``*_locked`` expect the caller's transaction to
hold the conversation's row lock (see ``conversations.services.conversation_lock``).

Lock order everywhere: agent row (automatic assignment only) → conversations in pk order → queue
tickets → the tenant's event counter (taken by the first event recorded, held until commit).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from conversations.access import Audience, Recipients
from conversations.models import Availability, Channel, Conversation, ConversationStatus, Role, User
from flow.models import QueueOutcome, QueueTicket
from realtime import groups
from realtime.events import event_record, publish_ephemeral
from realtime.presence import online_user_ids as realtime_online_user_ids

OPEN_STATUSES = (ConversationStatus.OPEN, ConversationStatus.PENDING)


def realtime_presence(tenant_id: int) -> set[int]:
    """The tenant's staff with a live socket, from the real-time presence registry."""
    staff = list(User.objects.filter(tenant_id=tenant_id, is_active=True).values_list("pk", flat=True))
    return realtime_online_user_ids(staff)


# Who is connected right now.
_presence_provider: Callable[[int], set[int]] = realtime_presence


def set_presence_provider(provider: Callable[[int], set[int]]) -> None:
    """``provider(tenant_id)`` returns the ids of the tenant's users with an open socket."""
    global _presence_provider
    _presence_provider = provider


def online_user_ids(*, tenant_id: int) -> set[int]:
    """Ids of the tenant's connected users."""
    return set(_presence_provider(tenant_id))


def queue_waiting(*, tenant_id: int) -> QuerySet[Conversation]:
    """Waiting conversations of the tenant, first in line first."""
    return (
        Conversation.objects.filter(tenant_id=tenant_id, queued_at__isnull=False, assignee__isnull=True)
        .exclude(status=ConversationStatus.RESOLVED)
        .order_by("queued_at", "pk")
    )


def agents_with_load(*, tenant_id: int) -> QuerySet[User]:
    """The tenant's active agents annotated with ``open_conversations`` (open or pending, assigned)."""
    return User.objects.filter(tenant_id=tenant_id, is_active=True, role=Role.AGENT).annotate(
        open_conversations=Count(
            "assigned_conversations",
            filter=Q(assigned_conversations__status__in=OPEN_STATUSES),
        )
    )


def open_count(*, user_id: int) -> int:
    return Conversation.objects.filter(assignee_id=user_id, status__in=OPEN_STATUSES).count()


def available_agents(*, tenant_id: int) -> list[User]:
    """Agents who can take a conversation now: active, available, online and under their
    capacity; fewest open conversations first."""
    online = online_user_ids(tenant_id=tenant_id)
    agents = [
        agent
        for agent in agents_with_load(tenant_id=tenant_id).filter(availability=Availability.AVAILABLE)
        if agent.pk in online and agent.open_conversations < agent.max_open_conversations  # type: ignore[attr-defined]
    ]
    agents.sort(key=lambda a: (a.open_conversations, a.pk))  # type: ignore[attr-defined]
    return agents


# --- estimates ----------------------------------------------------------------------------------


def average_handling_seconds(*, tenant_id: int, now: datetime | None = None) -> float:
    """Mean time an agent held a conversation, over the tenant's recent handlings
    (``PYTAKE_QUEUE_STATS_HOURS``, at most the last 50); a configured default without any."""
    now = now or timezone.now()
    since = now - timedelta(hours=settings.PYTAKE_QUEUE_STATS_HOURS)
    recent = (
        QueueTicket.objects.filter(
            tenant_id=tenant_id, assigned_at__isnull=False, handled_until__isnull=False, handled_until__gte=since
        )
        .order_by("-handled_until")
        .values_list("assigned_at", "handled_until")[:50]
    )
    durations = [(end - start).total_seconds() for start, end in recent if start and end and end >= start]
    if not durations:
        return float(settings.PYTAKE_QUEUE_DEFAULT_HANDLING_SECONDS)
    return sum(durations) / len(durations)


def service_slots(*, tenant_id: int) -> int:
    """How many conversations the online, available agents can hold at once (at least 1, so that
    an estimate exists while nobody is online)."""
    online = online_user_ids(tenant_id=tenant_id)
    agents = User.objects.filter(
        tenant_id=tenant_id, is_active=True, role=Role.AGENT, availability=Availability.AVAILABLE, pk__in=online
    )
    return max(1, sum(agents.values_list("max_open_conversations", flat=True)))


def estimate_wait_seconds(*, position: int, handling_seconds: float, slots: int) -> int:
    """A place frees up every ``handling / slots`` seconds on average; the customer at
    ``position`` waits for that many places."""
    return math.ceil(position * handling_seconds / max(1, slots))


@dataclass(frozen=True)
class QueueEntry:
    conversation: Conversation
    position: int
    waiting_seconds: int
    estimated_wait_seconds: int


def queue_snapshot(*, tenant_id: int, now: datetime | None = None) -> list[QueueEntry]:
    now = now or timezone.now()
    waiting = list(queue_waiting(tenant_id=tenant_id).select_related("contact", "assignee"))
    if not waiting:
        return []
    handling = average_handling_seconds(tenant_id=tenant_id, now=now)
    slots = service_slots(tenant_id=tenant_id)
    return [
        QueueEntry(
            conversation=conversation,
            position=index,
            waiting_seconds=max(0, int((now - conversation.queued_at).total_seconds()))
            if conversation.queued_at
            else 0,
            estimated_wait_seconds=estimate_wait_seconds(position=index, handling_seconds=handling, slots=slots),
        )
        for index, conversation in enumerate(waiting, start=1)
    ]


def queue_position(*, conversation: Conversation) -> QueueEntry | None:
    for entry in queue_snapshot(tenant_id=conversation.tenant_id):
        if entry.conversation.pk == conversation.pk:
            return entry
    return None


# --- bookkeeping inside a service's transaction -------------------------------------------------


def queue_updated(*, tenant_id: int, conversation_id: int, reason: str) -> None:
    """Tell every staff member of the tenant that the queue changed (durable ``queue.updated``)."""
    event_record(
        tenant_id=tenant_id,
        type="queue.updated",
        data={"size": queue_waiting(tenant_id=tenant_id).count(), "conversation_id": conversation_id, "reason": reason},
        recipients=Recipients(Audience.STAFF),
    )


def queue_enter_locked(*, conversation: Conversation, reason: str, now: datetime | None = None) -> bool:
    """Put a locked, unassigned conversation in the queue. Returns False when it already waits
    (or has an agent). The caller saves the conversation, then calls ``queue_updated``."""
    if conversation.assignee_id is not None or conversation.status == ConversationStatus.RESOLVED:
        return False
    if conversation.queued_at is not None:
        return False
    now = now or timezone.now()
    conversation.queued_at = now
    QueueTicket.objects.filter(conversation=conversation, left_at__isnull=True).update(
        left_at=now, outcome=QueueOutcome.RESOLVED
    )  # a stale ticket (should not exist): close it so the new one is the only open one
    QueueTicket.objects.create(
        tenant_id=conversation.tenant_id, conversation=conversation, reason=reason, entered_at=now
    )
    return True


def queue_record_assignment_locked(*, conversation: Conversation, assignee: User | None, now: datetime) -> None:
    """Bookkeeping of a locked conversation whose assignee changes (before it is saved): the
    previous agent's handling ends; a waiting ticket closes as assigned (or one is opened for a
    direct assignment, so its handling time counts too)."""
    _end_handling(conversation=conversation, now=now)
    if assignee is None:
        return
    ticket = QueueTicket.objects.select_for_update().filter(conversation=conversation, left_at__isnull=True).first()
    if ticket is None:
        ticket = QueueTicket(
            tenant_id=conversation.tenant_id, conversation=conversation, reason="direct", entered_at=now
        )
    else:
        _tell_customer_left(conversation, QueueOutcome.ASSIGNED)
    ticket.left_at = now
    ticket.outcome = QueueOutcome.ASSIGNED
    ticket.assignee = assignee
    ticket.assigned_at = now
    ticket.save()


def queue_record_resolution_locked(*, conversation: Conversation, now: datetime) -> bool:
    """A locked conversation is being resolved: close its waiting ticket and end the agent's
    handling. Returns True when it was waiting (the queue shrank)."""
    _end_handling(conversation=conversation, now=now)
    closed = 0
    for ticket in QueueTicket.objects.select_for_update().filter(conversation=conversation, left_at__isnull=True):
        ticket.left_at = now
        ticket.outcome = QueueOutcome.RESOLVED
        ticket.save(update_fields=["left_at", "outcome"])
        closed += 1
    if closed:
        _tell_customer_left(conversation, QueueOutcome.RESOLVED)
    return bool(closed) or (conversation.queued_at is not None and conversation.assignee_id is None)


def _tell_customer_left(conversation: Conversation, outcome: str) -> None:
    """The customer's place in line is gone with their ticket: the widget hears ``queue.left``
    after commit and takes its "you are number N in line" banner down. (WhatsApp customers were
    told their place in a message; the agent's arrival is told in another.)"""
    if conversation.channel != Channel.WEBCHAT:
        return
    publish_ephemeral(
        routes=[groups.webchat(conversation.pk)],
        type="queue.left",
        data={"outcome": outcome},
        recipients=Recipients(Audience.CUSTOMER, customer=True),
        conversation_id=conversation.pk,
    )


def _end_handling(*, conversation: Conversation, now: datetime) -> None:
    if conversation.assignee_id is None:
        return
    ticket = (
        QueueTicket.objects.select_for_update()
        .filter(conversation=conversation, assignee_id=conversation.assignee_id, handled_until__isnull=True)
        .exclude(assigned_at__isnull=True)
        .order_by("-assigned_at")
        .first()
    )
    if ticket is not None:
        ticket.handled_until = now
        ticket.save(update_fields=["handled_until"])
