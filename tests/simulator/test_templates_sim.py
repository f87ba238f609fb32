"""The simulator's templates, as Meta keeps them: seeded per business account, listed with
paging, checked on send with Meta's codes, their status changed by an operator (a signed
``message_template_status_update``); and the 24-hour window enforced for free text with an
asynchronous ``failed`` status 131047."""

from datetime import timedelta

import pytest
from django.utils import timezone

from conversations import services as conversation_services
from conversations.models import Message, MessageStatus, MessageType
from realtime.models import Event
from simulator.models import SimDirection, SimulatedMessage, SimulatedTemplate
from tests import factories
from tests.simulator.support import wait_until
from tests.whatsapp.support import eager_celery  # noqa: F401 (fixture)
from whatsapp import templates
from whatsapp.models import MessageTemplate, TemplateStatus

pytestmark = [pytest.mark.usefixtures("without_flow"), pytest.mark.django_db(transaction=True)]

WABA = "880000000000001"


@pytest.fixture
def account(tenant):
    return factories.WhatsAppAccountFactory(tenant=tenant, business_account_id=WABA)


@pytest.fixture
def conversation(tenant, account, supervisor):
    return factories.ConversationFactory(
        tenant=tenant,
        whatsapp_account=account,
        assignee=supervisor,
        last_customer_message_at=timezone.now() - timedelta(hours=30),
    )


def test_templates_endpoint_pages_like_meta(sim, account, client):
    seen, url = [], f"/simulator/graph/v21.0/{WABA}/message_templates?limit=2"
    headers = {"HTTP_AUTHORIZATION": f"Bearer {account.access_token}"}
    while url:
        page = client.get(url, **headers).json()
        seen += [(t["name"], t["language"], t["status"]) for t in page["data"]]
        url = page["paging"].get("next", "").replace("http://testserver", "")
        assert len(page["data"]) <= 2
    assert ("summer_sale", "pt_BR", "PENDING") in seen and ("appointment_reminder", "en_US", "PAUSED") in seen
    assert {("order_update", "pt_BR", "APPROVED"), ("order_update", "en_US", "APPROVED")} <= set(seen)
    assert len(seen) == SimulatedTemplate.objects.filter(business_account_id=WABA).count() == 7
    refused = client.get(f"/simulator/graph/v21.0/{WABA}/message_templates", HTTP_AUTHORIZATION="Bearer wrong")
    assert refused.status_code == 401


def test_sync_from_the_simulator_then_send_outside_the_window(sim, api_for, supervisor, account, conversation):
    result = templates.templates_sync(account=account)
    assert result.created == 7
    assert MessageTemplate.objects.get(name="appointment_reminder").status == TemplateStatus.PAUSED
    spec = {
        "name": "order_update",
        "language": "pt_BR",
        "parameters": {"header": {"1": "#77"}, "body": {"1": "Rita", "2": "#77"}, "buttons": {"0": "77"}},
    }
    answer = api_for(supervisor).post(
        f"/api/conversations/{conversation.pk}/messages/", {"template": spec}, format="json"
    )
    assert answer.status_code == 201, answer.content
    message = wait_until(
        lambda: Message.objects.filter(pk=answer.json()["id"], status=MessageStatus.READ).first(),
        what="the template read on the phone",
    )
    shown = SimulatedMessage.objects.get(wamid=message.whatsapp_message_id)
    assert shown.direction == SimDirection.TO_CUSTOMER and shown.type == "template"
    assert shown.body["components"][1]["parameters"][0] == {"type": "text", "text": "Rita"}


@pytest.mark.parametrize(
    ("content", "code"),
    [
        ({"name": "order_update", "language": "pt_BR", "components": []}, 132000),
        ({"name": "order_update", "language": "de_DE"}, 132001),
        ({"name": "summer_sale", "language": "pt_BR"}, 132001),  # pending: not sendable yet
        ({"name": "appointment_reminder", "language": "en_US"}, 132015),
        (
            {
                "name": "follow_up",
                "language": "en_US",
                "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ann"}]}],
            },
            132012,  # a named template's parameter without its name
        ),
    ],
)
def test_a_send_the_simulator_refuses_fails_with_metas_code(sim, supervisor, conversation, content, code):
    # Straight to the channel, past PyTake's own check, to see Meta's answer.
    message, _ = conversation_services.message_create_outbound(
        user=supervisor, conversation_id=conversation.pk, message_type=MessageType.TEMPLATE, content=content
    )
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED
    assert message.error_code == code
    assert not SimulatedMessage.objects.filter(direction=SimDirection.TO_CUSTOMER).exists()


def test_free_text_outside_metas_window_is_accepted_then_failed_with_131047(sim, api_for, supervisor, account):
    # PyTake believes the customer wrote a minute ago; Meta (the simulator) saw them write 25 h ago.
    conversation = factories.ConversationFactory(
        tenant=account.tenant, whatsapp_account=account, last_customer_message_at=timezone.now()
    )
    SimulatedMessage.objects.create(
        phone_number_id=account.phone_number_id,
        wa_id=conversation.contact.wa_id,
        direction=SimDirection.TO_BUSINESS,
        wamid="wamid.old",
        type="text",
        body={"body": "hi"},
        created_at=timezone.now() - timedelta(hours=25),
    )
    answer = api_for(supervisor).post(
        f"/api/conversations/{conversation.pk}/messages/", {"text": "Still there?"}, format="json"
    )
    assert answer.status_code == 201
    message = wait_until(
        lambda: Message.objects.filter(pk=answer.json()["id"], status=MessageStatus.FAILED).first(),
        what="the failed status",
    )
    assert message.error_code == 131047 and message.whatsapp_message_id
    assert "only an approved template" in message.error_title
    assert SimulatedMessage.objects.get(wamid=message.whatsapp_message_id).status == "failed"


def test_the_window_can_be_left_open_for_old_demos(sim, settings, api_for, supervisor, account):
    settings.WHATSAPP_SIMULATOR_ENFORCE_WINDOW = False
    conversation = factories.ConversationFactory(
        tenant=account.tenant, whatsapp_account=account, last_customer_message_at=timezone.now()
    )
    SimulatedMessage.objects.create(
        phone_number_id=account.phone_number_id,
        wa_id=conversation.contact.wa_id,
        direction=SimDirection.TO_BUSINESS,
        wamid="wamid.old",
        type="text",
        body={"body": "hi"},
        created_at=timezone.now() - timedelta(hours=25),
    )
    answer = api_for(supervisor).post(f"/api/conversations/{conversation.pk}/messages/", {"text": "Hi"}, format="json")
    wait_until(lambda: Message.objects.filter(pk=answer.json()["id"], status=MessageStatus.READ).exists(), what="read")


@pytest.mark.parametrize(("kind", "code"), [("marketing_limit", 131049), ("undeliverable", 131026)])
def test_armed_failures_arrive_as_failed_statuses(sim, api_for, supervisor, account, kind, code):
    import httpx

    conversation = factories.ConversationFactory(
        tenant=account.tenant, whatsapp_account=account, last_customer_message_at=timezone.now()
    )
    armed = httpx.post(f"{sim}/simulator/faults", json={"kind": kind}, timeout=10)
    assert armed.status_code == 201
    answer = api_for(supervisor).post(f"/api/conversations/{conversation.pk}/messages/", {"text": "Hi"}, format="json")
    message = wait_until(
        lambda: Message.objects.filter(pk=answer.json()["id"], status=MessageStatus.FAILED).first(), what="failed"
    )
    assert message.error_code == code


def test_an_operator_pauses_a_template_and_pytake_hears_it(sim, client, account, admin_user):
    templates.templates_sync(account=account)
    client.get("/simulator/phone/")  # the CSRF cookie, as the page gets it
    listed = client.get("/simulator/phone/api/templates", {"phone_number_id": account.phone_number_id}).json()
    target = next(t for t in listed["results"] if (t["name"], t["language"]) == ("order_update", "en_US"))
    changed = client.post(
        "/simulator/phone/api/templates/status",
        {"phone_number_id": account.phone_number_id, "template_id": target["id"], "status": "PAUSED"},
        HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value,
    )
    assert changed.status_code == 202, changed.content
    row = wait_until(
        lambda: MessageTemplate.objects.filter(name="order_update", language="en_US", status="paused").first(),
        what="the paused template",
    )
    assert "low quality" in row.reason
    assert Event.objects.filter(type="template.updated", user_id=admin_user.pk).exists()
    bad = client.post(
        "/simulator/phone/api/templates/status",
        {"phone_number_id": account.phone_number_id, "template_id": target["id"], "status": "NOPE"},
        HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value,
    )
    assert bad.status_code == 400
