"""Queue positions and estimates, automatic assignment, races, lifecycle and absent agents."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from conversations import services
from conversations.models import Availability, ConversationStatus, Message, Role, SenderType, User
from flow import assignment, queue
from flow import services as flow
from flow.models import AgentAbsence, QueueOutcome, QueueTicket
from pytake.errors import Conflict
from realtime.models import Event
from tests import factories
from tests.flow_helpers import eager_celery, positions, recorded_publishes, webchat_conversation  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]


def everyone_online(tenant_id: int) -> set[int]:
    return set(User.objects.filter(tenant_id=tenant_id, is_active=True).values_list("pk", flat=True))


@pytest.fixture(autouse=True)
def _everyone_online():
    """Assignment rules without sockets: every active user of the tenant counts as connected."""
    queue.set_presence_provider(everyone_online)
    yield
    queue.set_presence_provider(queue.realtime_presence)


def away(*users):
    for user in users:
        user.availability = Availability.AWAY
        user.save()


def enqueue(conversation, capture, reason="requested"):
    with capture(execute=True):
        flow.queue_request_human(conversation=conversation, reason=reason)
    conversation.refresh_from_db()
    return conversation


def test_positions_and_estimates_as_conversations_come_and_go(
    tenant, agent, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.PYTAKE_QUEUE_DEFAULT_HANDLING_SECONDS = 300
    agent.max_open_conversations = 2
    agent.save()
    away(agent)  # nobody to take them: they wait
    capture = django_capture_on_commit_callbacks
    with recorded_publishes(monkeypatch) as sent:
        first, second, third = (enqueue(webchat_conversation(tenant), capture) for _ in range(3))
        snapshot = queue.queue_snapshot(tenant_id=tenant.pk)
        assert [(e.conversation.pk, e.position) for e in snapshot] == [(first.pk, 1), (second.pk, 2), (third.pk, 3)]
        # No agent available: one slot assumed, 300 s per conversation ahead.
        assert [e.estimated_wait_seconds for e in snapshot] == [300, 600, 900]
        # Each customer was told their position once, when it was new.
        assert positions(sent) == [(first.pk, 1), (second.pk, 2), (third.pk, 3)]
        queue_events = [m["frame"]["data"] for _, m in sent if m["event_type"] == "queue.updated"]
        assert [(e["size"], e["conversation_id"], e["reason"]) for e in queue_events] == [
            (1, first.pk, "queued"),
            (2, second.pk, "queued"),
            (3, third.pk, "queued"),
        ]
        sent.clear()

        # The first one leaves (resolved): the others move up and are told; nobody else is.
        with capture(execute=True):
            assignment.conversation_resolve(conversation=first, actor=None)
        assert positions(sent) == [(second.pk, 1), (third.pk, 2)]
        assert [e.position for e in queue.queue_snapshot(tenant_id=tenant.pk)] == [1, 2]
        sent.clear()

        # A newcomer goes last; those ahead are not told again (their position did not change).
        fourth = enqueue(webchat_conversation(tenant), capture)
        assert positions(sent) == [(fourth.pk, 3)]

    # Recent handling times replace the default: two handlings of 60 and 120 s → 90 s each.
    now = timezone.now()
    for seconds in (60, 120):
        done = factories.ConversationFactory(tenant=tenant)
        QueueTicket.objects.create(
            tenant=tenant,
            conversation=done,
            reason="requested",
            entered_at=now - timedelta(minutes=10),
            left_at=now - timedelta(minutes=9),
            outcome=QueueOutcome.ASSIGNED,
            assigned_at=now - timedelta(seconds=seconds + 10),
            handled_until=now - timedelta(seconds=10),
        )
    assert queue.average_handling_seconds(tenant_id=tenant.pk) == pytest.approx(90)
    # An available agent holding 2 at once doubles the pace: position 3 → ceil(3 × 90 / 2).
    agent.availability = Availability.AVAILABLE
    agent.save()
    agent2 = factories.UserFactory(tenant=tenant, role=Role.AGENT, availability=Availability.AWAY)
    assert agent2  # away: does not count
    snapshot = queue.queue_snapshot(tenant_id=tenant.pk)
    assert [e.estimated_wait_seconds for e in snapshot] == [45, 90, 135]


def test_auto_assignment_picks_least_loaded_online_agent_within_capacity(
    tenant, django_capture_on_commit_callbacks, settings
):
    settings.PYTAKE_AUTO_ASSIGN = False  # fill the queue first, then assign in one go
    busy = factories.UserFactory(tenant=tenant, role=Role.AGENT, max_open_conversations=3)
    light = factories.UserFactory(tenant=tenant, role=Role.AGENT, max_open_conversations=1)
    offline = factories.UserFactory(tenant=tenant, role=Role.AGENT, max_open_conversations=10)
    absent = factories.UserFactory(
        tenant=tenant, role=Role.AGENT, max_open_conversations=10, availability=Availability.AWAY
    )
    supervisor = factories.UserFactory(tenant=tenant, role=Role.SUPERVISOR)
    for _ in range(2):
        factories.ConversationFactory(tenant=tenant, assignee=busy)
    factories.ConversationFactory(tenant=tenant, assignee=busy, status=ConversationStatus.RESOLVED)  # not load
    queue.set_presence_provider(lambda tenant_id: {busy.pk, light.pk, absent.pk, supervisor.pk})
    waiting = [enqueue(webchat_conversation(tenant), django_capture_on_commit_callbacks) for _ in range(3)]

    with django_capture_on_commit_callbacks(execute=True):
        done = flow.queue_auto_assign(tenant_id=tenant.pk)

    # Oldest first: to the agent with fewest open (light, 0), then busy (2 < 3); the third waits:
    # light is full (1/1), busy is full (3/3), offline is not connected, absent is away.
    assert done == [(waiting[0].pk, light.pk), (waiting[1].pk, busy.pk)]
    for conversation in waiting:
        conversation.refresh_from_db()
    assert [c.assignee_id for c in waiting] == [light.pk, busy.pk, None]
    assert waiting[2].queued_at is not None
    assert waiting[0].queued_at is None
    assert queue.open_count(user_id=offline.pk) == 0
    note = Message.objects.filter(conversation=waiting[0], sender_type=SenderType.SYSTEM).last()
    assert note.internal and note.content["system"]["to"] == light.pk
    assert (note.content["system"]["event"], note.content["system"]["by"]) == ("assigned", None)
    assert note.text == f"Atribuída a {light.name} automaticamente."  # the tenant's language (pt)
    assert [e.position for e in queue.queue_snapshot(tenant_id=tenant.pk)] == [1]

    # Capacity frees up (light resolves theirs): the waiting one goes to light at once.
    with django_capture_on_commit_callbacks(execute=True):
        assignment.conversation_resolve(conversation=waiting[0], actor=light)
    settings.PYTAKE_AUTO_ASSIGN = True
    flow.queue_changed(tenant_id=tenant.pk)
    waiting[2].refresh_from_db()
    assert waiting[2].assignee_id == light.pk


def test_escalation_is_assigned_automatically_when_an_agent_is_free(tenant, agent, django_capture_on_commit_callbacks):
    conversation = enqueue(webchat_conversation(tenant), django_capture_on_commit_callbacks)
    assert conversation.assignee_id == agent.pk
    assert conversation.queued_at is None
    events = list(Event.objects.filter(tenant=tenant, conversation_id=conversation.pk).values_list("type", flat=True))
    assert "conversation.assigned" in events
    assert list(Event.objects.filter(tenant=tenant, type="queue.updated").values_list("data__reason", flat=True)) == [
        "queued",
        "assigned",
    ]


def test_every_transfer_is_recorded_as_a_system_message(tenant, agent, agent2, supervisor):
    conversation = factories.ConversationFactory(tenant=tenant)
    assignment.conversation_assign(conversation=conversation, assignee=agent, actor=agent)
    assignment.conversation_assign(conversation=conversation, assignee=agent2, actor=supervisor)
    assignment.conversation_assign(conversation=conversation, assignee=None, actor=agent2)
    notes = list(Message.objects.filter(conversation=conversation, sender_type=SenderType.SYSTEM).order_by("id"))
    assert [n.content["system"]["to"] for n in notes] == [agent.pk, agent2.pk, None]
    assert [n.content["system"]["event"] for n in notes] == ["taken", "transferred", "returned"]
    assert notes[1].content["system"] == {
        "event": "transferred",
        "from": agent.pk,
        "from_name": agent.name,
        "to": agent2.pk,
        "to_name": agent2.name,
        "by": supervisor.pk,
        "by_name": supervisor.name,
        "reason": "",
    }
    # Stored text, for clients that do not render the codes: in the tenant's language.
    assert notes[0].text == f"{agent.name} assumiu a conversa."
    assert notes[1].text == f"Transferida de {agent.name} para {agent2.name} por {supervisor.name}."
    assert notes[2].text == f"{agent2.name} devolveu a conversa à fila."
    assert all(n.internal for n in notes)  # staff history, never sent to the customer
    conversation.refresh_from_db()
    assert conversation.queued_at is not None  # handed back: it waits again


def test_sequential_take_of_a_taken_conversation_is_409(tenant, agent, agent2):
    conversation = factories.ConversationFactory(tenant=tenant)
    assignment.conversation_assign(conversation=conversation, assignee=agent, actor=agent)
    with pytest.raises(Conflict) as caught:
        assignment.conversation_assign(conversation=conversation, assignee=agent2, actor=agent2)
    assert caught.value.code == "already_assigned"
    assert caught.value.status == 409


def _race_to_take(conversation: Any, agents: list[Any]) -> dict[int, str]:
    barrier = threading.Barrier(len(agents))
    results: dict[int, str] = {}

    def take(agent: Any) -> None:
        try:
            barrier.wait(timeout=10)
            assignment.conversation_assign(conversation=conversation, assignee=agent, actor=agent)
            results[agent.pk] = "ok"
        except Conflict as exc:
            results[agent.pk] = f"{exc.status} {exc.code}"
        finally:
            connection.close()

    threads = [threading.Thread(target=take, args=(a,)) for a in agents]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_take_one_wins_one_gets_409(tenant):
    """Real threads, real PostgreSQL row locks: two agents take the same waiting conversation."""
    for attempt in range(5):
        agents = [factories.UserFactory(tenant=tenant, role=Role.AGENT) for _ in range(2)]
        conversation = webchat_conversation(tenant, queued_at=timezone.now())
        results = _race_to_take(conversation, agents)
        assert sorted(results.values()) == ["409 already_assigned", "ok"], (attempt, results)
        conversation.refresh_from_db()
        winner = next(pk for pk, r in results.items() if r == "ok")
        assert conversation.assignee_id == winner
        # Exactly one assignment happened: one system message, one assigned event.
        assert Message.objects.filter(conversation=conversation, sender_type=SenderType.SYSTEM).count() == 1
        assert Event.objects.filter(conversation_id=conversation.pk, type="conversation.assigned").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_take_over_http_gives_a_clear_409(tenant, api_for):
    agents = [factories.UserFactory(tenant=tenant, role=Role.AGENT) for _ in range(2)]
    conversation = webchat_conversation(tenant, queued_at=timezone.now())
    barrier = threading.Barrier(2)
    answers: list[tuple[int, dict]] = []

    def take(agent: Any) -> None:
        client = api_for(agent)
        barrier.wait(timeout=10)
        response = client.post(
            f"/api/conversations/{conversation.pk}/assign/", {"assignee_id": agent.pk}, format="json"
        )
        answers.append((response.status_code, response.json()))
        connection.close()

    threads = [threading.Thread(target=take, args=(a,)) for a in agents]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    codes = sorted(code for code, _ in answers)
    # The loser either raced through the visibility check (409) or came just after (404: it is
    # another agent's conversation now); never two winners.
    assert codes[0] == 200 and codes[1] in (404, 409), answers
    loser = next(body for code, body in answers if code != 200)
    assert loser["code"] in ("already_assigned", "not_found")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_auto_assigners_respect_capacity(tenant, settings):
    settings.PYTAKE_AUTO_ASSIGN = False
    agent = factories.UserFactory(tenant=tenant, role=Role.AGENT, max_open_conversations=2)
    for _ in range(6):
        webchat_conversation(tenant, queued_at=timezone.now())
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait(timeout=10)
            flow.queue_auto_assign(tenant_id=tenant.pk)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert queue.open_count(user_id=agent.pk) == 2
    assert queue.queue_waiting(tenant_id=tenant.pk).count() == 4


# --- lifecycle -------------------------------------------------------------------------------------


def test_inbound_reopens_resolved_and_pending(tenant, agent, django_capture_on_commit_callbacks):
    conversation = webchat_conversation(tenant, assignee=agent, status=ConversationStatus.RESOLVED)
    with django_capture_on_commit_callbacks(execute=True):
        message, created = services.message_create_webchat(conversation_id=conversation.pk, text="oi", client_id="c1")
    conversation.refresh_from_db()
    assert created and conversation.status == ConversationStatus.OPEN
    assert conversation.unread_count == 1
    assert conversation.last_customer_message_at == message.created_at
    assert conversation.last_message_preview == "oi"
    again, created = services.message_create_webchat(conversation_id=conversation.pk, text="oi", client_id="c1")
    assert (again.pk, created) == (message.pk, False)
    assignment.conversation_set_status(conversation=conversation, status=ConversationStatus.PENDING, actor=agent)
    services.message_create_webchat(conversation_id=conversation.pk, text="still there?", client_id=None)
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.OPEN


def test_auto_resolve_after_inactivity(tenant, agent, settings, django_capture_on_commit_callbacks):
    settings.PYTAKE_AUTO_RESOLVE_HOURS = 24
    now = timezone.now()
    stale = factories.ConversationFactory(tenant=tenant, assignee=agent, last_message_at=now - timedelta(hours=25))
    waiting = factories.ConversationFactory(
        tenant=tenant, last_message_at=now - timedelta(hours=30), queued_at=now - timedelta(hours=30)
    )
    fresh = factories.ConversationFactory(tenant=tenant, last_message_at=now - timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert flow.conversations_auto_resolve(now=now) == 2
    for c in (stale, waiting, fresh):
        c.refresh_from_db()
    assert (stale.status, waiting.status, fresh.status) == ("resolved", "resolved", "open")
    assert waiting.queued_at is None
    line = Message.objects.filter(conversation=stale, sender_type=SenderType.SYSTEM).last()
    assert line.content["system"] == {"event": "resolved", "by": None, "by_name": "", "reason": "inactivity"}
    assert line.text == "Conversa resolvida (inatividade)."
    settings.PYTAKE_AUTO_RESOLVE_HOURS = 0
    assert flow.conversations_auto_resolve(now=now + timedelta(days=9)) == 0


def test_auto_resolve_is_scheduled_in_celery_beat(settings):
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"conversations.auto_resolve", "conversations.queue_sweep", "conversations.requeue_absent_agents"} <= tasks


def test_absent_agent_keeps_conversations_until_the_grace_period(
    tenant, agent, agent2, settings, django_capture_on_commit_callbacks
):
    settings.PYTAKE_AWAY_REQUEUE_SECONDS = 300
    held = factories.ConversationFactory(tenant=tenant, assignee=agent)
    away(agent2)  # nobody to give it to afterwards
    flow.agent_went_away(user_id=agent.pk)
    away(agent)
    now = timezone.now()
    assert flow.agents_requeue_absent(now=now + timedelta(seconds=100)) == 0
    held.refresh_from_db()
    assert held.assignee_id == agent.pk  # within the grace period: still theirs
    with django_capture_on_commit_callbacks(execute=True):
        assert flow.agents_requeue_absent(now=now + timedelta(seconds=301)) == 1
    held.refresh_from_db()
    assert held.assignee_id is None and held.queued_at is not None
    assert not AgentAbsence.objects.filter(user=agent).exists()
    line = Message.objects.filter(conversation=held, sender_type=SenderType.SYSTEM).last()
    assert (line.content["system"]["event"], line.content["system"]["reason"]) == ("requeued", "agent absent")
    assert line.text == "Devolvida à fila (agente ausente)."


def test_without_grace_period_absent_agents_keep_everything(tenant, agent, settings):
    settings.PYTAKE_AWAY_REQUEUE_SECONDS = 0
    held = factories.ConversationFactory(tenant=tenant, assignee=agent)
    flow.agent_went_away(user_id=agent.pk)
    assert flow.agents_requeue_absent(now=timezone.now() + timedelta(days=2)) == 0
    held.refresh_from_db()
    assert held.assignee_id == agent.pk


def test_coming_back_cancels_the_requeue_and_takes_work(
    tenant, agent, settings, api_for, django_capture_on_commit_callbacks
):
    settings.PYTAKE_AWAY_REQUEUE_SECONDS = 60
    client = api_for(agent)
    assert client.patch("/api/me/", {"availability": "away"}, format="json").status_code == 200
    assert AgentAbsence.objects.filter(user=agent).exists()
    waiting = enqueue(webchat_conversation(tenant), django_capture_on_commit_callbacks)
    assert waiting.assignee_id is None  # the only agent is away
    with django_capture_on_commit_callbacks(execute=True):
        assert client.patch("/api/me/", {"availability": "available"}, format="json").status_code == 200
    assert not AgentAbsence.objects.filter(user=agent).exists()
    waiting.refresh_from_db()
    assert waiting.assignee_id == agent.pk
