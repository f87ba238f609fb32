# ruff: noqa: F811  (the graph and eager_celery fixtures are imported, then named as arguments)
"""Message templates: sync from Meta (every page), Meta's template webhooks and the other
account-level ones, the REST list and sync, checking parameters, sending inside and outside the
24-hour window, starting a conversation, and what Meta's template errors tell the agent."""

from datetime import timedelta

import pytest
from django.utils import timezone

from conversations.models import Contact, Conversation, Message, MessageStatus, MessageType
from pytake.errors import InvalidInput
from realtime.models import Event
from tests import factories
from tests.whatsapp.graph_fake import WABA_ID, graph, meta_template  # noqa: F401 (fixture)
from tests.whatsapp.support import deliver, eager_celery, fixture  # noqa: F401 (fixtures)
from whatsapp import services, templates
from whatsapp.client import GraphError
from whatsapp.models import MessageTemplate, TemplateStatus, WebhookEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(tenant):
    return factories.WhatsAppAccountFactory(tenant=tenant, business_account_id=WABA_ID)


@pytest.fixture
def order_update(tenant, account):
    """The tenant's approved positional template (header, body, footer, URL button)."""
    return _template(tenant, "order_update", "en_US", components=meta_template("x", "y")["components"])


def _template(tenant, name, language, *, status=TemplateStatus.APPROVED, waba=WABA_ID, **fields):
    fields.setdefault("components", [{"type": "BODY", "text": "Hello {{1}}"}])
    return MessageTemplate.objects.create(
        tenant=tenant, business_account_id=waba, name=name, language=language, status=status, **fields
    )


ORDER_PARAMETERS = {"header": {"1": "#12"}, "body": {"1": "Ana", "2": "#12"}, "buttons": {"0": "12"}}


# --- Sync ----------------------------------------------------------------------------------------


def test_sync_reads_every_page_and_marks_the_ones_meta_no_longer_lists(account, graph):
    graph.templates = [
        meta_template("order_update", "en_US"),
        meta_template("order_update", "pt_BR"),
        meta_template("promo", "pt_BR", status="PENDING", category="MARKETING"),
        meta_template("reminder", "en_US", status="PAUSED", quality="YELLOW"),
        meta_template(
            "follow_up",
            "en_US",
            parameter_format="NAMED",
            components=[{"type": "BODY", "text": "Hi {{first_name}}"}],
        ),
    ]
    result = templates.templates_sync(account=account)
    assert (result.created, result.updated, result.removed) == (5, 0, 0)
    assert len(graph.list_calls) == 3  # pages of 2, 2 and 1, by paging.cursors.after
    rows = {(t.name, t.language): t for t in MessageTemplate.objects.filter(tenant=account.tenant)}
    assert rows[("promo", "pt_BR")].status == TemplateStatus.PENDING
    assert rows[("promo", "pt_BR")].category == "marketing"
    assert rows[("reminder", "en_US")].quality == "YELLOW"
    assert rows[("follow_up", "en_US")].parameter_format == "named"
    assert rows[("order_update", "en_US")].parameter_format == "positional"

    graph.templates = graph.templates[:3] + [meta_template("reminder", "en_US", status="APPROVED")]
    result = templates.templates_sync(account=account)
    assert (result.created, result.updated, result.removed) == (0, 1, 1)
    assert MessageTemplate.objects.get(name="follow_up").status == TemplateStatus.DELETED
    assert MessageTemplate.objects.get(name="reminder").status == TemplateStatus.APPROVED


def test_a_failed_page_changes_nothing(account, graph, order_update):
    graph.templates = [meta_template(f"t{i}", "en_US") for i in range(5)]
    graph.fail_after = "2"  # the second page answers 500
    with pytest.raises(GraphError):
        templates.templates_sync(account=account)
    assert list(MessageTemplate.objects.values_list("name", "status")) == [("order_update", "approved")]


def test_sync_endpoint_is_for_supervisors_and_admins(api_for, agent, supervisor, account, graph):
    graph.templates = [meta_template("order_update", "en_US")]
    refused = api_for(agent).post("/api/whatsapp/templates/sync/")
    assert refused.status_code == 403
    assert not MessageTemplate.objects.exists()
    answer = api_for(supervisor).post("/api/whatsapp/templates/sync/")
    assert answer.status_code == 200, answer.content
    assert answer.json() == {"created": 1, "updated": 0, "removed": 0}


def test_sync_endpoint_says_when_meta_refuses(api_for, supervisor, account, graph):
    graph.fail_after = "0"
    answer = api_for(supervisor).post("/api/whatsapp/templates/sync/")
    assert answer.status_code == 502
    assert answer.json()["code"] == "error"
    assert not MessageTemplate.objects.exists()


# --- The list ------------------------------------------------------------------------------------


def test_list_is_the_tenants_with_filters(api_for, agent, tenant, other_tenant, account):
    _template(tenant, "order_update", "en_US")
    _template(tenant, "order_update", "pt_BR")
    _template(tenant, "promo", "pt_BR", status=TemplateStatus.PENDING)
    _template(tenant, "elsewhere", "en_US", waba="999")  # a business account none of its numbers has
    _template(other_tenant, "secret", "en_US")
    api = api_for(agent)

    names = [(t["name"], t["language"]) for t in api.get("/api/whatsapp/templates/").json()["results"]]
    assert ("secret", "en_US") not in names and len(names) == 4
    only = api.get("/api/whatsapp/templates/", {"status": "pending"}).json()["results"]
    assert [t["name"] for t in only] == ["promo"]
    assert only[0]["usable"] is False and only[0]["numbers"] == [account.pk]
    assert [t["language"] for t in api.get("/api/whatsapp/templates/", {"language": "pt_BR"}).json()["results"]] == [
        "pt_BR",
        "pt_BR",
    ]
    assert [t["name"] for t in api.get("/api/whatsapp/templates/", {"search": "ORDER"}).json()["results"]] == [
        "order_update",
        "order_update",
    ]
    by_number = api.get("/api/whatsapp/templates/", {"number": account.pk}).json()["results"]
    assert "elsewhere" not in [t["name"] for t in by_number] and len(by_number) == 3
    first = by_number[0]
    assert first["slots"] == {"header": None, "body": ["1"], "buttons": []}


def test_another_tenants_number_is_refused_and_their_templates_never_listed(api_for, foreign_admin, account, tenant):
    _template(tenant, "order_update", "en_US")
    api = api_for(foreign_admin)
    refused = api.get("/api/whatsapp/templates/", {"number": account.pk})
    assert refused.status_code == 400 and refused.json()["code"] == "invalid"
    assert api.get("/api/whatsapp/templates/").json()["results"] == []
    assert api_for(None).get("/api/whatsapp/templates/").status_code == 401


# --- Meta's template webhooks and the other account-level fields ---------------------------------


def test_a_paused_template_is_updated_and_only_the_tenants_admins_hear_of_it(
    deliver, tenant, account, admin_user, supervisor, agent, foreign_admin, order_update
):
    MessageTemplate.objects.filter(pk=order_update.pk).update(language="pt_BR", meta_id="594425479261596")
    response = deliver(fixture("account_template_status_update"))
    assert response.status_code == 200, response.content
    row = MessageTemplate.objects.get(pk=order_update.pk)
    assert row.status == TemplateStatus.PAUSED
    assert "low quality" in row.reason
    event = WebhookEvent.objects.get()
    assert event.account is None and event.business_account_id == WABA_ID and event.tenant_id == tenant.pk
    assert event.status == "processed"
    notices = list(Event.objects.filter(type="template.updated"))
    assert [(e.audience, e.user_id) for e in notices] == [("user", admin_user.pk)]
    assert notices[0].data["status"] == "paused" and notices[0].data["name"] == "order_update"


def test_quality_and_category_updates(deliver, account, admin_user, order_update):
    MessageTemplate.objects.filter(pk=order_update.pk).update(language="pt_BR")
    assert deliver(fixture("account_template_quality_update")).status_code == 200
    assert deliver(fixture("account_template_category_update")).status_code == 200
    row = MessageTemplate.objects.get(pk=order_update.pk)
    assert (row.quality, row.category) == ("YELLOW", "marketing")
    assert [e.data["change"] for e in Event.objects.filter(type="template.updated").order_by("pk")] == [
        "message_template_quality_update",
        "template_category_update",
    ]


def test_a_status_for_a_template_not_synced_yet_creates_it_and_asks_for_a_sync(deliver, account, graph):
    graph.templates = [meta_template("order_update", "pt_BR", status="PAUSED", id="594425479261596")]
    assert deliver(fixture("account_template_status_update")).status_code == 200
    row = MessageTemplate.objects.get(name="order_update", language="pt_BR")
    assert row.status == TemplateStatus.PAUSED
    assert row.components  # filled by the sync the webhook queued
    assert graph.list_calls


@pytest.mark.parametrize(
    "name",
    [
        "account_template_status_update",
        "account_template_quality_update",
        "account_template_category_update",
        "account_update",
        "account_review_update",
        "account_phone_number_quality_update",
        "account_phone_number_name_update",
        "account_alerts",
        "account_business_capability_update",
    ],
)
def test_every_documented_account_field_is_answered_200_and_stored(deliver, account, name):
    response = deliver(fixture(name))
    assert response.status_code == 200, response.content
    event = WebhookEvent.objects.get()
    assert event.status == "processed" and event.account is None
    assert event.body.startswith("{")


def test_an_account_webhook_signed_by_someone_else_or_for_an_unknown_account_is_refused(deliver, account, other_tenant):
    factories.WhatsAppAccountFactory(tenant=other_tenant, business_account_id="555")
    assert deliver(fixture("account_update"), secret="not-the-secret").status_code == 403
    stranger = fixture("account_update")
    stranger["entry"][0]["id"] = "123456"
    assert deliver(stranger).status_code == 403
    theirs = fixture("account_update")
    theirs["entry"][0]["id"] = "555"
    assert deliver(theirs).status_code == 403  # signed with our secret, for their account
    assert not WebhookEvent.objects.exists()


def test_a_redelivered_account_webhook_is_stored_once(deliver, account, admin_user, order_update):
    payload = fixture("account_template_quality_update")
    assert deliver(payload).status_code == 200
    assert deliver(payload).status_code == 200
    assert WebhookEvent.objects.count() == 1


# --- Checking parameters -------------------------------------------------------------------------


def _fields(excinfo):
    return excinfo.value.extra["fields"]


def test_render_fills_what_the_customer_sees_and_metas_components(order_update):
    content = templates.template_render(order_update, ORDER_PARAMETERS)
    assert content["text"] == "Order #12\n\nHi Ana, your order #12 was updated.\n\nThanks"
    assert content["components"] == [
        {"type": "header", "parameters": [{"type": "text", "text": "#12"}]},
        {"type": "body", "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "#12"}]},
        {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "12"}]},
    ]
    assert content["template"]["buttons"][0] == {"type": "url", "text": "Track", "url": "https://example.com/orders/12"}
    assert content["template"]["buttons"][2]["phone_number"] == "+15550001111"


def test_missing_extra_and_malformed_parameters_are_each_named(order_update):
    with pytest.raises(InvalidInput) as excinfo:
        templates.template_render(
            order_update, {"header": {}, "body": {"1": "Ana", "3": "x"}, "buttons": {"2": "no"}, "footer": {}}
        )
    assert excinfo.value.code == "invalid_template_parameters"
    assert set(_fields(excinfo)) == {
        "template.parameters.header.1",
        "template.parameters.body.2",
        "template.parameters.body.3",
        "template.parameters.buttons.0",
        "template.parameters.buttons.2",
        "template.parameters.footer",
    }
    with pytest.raises(InvalidInput) as excinfo:
        templates.template_render(
            order_update, {**ORDER_PARAMETERS, "body": {"1": "Ana\nBob", "2": ""}, "buttons": {"0": 5}}
        )
    assert set(_fields(excinfo)) == {"template.parameters.body.1", "template.parameters.body.2"}


def test_named_parameters_and_a_media_header(tenant, account):
    named = _template(
        tenant,
        "follow_up",
        "en_US",
        parameter_format="named",
        components=[
            {"type": "HEADER", "format": "IMAGE"},
            {"type": "BODY", "text": "Hi {{first_name}}, about {{topic}}"},
            {"type": "BUTTONS", "buttons": [{"type": "COPY_CODE", "example": "SAVE10"}]},
        ],
    )
    with pytest.raises(InvalidInput) as excinfo:
        templates.template_render(named, {"body": {"1": "Ana"}})
    assert set(_fields(excinfo)) == {
        "template.parameters.header.link",
        "template.parameters.body.first_name",
        "template.parameters.body.topic",
        "template.parameters.body.1",
        "template.parameters.buttons.0",
    }
    content = templates.template_render(
        named,
        {
            "header": {"link": "https://example.com/a.jpg"},
            "body": {"first_name": "Ana", "topic": "shoes"},
            "buttons": {"0": "SAVE10"},
        },
    )
    assert content["components"][0] == {
        "type": "header",
        "parameters": [{"type": "image", "image": {"link": "https://example.com/a.jpg"}}],
    }
    assert content["components"][1]["parameters"][0] == {"type": "text", "text": "Ana", "parameter_name": "first_name"}
    assert content["components"][2]["parameters"] == [{"type": "coupon_code", "coupon_code": "SAVE10"}]
    assert content["text"] == "Hi Ana, about shoes"


# --- Sending in a conversation ------------------------------------------------------------------


@pytest.fixture
def conversation(tenant, account, agent):
    return factories.ConversationFactory(
        tenant=tenant,
        whatsapp_account=account,
        assignee=agent,
        last_customer_message_at=timezone.now() - timedelta(hours=30),
    )


def _post(api_for, user, conversation, body, capture):
    with capture(execute=True):
        return api_for(user).post(f"/api/conversations/{conversation.pk}/messages/", body, format="json")


def test_a_template_goes_outside_the_window_and_free_text_does_not(
    api_for,
    agent,
    conversation,
    order_update,
    graph,
    eager_celery,
    django_capture_on_commit_callbacks,
):
    capture = django_capture_on_commit_callbacks
    refused = _post(api_for, agent, conversation, {"text": "Still there?"}, capture)
    assert refused.status_code == 409 and refused.json()["code"] == "outside_window"
    spec = {"name": "order_update", "language": "en_US", "parameters": ORDER_PARAMETERS}
    answer = _post(api_for, agent, conversation, {"template": spec, "client_id": "t-1"}, capture)
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert body["type"] == "template"
    assert body["content"]["text"].startswith("Order #12")
    assert body["content"]["template"]["footer"] == "Thanks"
    message = Message.objects.get(pk=body["id"])
    # Accepted by the Graph API (its wamid kept); "sent" comes with Meta's status webhook.
    assert message.status == MessageStatus.PENDING and message.whatsapp_message_id == "wamid.fake1"
    assert graph.sent[0]["type"] == "template"
    assert graph.sent[0]["template"]["name"] == "order_update"
    assert graph.sent[0]["template"]["language"] == {"code": "en_US"}
    assert graph.sent[0]["template"]["components"][1]["parameters"][0] == {"type": "text", "text": "Ana"}
    conversation.refresh_from_db()
    assert conversation.last_message_preview.startswith("Order #12")
    again = _post(api_for, agent, conversation, {"template": spec, "client_id": "t-1"}, capture)
    assert again.status_code == 200 and len(graph.sent) == 1


def test_a_template_inside_the_window(
    api_for,
    agent,
    conversation,
    order_update,
    graph,
    eager_celery,
    django_capture_on_commit_callbacks,
):
    conversation.last_customer_message_at = timezone.now()
    conversation.save()
    spec = {"name": "order_update", "language": "en_US", "parameters": ORDER_PARAMETERS}
    answer = _post(api_for, agent, conversation, {"template": spec}, django_capture_on_commit_callbacks)
    assert answer.status_code == 201
    assert len(graph.sent) == 1


@pytest.mark.parametrize(
    ("spec", "code", "field"),
    [
        ({"name": "nope", "language": "en_US"}, "template_not_found", "template.name"),
        ({"name": "order_update", "language": "de_DE"}, "template_not_found", "template.language"),
        ({"name": "promo", "language": "pt_BR"}, "template_not_approved", "template.name"),
        (
            {"name": "order_update", "language": "en_US", "parameters": {"body": {"1": "x"}}},
            "invalid_template_parameters",
            "template.parameters.body.2",
        ),
        (
            {"name": "order_update", "language": "en_US", "parameters": [1]},
            "invalid_template_parameters",
            "template.parameters",
        ),
    ],
)
def test_bad_templates_are_refused_and_nothing_is_stored_or_sent(
    api_for, agent, conversation, tenant, order_update, graph, django_capture_on_commit_callbacks, spec, code, field
):
    _template(tenant, "promo", "pt_BR", status=TemplateStatus.PAUSED)
    answer = _post(api_for, agent, conversation, {"template": spec}, django_capture_on_commit_callbacks)
    assert answer.status_code == 400, answer.content
    assert answer.json()["code"] == code
    assert field in answer.json()["extra"]["fields"]
    assert not Message.objects.filter(conversation=conversation).exists()
    assert graph.sent == []


def test_a_customer_who_stopped_marketing_gets_no_marketing_template_but_still_a_utility_one(
    api_for, agent, conversation, tenant, graph, django_capture_on_commit_callbacks
):
    _template(tenant, "promo", "pt_BR", category="marketing")
    _template(tenant, "receipt", "pt_BR", category="utility")
    conversation.contact.marketing_opt_out = True
    conversation.contact.marketing_opt_out_at = timezone.now()
    conversation.contact.save()
    promo = {"name": "promo", "language": "pt_BR", "parameters": {"body": {"1": "Ana"}}}
    answer = _post(api_for, agent, conversation, {"template": promo}, django_capture_on_commit_callbacks)
    assert answer.status_code == 400, answer.content
    assert answer.json()["code"] == "marketing_opted_out"
    assert not Message.objects.filter(conversation=conversation).exists() and graph.sent == []
    receipt = {"name": "receipt", "language": "pt_BR", "parameters": {"body": {"1": "Ana"}}}
    answer = _post(api_for, agent, conversation, {"template": receipt}, django_capture_on_commit_callbacks)
    assert answer.status_code == 201, answer.content


def test_text_and_template_together_or_neither_are_refused(api_for, agent, conversation, order_update):
    api = api_for(agent)
    url = f"/api/conversations/{conversation.pk}/messages/"
    spec = {"name": "order_update", "language": "en_US"}
    assert api.post(url, {"text": "hi", "template": spec}, format="json").status_code == 400
    assert api.post(url, {}, format="json").status_code == 400


def test_another_tenants_template_cannot_be_sent(api_for, agent, conversation, other_tenant):
    _template(other_tenant, "theirs", "en_US")  # same WABA id, another tenant: not ours
    spec = {"name": "theirs", "language": "en_US", "parameters": {"body": {"1": "x"}}}
    answer = api_for(agent).post(f"/api/conversations/{conversation.pk}/messages/", {"template": spec}, format="json")
    assert answer.status_code == 400 and answer.json()["code"] == "template_not_found"


def test_a_webchat_conversation_has_no_templates(api_for, agent, tenant):
    chat = factories.ConversationFactory(tenant=tenant, channel="webchat", assignee=agent)
    spec = {"name": "order_update", "language": "en_US"}
    answer = api_for(agent).post(f"/api/conversations/{chat.pk}/messages/", {"template": spec}, format="json")
    assert answer.status_code == 400 and answer.json()["code"] == "no_templates"


# --- Starting a conversation --------------------------------------------------------------------


def _start(api_for, user, capture, **body):
    body.setdefault("template", {"name": "order_update", "language": "en_US", "parameters": ORDER_PARAMETERS})
    with capture(execute=True):
        return api_for(user).post("/api/conversations/", body, format="json")


def test_starting_with_a_new_contact(
    api_for,
    agent,
    account,
    order_update,
    graph,
    eager_celery,
    django_capture_on_commit_callbacks,
):
    answer = _start(api_for, agent, django_capture_on_commit_callbacks, phone="+55 (11) 98765-4321", name="Rita")
    assert answer.status_code == 201, answer.content
    conversation = Conversation.objects.get(pk=answer.json()["conversation"]["id"])
    assert conversation.assignee_id == agent.pk and conversation.whatsapp_account_id == account.pk
    assert conversation.contact.wa_id == "5511987654321" and conversation.contact.phone == "+5511987654321"
    assert conversation.contact.name == "Rita"
    assert answer.json()["conversation"]["window_expires_at"] is None
    assert answer.json()["message"]["type"] == "template"
    assert graph.sent[0]["to"] == "5511987654321"


def test_starting_with_a_contact_already_in_a_conversation_reuses_it(
    api_for,
    agent,
    agent2,
    supervisor,
    tenant,
    account,
    order_update,
    graph,
    eager_celery,
    django_capture_on_commit_callbacks,
):
    contact = factories.ContactFactory(tenant=tenant, wa_id="5511987654321", name="Known")
    existing = factories.ConversationFactory(
        tenant=tenant, contact=contact, whatsapp_account=account, status="resolved", assignee=None
    )
    answer = _start(api_for, agent, django_capture_on_commit_callbacks, phone="005511987654321", name="Other")
    assert answer.status_code == 201, answer.content
    assert answer.json()["conversation"]["id"] == existing.pk
    existing.refresh_from_db()
    assert existing.assignee_id == agent.pk and existing.status == "open"
    assert Contact.objects.get(pk=contact.pk).name == "Known"  # a known name is kept
    # Now it is agent's: another agent may not write into it; a supervisor may.
    taken = _start(api_for, agent2, django_capture_on_commit_callbacks, phone="+5511987654321")
    assert taken.status_code == 409 and taken.json()["code"] == "already_assigned"
    assert _start(api_for, supervisor, django_capture_on_commit_callbacks, phone="+5511987654321").status_code == 201
    assert Conversation.objects.filter(contact=contact).count() == 1


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"phone": "11987654321"}, "invalid_phone", "phone"),
        ({"phone": "+55 11 abc"}, "invalid_phone", "phone"),
        ({"phone": "+0123456789"}, "invalid_phone", "phone"),
        ({"phone": "+5511987654321", "template": {"name": "nope", "language": "en_US"}}, "template_not_found", None),
        (
            {"phone": "+5511987654321", "template": {"name": "order_update", "language": "en_US"}},
            "invalid_template_parameters",
            None,
        ),
        ({"phone": "+5511987654321", "channel": "webchat"}, "invalid", "channel"),
    ],
)
def test_bad_starts_store_nothing(
    api_for, agent, account, order_update, graph, django_capture_on_commit_callbacks, body, code, field
):
    answer = _start(api_for, agent, django_capture_on_commit_callbacks, **body)
    assert answer.status_code == 400, answer.content
    assert answer.json()["code"] == code
    if field:
        assert field in answer.json()["extra"]["fields"]
    assert not Contact.objects.exists() and not Conversation.objects.exists() and graph.sent == []


def test_a_number_of_another_tenant_is_refused(
    api_for, agent, account, order_update, other_tenant, django_capture_on_commit_callbacks
):
    theirs = factories.WhatsAppAccountFactory(tenant=other_tenant, business_account_id=WABA_ID)
    answer = _start(api_for, agent, django_capture_on_commit_callbacks, phone="+5511987654321", number_id=theirs.pk)
    assert answer.status_code == 400 and "number_id" in answer.json()["extra"]["fields"]
    assert not Contact.objects.exists()


def test_several_numbers_need_a_choice(
    api_for, agent, tenant, account, order_update, django_capture_on_commit_callbacks
):
    factories.WhatsAppAccountFactory(tenant=tenant, business_account_id=WABA_ID)
    answer = _start(api_for, agent, django_capture_on_commit_callbacks, phone="+5511987654321")
    assert answer.status_code == 400 and "number_id" in answer.json()["extra"]["fields"]
    chosen = _start(api_for, agent, django_capture_on_commit_callbacks, phone="+5511987654321", number_id=account.pk)
    assert chosen.status_code == 201, chosen.content


# --- What Meta's errors tell the agent ----------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "says"),
    [
        (132000, "number of parameters"),
        (132001, "does not exist in this language"),
        (132005, "too long"),
        (132007, "formatting or content rules"),
        (132012, "not in the format"),
        (132015, "paused"),
        (132016, "disabled"),
        (131049, "marketing"),
        (131026, "could not deliver"),
        (131047, "24 hours"),
    ],
)
def test_metas_errors_fail_the_message_with_a_reason_the_agent_understands(conversation, code, says):
    message = factories.MessageFactory(
        conversation=conversation,
        direction="outbound",
        sender_type="agent",
        type=MessageType.TEMPLATE,
        status=MessageStatus.PENDING,
    )
    services.message_send_failed(message_id=message.pk, error=GraphError(400, code, "Meta's title"))
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED and message.error_code == code
    assert message.error_title.startswith("Meta's title: ")
    assert says in message.error_title
    if code == 131026:
        assert "24" not in message.error_title and "window" not in message.error_title


@pytest.mark.parametrize("code", [132000, 132015, 131049, 131026])
def test_the_same_reasons_arrive_by_failed_status(deliver, account, conversation, code):
    message = factories.MessageFactory(
        conversation=conversation,
        direction="outbound",
        sender_type="agent",
        status=MessageStatus.SENT,
        whatsapp_message_id="wamid.T1",
    )
    payload = fixture("status_failed", phone_number_id=account.phone_number_id)
    status = payload["entry"][0]["changes"][0]["value"]["statuses"][0]
    status["id"] = "wamid.T1"
    status["errors"] = [{"code": code, "title": "Meta says no", "error_data": {"details": "details"}}]
    assert deliver(payload).status_code == 200
    message.refresh_from_db()
    assert message.error_code == code
    assert message.error_title.startswith("Meta says no: ") and "details" not in message.error_title


# --- Admin and the beat schedule ------------------------------------------------------------------


def test_admin_lists_templates_with_filters_and_syncs_now(client, tenant, account, graph, order_update):
    operator = factories.UserFactory(tenant=None, is_staff=True, is_superuser=True)
    client.force_login(operator)
    page = client.get("/admin/whatsapp/messagetemplate/", {"status__exact": "approved"})
    assert page.status_code == 200 and b"order_update" in page.content
    assert client.get(f"/admin/whatsapp/messagetemplate/{order_update.pk}/change/").status_code == 200
    graph.templates = [meta_template("order_update", "en_US"), meta_template("fresh", "pt_BR")]
    done = client.post(
        "/admin/whatsapp/messagetemplate/",
        {"action": "sync_now", "_selected_action": [order_update.pk]},
        follow=True,
    )
    assert done.status_code == 200
    assert b"1 new" in done.content
    assert MessageTemplate.objects.filter(tenant=tenant, name="fresh").exists()


def test_the_beat_syncs_every_tenant_with_a_business_account(tenant, other_tenant, account, graph, eager_celery):
    from whatsapp import tasks

    factories.WhatsAppAccountFactory(tenant=other_tenant, business_account_id="777")
    factories.WhatsAppAccountFactory(tenant=other_tenant)  # no business account: nothing to sync
    graph.templates = [meta_template("order_update", "en_US")]
    assert tasks.sync_all_templates() == 2
    assert set(MessageTemplate.objects.values_list("tenant_id", "business_account_id")) == {
        (tenant.pk, WABA_ID),
        (other_tenant.pk, "777"),
    }
