"""Django admin for operators: secrets are write-only, history is read-only, actions work."""

import pytest

from conversations.models import ConversationStatus, Message, WhatsAppAccount
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator_client(client):
    operator = factories.UserFactory(tenant=None, is_staff=True, is_superuser=True)
    client.force_login(operator)
    return client


def test_whatsapp_secrets_are_never_shown_and_blank_keeps_them(operator_client):
    account = factories.WhatsAppAccountFactory(access_token="EAAG-very-secret", app_secret="app-secret-xyz")
    verify_token = account.verify_token
    page = operator_client.get(f"/admin/conversations/whatsappaccount/{account.pk}/change/")
    assert page.status_code == 200
    assert b"EAAG-very-secret" not in page.content
    assert b"app-secret-xyz" not in page.content
    assert verify_token.encode() not in page.content
    response = operator_client.post(
        f"/admin/conversations/whatsappaccount/{account.pk}/change/",
        {
            "tenant": account.tenant_id,
            "name": "renamed",
            "phone_number_id": account.phone_number_id,
            "display_phone_number": account.display_phone_number,
            "business_account_id": "",
            "access_token": "",
            "app_secret": "",
            "verify_token": "",
            "is_active": "on",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    account.refresh_from_db()
    assert account.name == "renamed"
    assert account.access_token == "EAAG-very-secret" and account.app_secret == "app-secret-xyz"
    assert account.verify_token == verify_token  # blank kept it


def test_conversation_page_shows_history_read_only(operator_client):
    message = factories.MessageFactory(content={"text": "history line"})
    page = operator_client.get(f"/admin/conversations/conversation/{message.conversation_id}/change/")
    assert page.status_code == 200
    assert b"history line" in page.content
    assert b'name="messages-0-content"' not in page.content


def test_admin_actions_resolve_reopen_assign(operator_client):
    tenant = factories.TenantFactory()
    agent = factories.UserFactory(tenant=tenant)
    conversations = factories.ConversationFactory.create_batch(2, tenant=tenant)
    ids = [str(c.pk) for c in conversations]
    url = "/admin/conversations/conversation/"
    operator_client.post(url, {"action": "resolve", "_selected_action": ids})
    assert {c.status for c in type(conversations[0]).objects.filter(pk__in=ids)} == {ConversationStatus.RESOLVED}
    operator_client.post(url, {"action": "reopen", "_selected_action": ids})
    assert {c.status for c in type(conversations[0]).objects.filter(pk__in=ids)} == {ConversationStatus.OPEN}
    operator_client.post(url, {"action": "assign", "assignee": agent.pk, "_selected_action": ids})
    assert {c.assignee_id for c in type(conversations[0]).objects.filter(pk__in=ids)} == {agent.pk}
    # An agent of another tenant is refused, and nothing changes.
    stranger = factories.UserFactory()
    messages_before = Message.objects.count()
    operator_client.post(url, {"action": "assign", "assignee": stranger.pk, "_selected_action": ids})
    assert {c.assignee_id for c in type(conversations[0]).objects.filter(pk__in=ids)} == {agent.pk}
    assert Message.objects.count() == messages_before
    assert WhatsAppAccount.objects.count() == 0


def test_rest_api_is_throttled_per_user(api_for, agent, settings):
    from pytake.throttling import UserThrottle

    original = UserThrottle.THROTTLE_RATES
    UserThrottle.THROTTLE_RATES = {**original, "user": "3/min"}
    try:
        codes = [api_for(agent).get("/api/me/").status_code for _ in range(4)]
    finally:
        UserThrottle.THROTTLE_RATES = original
    assert codes == [200, 200, 200, 429]


def test_audit_trail_records_human_actions_from_api_and_admin(
    api_for, operator_client, tenant, agent, agent2, supervisor
):
    from conversations.models import AuditEntry

    conversation = factories.ConversationFactory(tenant=tenant)
    url = f"/api/conversations/{conversation.pk}"
    assert api_for(agent).post(f"{url}/assign/", {"assignee_id": agent.pk}, format="json").status_code == 200
    assert api_for(supervisor).post(f"{url}/assign/", {"assignee_id": agent2.pk}, format="json").status_code == 200
    assert api_for(agent2).post(f"{url}/resolve/").status_code == 200
    assert api_for(supervisor).post("/api/broadcast/", {"text": "Team meeting at 3"}, format="json").status_code in {
        200,
        201,
    }
    operator_client.post(
        "/admin/conversations/conversation/", {"action": "reopen", "_selected_action": [conversation.pk]}
    )
    trail = list(AuditEntry.objects.filter(tenant=tenant).order_by("id").values_list("actor_email", "action", "via"))
    assert trail[:4] == [
        (agent.email, "take", "api"),
        (supervisor.email, "transfer", "api"),
        (agent2.email, "resolve", "api"),
        (supervisor.email, "broadcast", "api"),
    ]
    assert trail[4][1:] == ("reopen", "admin")
    # A refused action leaves no trace.
    api_for(agent).post(f"{url}/assign/", {"assignee_id": agent.pk}, format="json")
    assert AuditEntry.objects.filter(tenant=tenant).count() == 5
    page = operator_client.get("/admin/conversations/auditentry/")
    assert page.status_code == 200 and supervisor.email.encode() in page.content
