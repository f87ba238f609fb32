"""Replay reads a window of the log once for every client resuming from it (realtime/replay.py):
the in-memory rule gives each principal exactly what the SQL rule gives it, a window is read
once, tenants at the same position never share one, and a wide window is still read per client."""

import itertools
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversations.models import Conversation
from realtime import replay
from realtime.auth import Principal
from realtime.models import Audience, Event, TenantEventCounter
from tests import factories

pytestmark = pytest.mark.django_db

CONVERSATIONS = (7001, 7002)


def log_every_kind(tenant, people) -> int:
    """One event of every combination of type, audience, person, customer flag and conversation,
    numbered from 1 in ``tenant``. Returns the last id. The conversations exist, unassigned (a
    resume leaves out copies of conversations the agent may no longer see)."""
    for pk in CONVERSATIONS:
        if not Conversation.objects.filter(pk=pk).exists():  # bulk_create: no events of its own
            contact = factories.ContactFactory(tenant=tenant)
            Conversation.objects.bulk_create([Conversation(pk=pk, tenant=tenant, contact=contact)])
    seq = 0
    for type_, audience, person, customer, conversation in itertools.product(
        ("message.new", "conversation.updated"),
        Audience.values,
        (None, *(user.pk for user in people)),
        (False, True),
        (None, *CONVERSATIONS),
    ):
        seq += 1
        Event.objects.create(
            tenant=tenant,
            seq=seq,
            type=type_,
            conversation_id=conversation,
            audience=audience,
            assignee_id=person if audience == Audience.STAFF else None,
            user_id=person if audience != Audience.STAFF else None,
            customer=customer,
            data={"n": seq, "tenant": tenant.slug},
        )
    TenantEventCounter.objects.update_or_create(tenant=tenant, defaults={"last_seq": seq})
    return seq


def principal(tenant, user=None, conversation_id=None) -> Principal:
    expires = timezone.now() + timedelta(minutes=5)
    return Principal(tenant_id=tenant.pk, expires_at=expires, user=user, conversation_id=conversation_id)


def sql_ids(who: Principal, joined: set[int], after: int = 0) -> list[int]:
    rows = Event.objects.filter(tenant_id=who.tenant_id, seq__gt=after).filter(replay.visible_events(who, joined))
    return list(rows.order_by("seq").values_list("seq", flat=True))


def event_reads(queries: CaptureQueriesContext) -> list[str]:
    table = Event._meta.db_table
    return [q["sql"] for q in queries.captured_queries if table in q["sql"] and q["sql"].startswith("SELECT")]


def everyone(tenant, supervisor, agent, agent2) -> list[Principal]:
    return [
        principal(tenant, supervisor),
        principal(tenant, agent),
        principal(tenant, agent2),
        principal(tenant, conversation_id=CONVERSATIONS[0]),
    ]


def test_each_principal_replays_from_the_shared_window_what_sql_gives_it(tenant, supervisor, agent, agent2):
    log_every_kind(tenant, [supervisor, agent, agent2])
    for who in everyone(tenant, supervisor, agent, agent2):
        for joined in (set(), {CONVERSATIONS[0]}, set(CONVERSATIONS)):
            expected = sql_ids(who, joined)
            assert expected, (who, joined)  # every principal sees something: the rule is exercised
            got = replay.replay_after(principal=who, last_event_id=0, joined=joined)
            assert got.ids == expected, (who.role, joined)
            assert len(got.frames) == len(expected)


def test_a_window_is_read_once_for_every_client_resuming_from_it(tenant, supervisor, agent, agent2):
    last = log_every_kind(tenant, [supervisor, agent, agent2])
    first, *others = everyone(tenant, supervisor, agent, agent2)
    with CaptureQueriesContext(connection) as reading:
        replay.replay_after(principal=first, last_event_id=last - 50, joined=set())
    for who in others:
        with CaptureQueriesContext(connection) as sharing:
            got = replay.replay_after(principal=who, last_event_id=last - 50, joined={CONVERSATIONS[0]})
        assert event_reads(sharing) == []
        assert got.ids == sql_ids(who, {CONVERSATIONS[0]}, after=last - 50 - 20)  # 20: the overlap
    assert len(event_reads(reading)) == 1


def test_tenants_at_the_same_position_never_share_a_window(tenant, other_tenant, agent, foreign_admin):
    log_every_kind(tenant, [agent])
    log_every_kind(other_tenant, [foreign_admin])  # the same ids, 1..N, in another tenant
    mine = replay.replay_after(principal=principal(tenant, agent), last_event_id=0, joined=set(CONVERSATIONS))
    theirs = replay.replay_after(
        principal=principal(other_tenant, foreign_admin), last_event_id=0, joined=set(CONVERSATIONS)
    )
    assert mine.frames and theirs.frames
    assert all(f'"tenant":"{tenant.slug}"' in frame for frame in mine.frames)
    assert all(f'"tenant":"{other_tenant.slug}"' in frame for frame in theirs.frames)


def test_a_window_too_wide_to_share_is_read_per_client_with_the_same_result(
    tenant, supervisor, agent, agent2, monkeypatch
):
    monkeypatch.setattr(replay, "SHARED_WINDOW_MAX", 10)
    log_every_kind(tenant, [supervisor, agent, agent2])
    reads = []
    for who in everyone(tenant, supervisor, agent, agent2):
        with CaptureQueriesContext(connection) as queries:
            got = replay.replay_after(principal=who, last_event_id=0, joined={CONVERSATIONS[1]})
        assert got.ids == sql_ids(who, {CONVERSATIONS[1]})
        reads.append(len(event_reads(queries)))
    # The first client finds the window too wide (and the next ones know it): each reads its share.
    assert reads == [2, 1, 1, 1]


def test_windows_past_their_time_are_let_go(tenant, supervisor, agent, agent2, monkeypatch):
    monkeypatch.setattr(replay, "SHARED_WINDOW_SECONDS", 0.0)
    last = log_every_kind(tenant, [supervisor, agent, agent2])
    who = principal(tenant, agent)
    reads = []
    for after in (last - 10, last - 30, last - 10):
        with CaptureQueriesContext(connection) as queries:
            replay.replay_after(principal=who, last_event_id=after, joined=set())
        reads.append(len(event_reads(queries)))
    assert reads == [1, 1, 1]  # expired at once: read again, never served stale
    assert len(replay._windows._entries) == 1  # the older ones are gone, not only unused


def test_an_agent_replays_no_copy_of_a_conversation_taken_from_them(tenant, agent, agent2):
    log_every_kind(tenant, [agent, agent2])
    before = replay.replay_after(principal=principal(tenant, agent), last_event_id=0, joined=set())
    Conversation.objects.filter(pk=CONVERSATIONS[0]).update(assignee=agent2)
    after = replay.replay_after(principal=principal(tenant, agent), last_event_id=0, joined=set())
    dropped = set(before.ids) - set(after.ids)
    kinds = Event.objects.filter(tenant=tenant, seq__in=dropped).values_list("type", "conversation_id").distinct()
    assert set(kinds) == {("conversation.updated", CONVERSATIONS[0])}
    assert set(after.ids) < set(before.ids)
