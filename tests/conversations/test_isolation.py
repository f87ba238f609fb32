"""The isolation matrix: every endpoint, called by someone who must not see the object, is a 404
(never a 403 that would confirm it exists) and changes nothing."""

import pytest

from conversations.models import Message
from tests import factories

pytestmark = pytest.mark.django_db

# (method, url template, body): {c} is a conversation id, {k} a contact id.
OBJECT_ENDPOINTS = [
    ("get", "/api/conversations/{c}/", None),
    ("post", "/api/conversations/{c}/resolve/", None),
    ("post", "/api/conversations/{c}/reopen/", None),
    ("post", "/api/conversations/{c}/assign/", {"assignee_id": None}),
    ("post", "/api/conversations/{c}/read/", None),
    ("get", "/api/conversations/{c}/messages/", None),
    ("post", "/api/conversations/{c}/messages/", {"text": "leak?", "client_id": "x"}),
]
CONTACT_ENDPOINTS = [
    ("get", "/api/contacts/{k}/", None),
    ("patch", "/api/contacts/{k}/", {"name": "leak?"}),
]
LIST_ENDPOINTS = ["/api/conversations/", "/api/contacts/", "/api/agents/"]


def _call(client, method, url, body):
    return getattr(client, method)(url, body, format="json") if body is not None else getattr(client, method)(url)


@pytest.fixture
def victim(tenant, agent2):
    conversation = factories.ConversationFactory(tenant=tenant, assignee=agent2, unread_count=1)
    factories.MessageFactory(conversation=conversation)
    return conversation


def _snapshot(conversation):
    conversation.refresh_from_db()
    return (conversation.status, conversation.assignee_id, conversation.unread_count, conversation.messages.count())


@pytest.mark.parametrize(("method", "url", "body"), OBJECT_ENDPOINTS)
@pytest.mark.parametrize("who", ["foreign_admin", "agent"])
def test_conversation_endpoints_refuse_outsiders_with_404(request, api_for, victim, who, method, url, body):
    """``foreign_admin``: another tenant's admin. ``agent``: an agent of the same tenant on a
    conversation assigned to another agent."""
    user = request.getfixturevalue(who)
    before = _snapshot(victim)
    response = _call(api_for(user), method, url.format(c=victim.pk), body)
    assert response.status_code == 404, (who, method, url, response.content)
    assert response.json()["code"] == "not_found"
    assert _snapshot(victim) == before


@pytest.mark.parametrize(("method", "url", "body"), CONTACT_ENDPOINTS)
def test_contact_endpoints_refuse_other_tenant(api_for, victim, foreign_admin, method, url, body):
    response = _call(api_for(foreign_admin), method, url.format(k=victim.contact_id), body)
    assert response.status_code == 404
    victim.contact.refresh_from_db()
    assert victim.contact.name != "leak?"


@pytest.mark.parametrize("url", LIST_ENDPOINTS)
def test_lists_never_show_another_tenant(api_for, victim, foreign_admin, url):
    body = api_for(foreign_admin).get(url).json()
    rows = body["results"] if isinstance(body, dict) else body
    ids = {row["id"] for row in rows}
    forbidden = {victim.pk, victim.contact_id, victim.assignee_id}
    assert not ids & forbidden, (url, ids)


def test_missing_and_foreign_ids_answer_identically(api_for, victim, foreign_admin):
    client = api_for(foreign_admin)
    foreign = client.get(f"/api/conversations/{victim.pk}/")
    missing = client.get("/api/conversations/999999/")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json()


@pytest.mark.parametrize(("method", "url", "body"), OBJECT_ENDPOINTS + CONTACT_ENDPOINTS)
def test_anonymous_and_bad_token_get_401(api_for, victim, method, url, body):
    anonymous = api_for(None)
    assert _call(anonymous, method, url.format(c=victim.pk, k=victim.contact_id), body).status_code == 401
    anonymous.credentials(HTTP_AUTHORIZATION="Bearer not-a-jwt")
    assert _call(anonymous, method, url.format(c=victim.pk, k=victim.contact_id), body).status_code == 401


def test_user_without_tenant_sees_nothing(api_for, victim):
    operator = factories.UserFactory(tenant=None, is_staff=True, is_superuser=True)
    assert api_for(operator).get("/api/conversations/").status_code == 403
    assert not Message.objects.filter(content__text="leak?").exists()
