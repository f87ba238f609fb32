"""The contact beside the chat: custom fields (admins define them, values checked by type),
notes, previous conversations, CSV export and import, and merging two contacts (audited). Each
endpoint with its cross-tenant and cross-agent case."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from conversations.models import AuditEntry, Contact, ContactAttributeDefinition, ContactNote, Conversation
from realtime.models import Event
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def fields(tenant):
    return {
        "plan": ContactAttributeDefinition.objects.create(
            tenant=tenant, key="plan", label="Plan", type="list", options=["free", "pro"]
        ),
        "seats": ContactAttributeDefinition.objects.create(tenant=tenant, key="seats", label="Seats", type="number"),
        "since": ContactAttributeDefinition.objects.create(tenant=tenant, key="since", label="Since", type="date"),
        "city": ContactAttributeDefinition.objects.create(tenant=tenant, key="city", label="City", type="text"),
    }


def upload(text):
    return SimpleUploadedFile("contacts.csv", text.encode(), content_type="text/csv")


def test_admins_define_fields_everyone_reads_them(api_for, tenant, admin_user, supervisor, agent, foreign_admin):
    body = {"key": "tier", "label": "Tier", "type": "list", "options": ["gold", "silver"]}
    assert api_for(supervisor).post("/api/contact-attributes/", body, format="json").status_code == 403
    created = api_for(admin_user).post("/api/contact-attributes/", body, format="json")
    assert created.status_code == 201, created.content
    assert [f["key"] for f in api_for(agent).get("/api/contact-attributes/").json()] == ["tier"]
    assert api_for(foreign_admin).get("/api/contact-attributes/").json() == []
    pk = created.json()["id"]
    assert (
        api_for(foreign_admin).patch(f"/api/contact-attributes/{pk}/", {"label": "x"}, format="json").status_code == 404
    )
    assert (
        api_for(admin_user).patch(f"/api/contact-attributes/{pk}/", {"type": "text"}, format="json").status_code == 400
    )
    bad = api_for(admin_user).post("/api/contact-attributes/", {**body, "key": "x2", "options": []}, format="json")
    assert bad.status_code == 400
    assert api_for(admin_user).post("/api/contact-attributes/", body, format="json").status_code == 409
    assert Event.objects.filter(type="contact_attribute.saved").count() == 1


def test_values_are_checked_by_type_and_bad_ones_change_nothing(api_for, tenant, agent, agent2, fields):
    conversation = factories.ConversationFactory(tenant=tenant, assignee=agent)
    url = f"/api/contacts/{conversation.contact_id}/"
    client = api_for(agent)
    good = {"plan": "pro", "seats": 12, "since": "2024-02-29", "city": "Recife"}
    response = client.patch(url, {"custom_attributes": good, "name": "Maria"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["custom_attributes"] == good and response.json()["name"] == "Maria"
    updated = Event.objects.filter(type="conversation.updated", conversation_id=conversation.pk).latest("seq")
    assert updated.data["contact"]["custom_attributes"]["plan"] == "pro"
    for bad in ({"plan": "gold"}, {"seats": "many"}, {"seats": True}, {"since": "2024-02-30"}, {"nope": 1}):
        refused = client.patch(url, {"custom_attributes": {**bad, "city": "Olinda"}}, format="json")
        assert refused.status_code == 400 and refused.json()["code"] == "invalid_attribute", bad
    cleared = client.patch(url, {"custom_attributes": {"city": None}}, format="json").json()
    assert cleared["custom_attributes"] == {"plan": "pro", "seats": 12, "since": "2024-02-29"}
    assert api_for(agent2).patch(url, {"name": "X"}, format="json").status_code == 404


def test_notes_about_a_contact(api_for, tenant, agent, agent2, supervisor, foreign_admin):
    conversation = factories.ConversationFactory(tenant=tenant, assignee=agent)
    url = f"/api/contacts/{conversation.contact_id}/notes/"
    created = api_for(agent).post(url, {"text": "Prefers mornings"}, format="json")
    assert created.status_code == 201, created.content
    assert [n["text"] for n in api_for(supervisor).get(url).json()] == ["Prefers mornings"]
    for outsider in (agent2, foreign_admin):
        assert api_for(outsider).get(url).status_code == 404
        assert api_for(outsider).post(url, {"text": "x"}, format="json").status_code == 404
    assert api_for(agent).post(url, {"text": "  "}, format="json").status_code == 400
    note_url = f"{url}{created.json()['id']}/"
    assert api_for(foreign_admin).delete(note_url).status_code == 404
    assert api_for(supervisor).delete(note_url).status_code == 204
    assert not ContactNote.objects.exists()


def test_previous_conversations_are_the_ones_the_caller_may_read(api_for, tenant, agent, agent2, foreign_admin):
    contact = factories.ContactFactory(tenant=tenant)
    current = factories.ConversationFactory(tenant=tenant, contact=contact, assignee=agent)
    old = factories.ConversationFactory(tenant=tenant, contact=contact, status="resolved")
    other_agents = factories.ConversationFactory(tenant=tenant, contact=contact, assignee=agent2)
    listed = api_for(agent).get(f"/api/contacts/{contact.pk}/conversations/").json()
    assert {c["id"] for c in listed} == {current.pk, old.pk}
    assert other_agents.pk not in {c["id"] for c in listed}
    assert api_for(foreign_admin).get(f"/api/contacts/{contact.pk}/conversations/").status_code == 404


def test_csv_export_and_import(api_for, tenant, supervisor, agent, foreign_admin, fields):
    known = factories.ContactFactory(tenant=tenant, name="=HYPERLINK(evil)", wa_id="5511900000001")
    exported = api_for(supervisor).get("/api/contacts/export/")
    assert exported.status_code == 200 and exported["Content-Type"].startswith("text/csv")
    text = exported.content.decode()
    assert text.splitlines()[0] == "id,name,phone,wa_id,profile_name,created_at,city,plan,seats,since"
    assert "'=HYPERLINK(evil)" in text  # never a formula in a spreadsheet
    assert api_for(agent).get("/api/contacts/export/").status_code == 403
    assert "5511900000001" not in api_for(foreign_admin).get("/api/contacts/export/").content.decode()

    good = "name,wa_id,plan,seats\nKnown Renamed,5511900000001,pro,3\nNew Person,5511900000002,,\n"
    result = api_for(supervisor).post("/api/contacts/import/", {"file": upload(good)}, format="multipart")
    assert result.status_code == 200, result.content
    assert result.json() == {"created": 1, "updated": 1}
    known.refresh_from_db()
    assert known.name == "Known Renamed" and known.custom_attributes == {"plan": "pro", "seats": 3}
    count = Contact.objects.count()
    bad = "name,wa_id,plan\nOk,5511900000003,free\nBad,5511900000004,gold\n"
    refused = api_for(supervisor).post("/api/contacts/import/", {"file": upload(bad)}, format="multipart")
    assert refused.status_code == 400 and "row 3" in refused.json()["extra"]["fields"]
    unknown = api_for(supervisor).post("/api/contacts/import/", {"file": upload("name,x\na,b\n")}, format="multipart")
    assert unknown.status_code == 400
    assert api_for(agent).post("/api/contacts/import/", {"file": upload(good)}, format="multipart").status_code == 403
    assert Contact.objects.count() == count


def test_merging_two_contacts_moves_their_conversations_and_is_audited(
    api_for, tenant, supervisor, agent, foreign_admin, fields
):
    keep = factories.ContactFactory(tenant=tenant, name="Maria", wa_id="", phone="", custom_attributes={"plan": "pro"})
    other = factories.ContactFactory(tenant=tenant, name="M.", wa_id="5511911112222", custom_attributes={"seats": 2})
    kept_conversation = factories.ConversationFactory(tenant=tenant, contact=keep)
    moved = factories.ConversationFactory(tenant=tenant, contact=other, assignee=agent)
    ContactNote.objects.create(tenant=tenant, contact=other, text="VIP")
    url = f"/api/contacts/{keep.pk}/merge/"
    assert api_for(agent).post(url, {"merge_id": other.pk}, format="json").status_code == 403
    assert api_for(foreign_admin).post(url, {"merge_id": other.pk}, format="json").status_code == 404
    assert api_for(supervisor).post(url, {"merge_id": keep.pk}, format="json").status_code == 400
    response = api_for(supervisor).post(url, {"merge_id": other.pk}, format="json")
    assert response.status_code == 200, response.content
    merged = response.json()
    assert merged["wa_id"] == "5511911112222" and merged["name"] == "Maria"
    assert merged["custom_attributes"] == {"plan": "pro", "seats": 2}
    assert not Contact.objects.filter(pk=other.pk).exists()
    assert set(Conversation.objects.filter(contact=keep).values_list("pk", flat=True)) == {
        kept_conversation.pk,
        moved.pk,
    }
    assert ContactNote.objects.get().contact_id == keep.pk
    entry = AuditEntry.objects.get(action="merge")
    assert entry.data["merged"]["wa_id"] == "5511911112222" and entry.data["conversations"] == [moved.pk]
    event = Event.objects.filter(type="conversation.updated", conversation_id=moved.pk).latest("seq")
    assert event.data["contact"]["id"] == keep.pk and event.assignee_id == agent.pk


def test_two_whatsapp_customers_are_not_merged(api_for, tenant, supervisor):
    a = factories.ContactFactory(tenant=tenant)
    b = factories.ContactFactory(tenant=tenant)
    response = api_for(supervisor).post(f"/api/contacts/{a.pk}/merge/", {"merge_id": b.pk}, format="json")
    assert response.status_code == 409
    assert Contact.objects.filter(pk__in=[a.pk, b.pk]).count() == 2


def test_panel_lists_run_a_constant_number_of_queries(api_for, tenant, supervisor, django_assert_num_queries):
    contact = factories.ContactFactory(tenant=tenant)
    client = api_for(supervisor)
    for count in (2, 8):
        while Conversation.objects.filter(contact=contact).count() < count:
            agent = factories.UserFactory(tenant=tenant)
            factories.ConversationFactory(tenant=tenant, contact=contact, assignee=agent)
            ContactNote.objects.create(tenant=tenant, contact=contact, author=agent, text="seen")
        with django_assert_num_queries(3):  # the user, the contact, the page (with assignees)
            assert len(client.get(f"/api/contacts/{contact.pk}/conversations/").json()) == count
        with django_assert_num_queries(3):  # the user, the contact, the notes with their authors
            assert len(client.get(f"/api/contacts/{contact.pk}/notes/").json()) == count
