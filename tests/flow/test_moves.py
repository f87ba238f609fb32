"""The moves agents need besides take and resolve: pending, snooze (and its wake-up by Celery
beat), transfer with a note, and bulk actions reported per id. Each with its cross-tenant and
cross-agent case."""

from datetime import timedelta

import pytest
from django.utils import timezone

from conversations.models import AuditEntry, ConversationStatus, Label, Message, SenderType
from flow import moves
from realtime.models import Event
from tests import factories

pytestmark = pytest.mark.django_db


def post(client, conversation, action, body=None):
    return client.post(f"/api/conversations/{conversation.pk}/{action}/", body or {}, format="json")


def test_pending_waits_on_the_customer_whose_next_message_reopens_it(api_for, tenant, agent, agent2, foreign_admin):
    conversation = factories.ConversationFactory(tenant=tenant, assignee=agent)
    assert post(api_for(agent2), conversation, "pending").status_code == 404
    assert post(api_for(foreign_admin), conversation, "pending").status_code == 404
    response = post(api_for(agent), conversation, "pending")
    assert response.status_code == 200 and response.json()["status"] == "pending"
    from django.db import transaction

    from conversations.services import conversation_lock, conversation_record_inbound_locked

    with transaction.atomic():
        locked = conversation_lock(conversation)
        inbound = factories.MessageFactory(conversation=locked, content={"text": "any news?"})
        conversation_record_inbound_locked(conversation=locked, message=inbound)
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.OPEN


def test_snooze_until_a_time_then_beat_wakes_it_with_a_notice(api_for, tenant, agent, agent2, foreign_admin):
    conversation = factories.ConversationFactory(tenant=tenant, assignee=agent)
    until = timezone.now() + timedelta(hours=2)
    body = {"until": until.isoformat()}
    assert post(api_for(agent2), conversation, "snooze", body).status_code == 404
    assert post(api_for(foreign_admin), conversation, "snooze", body).status_code == 404
    past = post(api_for(agent), conversation, "snooze", {"until": (timezone.now() - timedelta(minutes=1)).isoformat()})
    assert past.status_code == 400 and past.json()["code"] == "invalid"
    assert post(api_for(agent), conversation, "snooze", {"until": "soon"}).status_code == 400
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.OPEN
    response = post(api_for(agent), conversation, "snooze", body)
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "snoozed" and response.json()["snoozed_until"]
    assert AuditEntry.objects.filter(conversation=conversation, action="snooze").exists()
    # Not yet due: nothing happens.
    assert moves.snoozed_wake_due(now=timezone.now()) == 0
    assert moves.snoozed_wake_due(now=until + timedelta(seconds=1)) == 1
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.OPEN and conversation.snoozed_until is None
    notice = Message.objects.filter(conversation=conversation, sender_type=SenderType.SYSTEM).latest("id")
    assert notice.content["system"]["event"] == "snooze_ended" and notice.internal
    updated = Event.objects.filter(conversation_id=conversation.pk, type="conversation.updated").latest("seq")
    assert updated.data["status"] == "open" and updated.assignee_id == agent.pk
    assert moves.snoozed_wake_due(now=until + timedelta(seconds=2)) == 0  # once


def test_a_customer_writing_wakes_a_snoozed_conversation(api_for, tenant, agent):
    from django.db import transaction

    from conversations.services import conversation_lock, conversation_record_inbound_locked

    conversation = factories.ConversationFactory(tenant=tenant, assignee=agent)
    post(api_for(agent), conversation, "snooze", {"until": (timezone.now() + timedelta(days=1)).isoformat()})
    with transaction.atomic():
        locked = conversation_lock(conversation)
        inbound = factories.MessageFactory(conversation=locked, content={"text": "hello?"})
        conversation_record_inbound_locked(conversation=locked, message=inbound)
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.OPEN and conversation.snoozed_until is None


def test_an_agent_transfers_their_own_conversation_with_a_note(api_for, tenant, agent, agent2, foreign_admin):
    conversation = factories.ConversationFactory(tenant=tenant, assignee=agent)
    body = {"assignee_id": agent2.pk, "note": "Refund approved, please send the code"}
    assert post(api_for(agent2), conversation, "transfer", body).status_code == 404
    assert post(api_for(foreign_admin), conversation, "transfer", body).status_code == 404
    stranger = factories.UserFactory(tenant=foreign_admin.tenant)
    bad = post(api_for(agent), conversation, "transfer", {"assignee_id": stranger.pk})
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_assignee"
    response = post(api_for(agent), conversation, "transfer", body)
    assert response.status_code == 200, response.content
    assert response.json()["assignee"]["id"] == agent2.pk
    note = Message.objects.filter(conversation=conversation, internal=True, sender=agent).get()
    assert note.text == body["note"]
    # Now it is agent2's: agent can neither see nor transfer it again.
    assert post(api_for(agent), conversation, "transfer", {"assignee_id": agent.pk}).status_code == 404
    # Back to the queue with a note.
    back = post(api_for(agent2), conversation, "transfer", {"assignee_id": None, "note": "Not mine"})
    assert back.status_code == 200 and back.json()["assignee"] is None and back.json()["queued_at"]


def test_an_agent_cannot_transfer_a_queued_conversation_to_someone_else(api_for, tenant, agent, agent2):
    queued = factories.ConversationFactory(tenant=tenant)
    refused = post(api_for(agent), queued, "transfer", {"assignee_id": agent2.pk})
    assert refused.status_code == 400 and refused.json()["code"] == "forbidden_assignment"
    queued.refresh_from_db()
    assert queued.assignee_id is None


def test_bulk_actions_report_each_id(api_for, tenant, other_tenant, agent, agent2, supervisor):
    mine = factories.ConversationFactory(tenant=tenant, assignee=agent)
    queued = factories.ConversationFactory(tenant=tenant)
    theirs = factories.ConversationFactory(tenant=tenant, assignee=agent2)
    foreign = factories.ConversationFactory(tenant=other_tenant)
    resolved = factories.ConversationFactory(tenant=tenant, assignee=agent, status=ConversationStatus.RESOLVED)
    client = api_for(agent)
    ids = [mine.pk, queued.pk, theirs.pk, foreign.pk, 999999]
    answer = client.post("/api/conversations/bulk/", {"ids": ids, "action": "resolve"}, format="json")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert (body["succeeded"], body["failed"]) == (2, 3)
    assert {r["id"]: r["code"] for r in body["results"] if not r["ok"]} == {
        theirs.pk: "not_found",
        foreign.pk: "not_found",
        999999: "not_found",
    }
    for conversation, status in ((mine, "resolved"), (queued, "resolved"), (theirs, "open"), (foreign, "open")):
        conversation.refresh_from_db()
        assert conversation.status == status

    vip = Label.objects.create(tenant=tenant, name="VIP")
    labelled = client.post(
        "/api/conversations/bulk/",
        {"ids": [mine.pk, resolved.pk, theirs.pk], "action": "label", "add_labels": [vip.pk]},
        format="json",
    ).json()
    assert [r["ok"] for r in labelled["results"]] == [True, True, False]
    mine.refresh_from_db()
    assert mine.label_ids == [vip.pk]
    foreign_label = Label.objects.create(tenant=other_tenant, name="X")
    bad = client.post(
        "/api/conversations/bulk/",
        {"ids": [mine.pk], "action": "label", "add_labels": [foreign_label.pk]},
        format="json",
    )
    assert bad.status_code == 400 and bad.json()["code"] == "invalid"

    unassigned = [factories.ConversationFactory(tenant=tenant).pk for _ in range(2)]
    assigned = (
        api_for(supervisor)
        .post(
            "/api/conversations/bulk/",
            {"ids": [*unassigned, theirs.pk], "action": "assign", "assignee_id": agent.pk},
            format="json",
        )
        .json()
    )
    assert assigned["succeeded"] == 3
    # An agent cannot hand out conversations in bulk any more than one by one.
    handed = client.post(
        "/api/conversations/bulk/", {"ids": unassigned, "action": "assign", "assignee_id": agent2.pk}, format="json"
    ).json()
    assert {r["code"] for r in handed["results"]} == {"forbidden_assignment"}


def test_bulk_input_is_checked_before_anything_changes(api_for, tenant, agent):
    conversation = factories.ConversationFactory(tenant=tenant, assignee=agent)
    client = api_for(agent)
    for body in (
        {"ids": [], "action": "resolve"},
        {"ids": list(range(1, 102)), "action": "resolve"},
        {"ids": [conversation.pk], "action": "delete"},
        {"ids": [conversation.pk], "action": "assign"},
        {"ids": [conversation.pk], "action": "label"},
    ):
        response = client.post("/api/conversations/bulk/", body, format="json")
        assert response.status_code == 400 and response.json()["code"] == "invalid", body
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.OPEN
