"""Reading the event log back for a reconnecting client.

A reconnect storm (a server restart, a network blip) brings thousands of clients of a tenant back
at once, most of them from the same position. The log after that position is read, and its frames
serialised, once per process (``_windows``), and each client's share is picked from it in Python
by the rule that filters live events (``Recipients``); reading and serialising it per client was
half of a storm's server CPU (docs/benchmarks.md). A window wider than ``SHARED_WINDOW_MAX`` events
is read per client, filtered in SQL (``visible_events``), as before.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from concurrent.futures import Future
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Q, QuerySet

from conversations.access import Recipients, conversations_visible_to, customer_events_q, events_visible_q
from realtime.auth import Principal
from realtime.events import envelope_of, envelope_text, recipients_of
from realtime.models import Event, TenantEventCounter

SHARED_WINDOW_MAX = 1000  # events of a window read once for every client resuming from it
SHARED_WINDOW_SECONDS = 5.0  # how long a window read is kept (its rows never change)
SHARED_WINDOWS = 32  # windows kept per process


@dataclass
class Replay:
    frames: list[str] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)
    last_event_id: int = 0
    resync: str | None = None  # the reason, when the client must refetch over REST instead


def tenant_last_event_id(tenant_id: int) -> int:
    return TenantEventCounter.objects.filter(tenant_id=tenant_id).values_list("last_seq", flat=True).first() or 0


def customer_position(conversation_id: int) -> int:
    """A web-chat customer's position in their conversation: the ``seq`` of its newest event the
    customer may see (0 before the first). Customers count in their conversation's seq, never in
    the tenant's event ids."""
    latest = (
        Event.objects.filter(customer_events_q(conversation_id=conversation_id), conversation_seq__isnull=False)
        .order_by("-conversation_seq")
        .values_list("conversation_seq", flat=True)
        .first()
    )
    return latest or 0


def customer_resume_point(*, tenant_id: int, conversation_id: int, position: int) -> int | str:
    """The tenant event id a customer's ``position`` (a seq of their conversation) stands for,
    or the reason for a resync when it stands for none: ahead of the conversation
    (``unknown_position``) or pruned (``expired``)."""
    if position == 0:
        return 0
    seq = (
        Event.objects.filter(
            customer_events_q(conversation_id=conversation_id), tenant_id=tenant_id, conversation_seq=position
        )
        .values_list("seq", flat=True)
        .first()
    )
    if seq is not None:
        return seq
    return "unknown_position" if position > customer_position(conversation_id) else "expired"


def visible_events(principal: Principal, joined: set[int]) -> Q:
    """The events a principal may replay: the audience rule (``conversations.access``) plus, for
    staff, message events only of the conversations the socket has joined."""
    if principal.is_customer:
        assert principal.conversation_id is not None
        return customer_events_q(conversation_id=principal.conversation_id)
    assert principal.user_id is not None
    allowed = events_visible_q(user_id=principal.user_id, is_supervisor=principal.is_supervisor)
    return allowed & ~(Q(type__startswith="message.") & ~Q(conversation_id__in=joined))


@dataclass(frozen=True)
class _Logged:
    """One event of a shared window: its frame, and what decides who may replay it."""

    seq: int
    text: str
    type: str
    conversation_id: int | None
    recipients: Recipients


def may_replay(event: _Logged, principal: Principal, joined: set[int]) -> bool:
    """``visible_events`` for one event in memory (``test_replay.py`` checks the two agree)."""
    if principal.is_customer:
        assert principal.conversation_id is not None
        return event.recipients.allows_customer(
            event_conversation_id=event.conversation_id, conversation_id=principal.conversation_id
        )
    if event.type.startswith("message.") and event.conversation_id not in joined:
        return False
    assert principal.user_id is not None
    return event.recipients.allows_staff(user_id=principal.user_id, is_supervisor=principal.is_supervisor)


class _Windows:
    """Windows of the log (tenant, after seq, through seq) read once and shared by the threads
    that replay them. Events up to the counter's ``last_seq`` are committed and never change (the
    counter row is locked until the event's commit), so a window read once stays right; it is
    kept a few seconds, for the clients of one storm. Threads asking for a window being read wait
    for that read instead of making their own."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[int, int, int], tuple[float, Future[list[_Logged] | None]]] = OrderedDict()

    def get(self, tenant_id: int, start: int, last_seq: int) -> list[_Logged] | None:
        key = (tenant_id, start, last_seq)
        now = time.monotonic()
        with self._lock:
            while self._entries:  # the oldest first: let go of windows past their time
                oldest = next(iter(self._entries.values()))
                if oldest[0] > now:
                    break
                self._entries.popitem(last=False)
            entry = self._entries.get(key)
            reader = entry is None
            if reader:  # a new key: it goes in last, as the newest
                future: Future[list[_Logged] | None] = Future()
                self._entries[key] = (now + SHARED_WINDOW_SECONDS, future)
                while len(self._entries) > SHARED_WINDOWS:
                    self._entries.popitem(last=False)
            else:
                assert entry is not None
                future = entry[1]
        if reader:
            try:
                future.set_result(_read_window(tenant_id, start, last_seq))
            except BaseException as exc:
                future.set_exception(exc)
                with self._lock:
                    if self._entries.get(key, (0.0, None))[1] is future:
                        del self._entries[key]  # the next client reads it again
        return future.result()

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_windows = _Windows()


def _in_window(tenant_id: int, start: int, last_seq: int) -> QuerySet[Event]:
    """The tenant's events in (start, last_seq], in id order."""
    return Event.objects.filter(tenant_id=tenant_id, seq__gt=start, seq__lte=last_seq).order_by("seq")


def _logged(event: Event) -> _Logged:
    return _Logged(
        event.seq, envelope_text(envelope_of(event)), event.type, event.conversation_id, recipients_of(event)
    )


def _read_window(tenant_id: int, start: int, last_seq: int) -> list[_Logged] | None:
    """Every event of the tenant in (start, last_seq], or None when there are too many to share."""
    events = list(_in_window(tenant_id, start, last_seq)[: SHARED_WINDOW_MAX + 1])
    if len(events) > SHARED_WINDOW_MAX:
        return None
    return [_logged(event) for event in events]


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
    window = _windows.get(principal.tenant_id, start, last_seq)
    if window is not None:
        mine = [event for event in window if may_replay(event, principal, joined)]
    else:  # too wide to share: only this principal's share is read, filtered in SQL
        rows = _in_window(principal.tenant_id, start, last_seq).filter(visible_events(principal, joined))
        mine = [_logged(event) for event in rows[: limit + 1]]
    if len(mine) > limit:
        return Replay(last_event_id=last_seq, resync="too_many_events")
    mine = _visible_now(mine, principal)
    return Replay(frames=[event.text for event in mine], ids=[event.seq for event in mine], last_event_id=last_seq)


def _is_copy(event: _Logged) -> bool:
    """A copy of a conversation (not the notice that it was taken away)."""
    return event.type.startswith("conversation.") and event.type != "conversation.revoked"


def _visible_now(events: list[_Logged], principal: Principal) -> list[_Logged]:
    """Without the copies of conversations an agent may no longer see: an event keeps the
    audience of its moment, and a resume must not hand back what REST now refuses (an agent who
    lost a conversation, replaying from before the transfer). Message events need a join, which
    checks access as it is now; supervisors see the whole tenant."""
    if principal.is_customer or principal.is_supervisor or principal.user is None:
        return events
    asked = {e.conversation_id for e in events if e.conversation_id is not None and _is_copy(e)}
    if not asked:
        return events
    visible = set(conversations_visible_to(user=principal.user).filter(pk__in=asked).values_list("pk", flat=True))
    return [e for e in events if e.conversation_id not in asked or e.conversation_id in visible or not _is_copy(e)]


def forget_windows() -> None:
    """Drop the shared windows (tests that empty the database between them)."""
    _windows.clear()
