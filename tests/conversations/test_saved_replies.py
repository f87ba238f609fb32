"""Saved replies: the tenant's (supervisors and admins manage them) and each agent's own, with
variables checked when saved and filled for a conversation the caller may see."""

import pytest

from conversations.models import Role, SavedReply
from realtime.models import Event
from tests import factories

pytestmark = pytest.mark.django_db


def test_agent_keeps_personal_replies_that_no_one_else_sees(api_for, tenant, agent, agent2, supervisor):
    response = api_for(agent).post(
        "/api/saved-replies/", {"short_code": "hi", "content": "Olá {{contact.first_name}}!"}, format="json"
    )
    assert response.status_code == 201, response.content
    reply = response.json()
    assert reply["scope"] == "personal" and reply["owner"]["id"] == agent.pk
    for other in (agent2, supervisor):
        assert api_for(other).get("/api/saved-replies/").json() == []
        assert api_for(other).get(f"/api/saved-replies/{reply['id']}/").status_code == 404
        assert api_for(other).delete(f"/api/saved-replies/{reply['id']}/").status_code == 404
    event = Event.objects.get(type="saved_reply.saved")
    assert (event.audience, event.user_id) == ("user", agent.pk)


def test_tenant_replies_are_managed_by_supervisors_and_seen_by_all(api_for, tenant, agent, supervisor):
    refused = api_for(agent).post(
        "/api/saved-replies/", {"scope": "tenant", "short_code": "bye", "content": "Bye"}, format="json"
    )
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    created = (
        api_for(supervisor)
        .post("/api/saved-replies/", {"scope": "tenant", "short_code": "bye", "content": "Bye"}, format="json")
        .json()
    )
    api_for(agent).post("/api/saved-replies/", {"short_code": "mine", "content": "Mine"}, format="json")
    client = api_for(agent)
    assert [r["short_code"] for r in client.get("/api/saved-replies/").json()] == ["bye", "mine"]
    assert [r["short_code"] for r in client.get("/api/saved-replies/", {"scope": "tenant"}).json()] == ["bye"]
    assert [r["short_code"] for r in client.get("/api/saved-replies/", {"scope": "personal"}).json()] == ["mine"]
    assert client.patch(f"/api/saved-replies/{created['id']}/", {"content": "x"}, format="json").status_code == 403
    assert client.delete(f"/api/saved-replies/{created['id']}/").status_code == 403
    assert SavedReply.objects.get(pk=created["id"]).content == "Bye"
    event = Event.objects.filter(type="saved_reply.saved").earliest("seq")
    assert (event.audience, event.assignee_id, event.user_id) == ("staff", None, None)


def test_unknown_variables_and_taken_codes_are_refused(api_for, tenant, agent):
    client = api_for(agent)
    bad = client.post("/api/saved-replies/", {"short_code": "x", "content": "Hi {{contact.email}}"}, format="json")
    assert bad.status_code == 400
    assert bad.json()["code"] == "unknown_variable" and bad.json()["extra"]["unknown"] == ["contact.email"]
    client.post("/api/saved-replies/", {"short_code": "x", "content": "Hi"}, format="json")
    taken = client.post("/api/saved-replies/", {"short_code": "X", "content": "Again"}, format="json")
    assert taken.status_code == 409
    assert client.post("/api/saved-replies/", {"short_code": "a b", "content": "Hi"}, format="json").status_code == 400
    assert list(SavedReply.objects.values_list("content", flat=True)) == ["Hi"]


def test_render_fills_variables_for_a_conversation_the_caller_sees(api_for, tenant, agent, agent2, foreign_admin):
    agent.name = "Ana Souza"
    agent.save()
    contact = factories.ContactFactory(tenant=tenant, name="Maria da Silva")
    conversation = factories.ConversationFactory(tenant=tenant, contact=contact, assignee=agent)
    reply = SavedReply.objects.create(
        tenant=tenant,
        short_code="hi",
        content="Olá {{contact.first_name}} ({{ contact.name }}), sou {{agent.name}} — #{{conversation.id}}",
    )
    rendered = api_for(agent).get(f"/api/saved-replies/{reply.pk}/render/", {"conversation_id": conversation.pk})
    assert rendered.status_code == 200, rendered.content
    assert rendered.json() == {"text": f"Olá Maria (Maria da Silva), sou Ana Souza — #{conversation.pk}"}
    # Another agent's conversation, another tenant's reply: not found.
    other = api_for(agent2).get(f"/api/saved-replies/{reply.pk}/render/", {"conversation_id": conversation.pk})
    assert other.status_code == 404
    foreign = api_for(foreign_admin).get(f"/api/saved-replies/{reply.pk}/render/", {"conversation_id": conversation.pk})
    assert foreign.status_code == 404
    assert api_for(agent).get(f"/api/saved-replies/{reply.pk}/render/").status_code == 400


def test_saved_replies_of_another_tenant_are_not_found(api_for, tenant, foreign_admin):
    reply = SavedReply.objects.create(tenant=tenant, short_code="hi", content="Hi")
    client = api_for(foreign_admin)
    assert client.get("/api/saved-replies/").json() == []
    for method in ("get", "delete"):
        assert getattr(client, method)(f"/api/saved-replies/{reply.pk}/").status_code == 404
    assert client.patch(f"/api/saved-replies/{reply.pk}/", {"content": "x"}, format="json").status_code == 404
    assert SavedReply.objects.get().content == "Hi"
    assert foreign_admin.role == Role.ADMIN


def test_saved_reply_list_runs_a_constant_number_of_queries(api_for, tenant, agent, django_assert_num_queries):
    client = api_for(agent)
    for count in (2, 8):
        while SavedReply.objects.count() < count:
            n = SavedReply.objects.count()
            SavedReply.objects.create(tenant=tenant, owner=agent if n % 2 else None, short_code=f"c{n}", content="x")
        with django_assert_num_queries(2):  # the user, then the replies with their owners
            assert len(client.get("/api/saved-replies/").json()) == count
