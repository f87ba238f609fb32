"""Reading the event log back for a reconnecting client."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Q

from realtime.auth import Principal
from realtime.events import envelope_of, envelope_text
from realtime.models import Audience, Event, TenantEventCounter


@dataclass
class Replay:
    frames: list[str] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)
    last_event_id: int = 0
    resync: str | None = None  # the reason, when the client must refetch over REST instead


def tenant_last_event_id(tenant_id: int) -> int:
    return TenantEventCounter.objects.filter(tenant_id=tenant_id).values_list("last_seq", flat=True).first() or 0


def visible_events(principal: Principal, joined: set[int]) -> Q:
    """The events a principal may replay: the same rule as ``Recipients.allows_staff`` plus, for
    staff, message events only of the conversations the socket has joined."""
    if principal.is_customer:
        return Q(conversation_id=principal.conversation_id, customer=True)
    me = principal.user_id
    if principal.is_supervisor:
        allowed = Q(audience=Audience.STAFF) | Q(audience=Audience.USER, user_id=me)
    else:
        allowed = (
            (Q(audience=Audience.STAFF) & (Q(assignee_id__isnull=True) | Q(assignee_id=me)))
            | Q(audience=Audience.USER, user_id=me)
            | (Q(audience=Audience.AGENTS_EXCEPT) & ~Q(user_id=me))
        )
    return allowed & ~(Q(type__startswith="message.") & ~Q(conversation_id__in=joined))


def replay_after(*, principal: Principal, last_event_id: int, joined: set[int]) -> Replay:
    """Every event after ``last_event_id`` the principal may see, in id order.

    The replay starts ``PYTAKE_RESUME_OVERLAP`` ids early: ids follow commit order, but two events
    committed a moment apart in two processes can reach the channel layer in the other order, so
    a client may have seen id 101 live and not yet id 100. Clients drop ids they already have.
    """

    counter = TenantEventCounter.objects.filter(tenant_id=principal.tenant_id).first()
    last_seq = counter.last_seq if counter else 0
    pruned_through = counter.pruned_through if counter else 0
    if last_event_id > last_seq:
        return Replay(last_event_id=last_seq, resync="unknown_position")
    if last_event_id < pruned_through:
        return Replay(last_event_id=last_seq, resync="expired")
    start = max(pruned_through, last_event_id - settings.PYTAKE_RESUME_OVERLAP)
    limit = settings.PYTAKE_RESUME_MAX_EVENTS
    events = list(
        Event.objects.filter(tenant_id=principal.tenant_id, seq__gt=start, seq__lte=last_seq)
        .filter(visible_events(principal, joined))
        .order_by("seq")[: limit + 1]
    )
    if len(events) > limit:
        return Replay(last_event_id=last_seq, resync="too_many_events")
    replay = Replay(last_event_id=last_seq)

    for event in events:
        replay.frames.append(envelope_text(envelope_of(event)))
        replay.ids.append(event.seq)
    return replay
