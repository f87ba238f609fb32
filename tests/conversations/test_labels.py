"""Labels: the tenant's vocabulary (supervisors and admins manage it), put on conversations by
whoever may see them, filtered on in the inbox, and announced live to exactly who may see them."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations.models import ConversationLabel, Label
from realtime.models import Event
from tests import factories

pytestmark = pytest.mark.django_db


def label(tenant, name="VIP", colour="#ff0000"):
    return Label.objects.create(tenant=tenant, name=name, colour=colour)


def test_supervisor_creates_and_every_staff_member_lists_labels(api_for, tenant, supervisor, agent):
    response = api_for(supervisor).post("/api/labels/", {"name": "Billing", "colour": "#00aa00"}, format="json")
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["name"] == "Billing" and created["colour"] == "#00aa00"
    listed = api_for(agent).get("/api/labels/").json()
    assert [item["name"] for item in listed] == ["Billing"]
    event = Event.objects.get(type="label.saved")
    assert event.data["id"] == created["id"] and event.audience == "staff" and event.assignee_id is None


def test_agents_cannot_manage_labels(api_for, tenant, agent):
    existing = label(tenant)
    client = api_for(agent)
    assert client.post("/api/labels/", {"name": "X"}, format="json").json()["code"] == "forbidden"
    assert client.patch(f"/api/labels/{existing.pk}/", {"name": "Y"}, format="json").status_code == 403
    assert client.delete(f"/api/labels/{existing.pk}/").status_code == 403
    assert list(Label.objects.values_list("name", flat=True)) == ["VIP"]


def test_label_names_are_unique_whatever_their_case_and_colours_are_checked(api_for, tenant, supervisor):
    label(tenant, "VIP")
    client = api_for(supervisor)
    clash = client.post("/api/labels/", {"name": "vip"}, format="json")
    assert clash.status_code == 409 and clash.json()["code"] == "conflict"
    bad = client.post("/api/labels/", {"name": "New", "colour": "red"}, format="json")
    assert bad.status_code == 400 and bad.json()["code"] == "invalid"
    assert Label.objects.count() == 1


def test_labels_of_another_tenant_are_not_found(api_for, tenant, other_tenant, foreign_admin, supervisor):
    mine = label(tenant)
    client = api_for(foreign_admin)
    assert client.get(f"/api/labels/{mine.pk}/").status_code == 404
    assert client.patch(f"/api/labels/{mine.pk}/", {"name": "Z"}, format="json").status_code == 404
    assert client.delete(f"/api/labels/{mine.pk}/").status_code == 404
    assert client.get("/api/labels/").json() == []
    # Nor can a conversation be labelled with another tenant's label.
    conversation = factories.ConversationFactory(tenant=other_tenant)
    theirs = client.patch(f"/api/conversations/{conversation.pk}/", {"labels": [mine.pk]}, format="json")
    assert theirs.status_code == 400 and theirs.json()["code"] == "invalid"
    assert not ConversationLabel.objects.exists()


def test_agent_labels_a_conversation_they_see_and_everyone_who_sees_it_hears(api_for, tenant, agent, agent2):
    vip, billing = label(tenant, "VIP"), label(tenant, "Billing")
    conversation = factories.ConversationFactory(tenant=tenant, assignee=agent)
    response = api_for(agent).patch(
        f"/api/conversations/{conversation.pk}/", {"labels": [vip.pk, billing.pk]}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["labels"] == sorted([vip.pk, billing.pk])
    event = Event.objects.filter(type="conversation.updated", conversation_id=conversation.pk).latest("seq")
    assert event.data["labels"] == sorted([vip.pk, billing.pk])
    assert event.assignee_id == agent.pk  # the audience rule: the assignee and supervisors only
    # Another agent's conversation: not found, unchanged.
    refused = api_for(agent2).patch(f"/api/conversations/{conversation.pk}/", {"labels": []}, format="json")
    assert refused.status_code == 404
    assert ConversationLabel.objects.filter(conversation=conversation).count() == 2


def test_bad_label_ids_change_nothing(api_for, tenant, agent):
    vip = label(tenant)
    conversation = factories.ConversationFactory(tenant=tenant, assignee=agent)
    client = api_for(agent)
    client.patch(f"/api/conversations/{conversation.pk}/", {"labels": [vip.pk]}, format="json")
    bad = client.patch(f"/api/conversations/{conversation.pk}/", {"labels": [vip.pk, 999999]}, format="json")
    assert bad.status_code == 400 and bad.json()["code"] == "invalid"
    assert client.patch(f"/api/conversations/{conversation.pk}/", {"labels": "x"}, format="json").status_code == 400
    conversation.refresh_from_db()
    assert conversation.label_ids == [vip.pk]


def test_inbox_filters_by_several_labels_without_extra_queries(api_for, tenant, supervisor):
    vip, billing, other = label(tenant, "VIP"), label(tenant, "Billing"), label(tenant, "Other")
    client = api_for(supervisor)
    tagged = {}
    for name, ids in {
        "vip": [vip.pk],
        "billing": [billing.pk],
        "both": [vip.pk, billing.pk],
        "other": [other.pk],
    }.items():
        conversation = factories.ConversationFactory(tenant=tenant)
        client.patch(f"/api/conversations/{conversation.pk}/", {"labels": ids}, format="json")
        tagged[name] = conversation.pk
    factories.ConversationFactory(tenant=tenant)  # no label
    with CaptureQueriesContext(connection) as captured:
        page = client.get("/api/conversations/", {"labels": f"{vip.pk},{billing.pk}"})
    assert page.status_code == 200
    assert sorted(c["id"] for c in page.json()["results"]) == sorted([tagged["vip"], tagged["billing"], tagged["both"]])
    assert len(captured.captured_queries) == 2  # the user, then the page: labels ride on the row
    assert client.get("/api/conversations/", {"labels": "1,x"}).status_code == 400


def test_deleting_a_label_takes_it_off_its_conversations_live(api_for, tenant, supervisor):
    vip, billing = label(tenant, "VIP"), label(tenant, "Billing")
    conversation = factories.ConversationFactory(tenant=tenant)
    client = api_for(supervisor)
    client.patch(f"/api/conversations/{conversation.pk}/", {"labels": [vip.pk, billing.pk]}, format="json")
    assert client.delete(f"/api/labels/{vip.pk}/").status_code == 204
    conversation.refresh_from_db()
    assert conversation.label_ids == [billing.pk]
    assert Event.objects.filter(type="conversation.updated").latest("seq").data["labels"] == [billing.pk]
    assert Event.objects.filter(type="label.deleted").get().data == {"id": vip.pk}


def test_deleting_a_label_in_django_admin_takes_it_off_its_conversations(client, tenant):
    from conversations.models import User

    operator = User.objects.create_superuser("ops@example.test", "pw-123456789")
    client.force_login(operator)
    vip = label(tenant)
    conversation = factories.ConversationFactory(tenant=tenant, label_ids=[vip.pk])
    ConversationLabel.objects.create(conversation=conversation, label=vip)
    assert client.get("/admin/conversations/label/").status_code == 200
    response = client.post(f"/admin/conversations/label/{vip.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    conversation.refresh_from_db()
    assert conversation.label_ids == [] and not Label.objects.exists()
    for page in ("savedreply", "contactattributedefinition", "contactnote", "conversationmention"):
        assert client.get(f"/admin/conversations/{page}/").status_code == 200, page
