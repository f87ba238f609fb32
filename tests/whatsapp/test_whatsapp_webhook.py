"""The Meta webhook: signature, handshake, limits, tenant isolation, and processing of every
inbound type and status (tasks run inline here; test_whatsapp_worker.py uses a real worker)."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversations.models import (
    Contact,
    Conversation,
    ConversationStatus,
    Direction,
    Message,
    MessageStatus,
    MessageType,
    SenderType,
)
from tests import factories
from tests.whatsapp.support import (
    body_of,
    deep,
    eager_celery,  # noqa: F401 (fixture)
    fixture,
    post_webhook,
    status_payload,
    text_payload,
)
from whatsapp import parsing, services
from whatsapp.models import StatusReceipt, WebhookEvent, WebhookEventStatus
from whatsapp.services import signature_for

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery", "without_flow")]


@pytest.fixture
def account(tenant):
    return factories.WhatsAppAccountFactory(tenant=tenant)


@pytest.fixture
def deliver(client, account, django_capture_on_commit_callbacks):
    """Post a signed payload to the webhook and run what it enqueued; returns the response."""

    def send(payload, secret=None):
        with django_capture_on_commit_callbacks(execute=True):
            response = post_webhook(client, payload, secret or account.app_secret)
        return response

    return send


# --- Verification handshake ------------------------------------------------------------------------


def test_handshake_echoes_the_challenge_for_a_known_verify_token(client, account):
    response = client.get(
        "/webhooks/whatsapp/",
        {"hub.mode": "subscribe", "hub.verify_token": account.verify_token, "hub.challenge": "1158201444"},
    )
    assert response.status_code == 200
    assert response.content == b"1158201444"


@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": "__token__", "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.challenge": "1"},
    ],
)
def test_handshake_refuses_a_wrong_token_or_mode(client, account, params):
    params = {k: (account.verify_token if v == "__token__" else v) for k, v in params.items()}
    response = client.get("/webhooks/whatsapp/", params)
    assert response.status_code == 403
    assert response.json()["code"] == "verification_failed"


# --- Signature ------------------------------------------------------------------------------------


def test_signed_payload_is_stored_processed_and_answered_200(client, account, deliver):
    response = deliver(fixture("text", phone_number_id=account.phone_number_id))
    assert response.status_code == 200, response.content
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEventStatus.PROCESSED
    assert event.account == account and event.tenant_id == account.tenant_id
    assert json.loads(event.body)["entry"][0]["id"] == "102290129340398"  # raw body kept
    assert Message.objects.filter(tenant=account.tenant).count() == 1


def _assert_refused(response, code="invalid_signature"):
    assert response.status_code == 403, response.content
    assert response.json()["code"] == code
    assert WebhookEvent.objects.count() == 0
    assert Message.objects.count() == 0


def test_wrong_secret_is_refused(client, account):
    _assert_refused(post_webhook(client, fixture("text", phone_number_id=account.phone_number_id), "not-the-secret"))


def test_missing_signature_is_refused(client, account):
    _assert_refused(post_webhook(client, fixture("text", phone_number_id=account.phone_number_id), None))


def test_malformed_signature_header_is_refused(client, account):
    payload = fixture("text", phone_number_id=account.phone_number_id)
    digest = signature_for(body_of(payload), account.app_secret).removeprefix("sha256=")
    _assert_refused(post_webhook(client, payload, None, signature=digest))  # without "sha256="


def test_tampered_body_is_refused(client, account):
    payload = fixture("text", phone_number_id=account.phone_number_id)
    signature = signature_for(body_of(payload), account.app_secret)
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"] = "Send me a refund"
    _assert_refused(post_webhook(client, payload, None, signature=signature))


def test_reserialised_body_is_refused(client, account):
    """The HMAC is over the exact bytes Meta sent: the same JSON written differently fails."""
    payload = fixture("text", phone_number_id=account.phone_number_id)
    original = json.dumps(payload).encode()
    signature = signature_for(original, account.app_secret)
    reserialised = json.dumps(payload, indent=2, sort_keys=True).encode()
    assert json.loads(reserialised) == json.loads(original)
    _assert_refused(post_webhook(client, reserialised, None, signature=signature))
    assert post_webhook(client, original, None, signature=signature).status_code == 200


def test_cross_tenant_secret_cannot_speak_for_another_tenants_number(client, account, other_tenant):
    """Tenant A's secret, tenant B's phone_number_id: refused, nothing changes for B."""
    other_account = factories.WhatsAppAccountFactory(tenant=other_tenant)
    payload = fixture("text", phone_number_id=other_account.phone_number_id)
    _assert_refused(post_webhook(client, payload, account.app_secret))
    assert Contact.objects.filter(tenant=other_tenant).count() == 0


def test_payload_mixing_two_tenants_numbers_is_refused(client, account, other_tenant):
    other_account = factories.WhatsAppAccountFactory(tenant=other_tenant)
    payload = fixture("text", phone_number_id=account.phone_number_id)
    second = deep(payload["entry"][0])
    second["changes"][0]["value"]["metadata"]["phone_number_id"] = other_account.phone_number_id
    payload["entry"].append(second)
    _assert_refused(post_webhook(client, payload, account.app_secret))


def test_unknown_phone_number_id_is_refused(client, account):
    _assert_refused(post_webhook(client, fixture("text", phone_number_id="999"), account.app_secret), "unknown_account")


def test_non_json_body_is_400(client, account):
    response = post_webhook(client, b"not json{", account.app_secret)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_payload"
    assert WebhookEvent.objects.count() == 0


def test_json_that_is_not_a_whatsapp_webhook_is_400(client, account):
    response = post_webhook(client, {"object": "page", "entry": []}, account.app_secret)
    assert response.status_code == 400


def test_body_over_the_limit_is_413(client, account, settings):
    settings.WHATSAPP_WEBHOOK_MAX_BYTES = 2000
    payload = fixture("text", phone_number_id=account.phone_number_id)
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"] = "x" * 3000
    response = post_webhook(client, payload, account.app_secret)
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert WebhookEvent.objects.count() == 0


def test_other_methods_are_refused(client):
    assert client.put("/webhooks/whatsapp/").status_code == 405


# --- Inbound types ----------------------------------------------------------------------------------

INBOUND = [
    # fixture, PyTake type, check on content
    ("text", MessageType.TEXT, lambda c: c["text"] == "Does it come in another color?"),
    (
        "image",
        MessageType.IMAGE,
        lambda c: c["media"]["id"] == "1003383421387256" and c["caption"] == "This is the one",
    ),
    ("audio", MessageType.AUDIO, lambda c: c["media"]["voice"] is True),
    ("video", MessageType.VIDEO, lambda c: c["media"]["mime_type"] == "video/mp4"),
    ("document", MessageType.DOCUMENT, lambda c: c["media"]["filename"] == "invoice-2024.pdf"),
    ("sticker", MessageType.STICKER, lambda c: c["media"]["mime_type"] == "image/webp"),
    ("location", MessageType.LOCATION, lambda c: c["location"]["latitude"] == 37.483307),
    ("contacts", MessageType.CONTACTS, lambda c: c["text"] == "Barbara J. Johnson"),
    ("interactive_button_reply", MessageType.INTERACTIVE, lambda c: c["reply"]["id"] == "cancel-order"),
    ("interactive_list_reply", MessageType.INTERACTIVE, lambda c: c["reply"]["id"] == "priority_express"),
    ("button", MessageType.INTERACTIVE, lambda c: c["reply"]["payload"] == "Unsubscribe from promos"),
    # Reactions, edits and revokes change the message they name: tests/whatsapp/test_whatsapp_kinds.py
    (
        "order",
        MessageType.ORDER,
        lambda c: c["order"]["catalog_id"] == "194836987003835" and c["order"]["total"] == 85 and "2 item" in c["text"],
    ),
    (
        "nfm_reply",
        MessageType.INTERACTIVE,
        lambda c: c["flow"]["fields"] == {"full_name": "Sheena Nelson", "delivery_date": "2024-04-10", "size": "M"},
    ),
    ("system", MessageType.TEXT, lambda c: "changed from" in c["text"]),
    ("unsupported", MessageType.UNSUPPORTED, lambda c: c["errors"][0]["code"] == 131051),
    ("unknown_type", MessageType.UNSUPPORTED, lambda c: c["raw"]["hologram"] == {"shape": "cube"}),
]


@pytest.mark.parametrize(("name", "expected_type", "check"), INBOUND, ids=[row[0] for row in INBOUND])
def test_every_inbound_type_is_stored(deliver, account, name, expected_type, check, settings, meta_unreachable):
    settings.WHATSAPP_GRAPH_BASE_URL = meta_unreachable  # media download fails fast; tested elsewhere
    payload = fixture(name, phone_number_id=account.phone_number_id)
    raw = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    assert deliver(payload).status_code == 200
    message = Message.objects.get()
    assert message.type == expected_type
    assert message.whatsapp_message_id == raw["id"]
    assert message.direction == Direction.INBOUND
    assert message.content["wa_type"] == raw["type"]
    assert message.content["raw"] == raw  # nothing Meta sent is lost
    assert message.created_at.timestamp() == int(raw["timestamp"])  # Meta's time, not ours
    assert check(message.content)
    assert message.sender_type == (SenderType.SYSTEM if name == "system" else SenderType.CONTACT)
    contact = Contact.objects.get(tenant=account.tenant)
    # A number change moves the contact to the new number (tests/whatsapp/test_whatsapp_kinds.py).
    expected_wa_id = "16505554321" if name == "system" else "16505551234"
    assert (contact.wa_id, contact.profile_name) == (expected_wa_id, "Sheena Nelson")
    assert WebhookEvent.objects.get().status == WebhookEventStatus.PROCESSED


def test_first_message_creates_contact_and_conversation(deliver, account, without_flow):
    deliver(fixture("text", phone_number_id=account.phone_number_id))
    conversation = Conversation.objects.get()
    message = Message.objects.get()
    assert conversation.tenant_id == account.tenant_id
    assert conversation.whatsapp_account == account
    assert conversation.status == ConversationStatus.OPEN
    assert conversation.unread_count == 1
    assert conversation.last_message_preview == "Does it come in another color?"
    assert conversation.last_message_at == message.created_at
    assert conversation.last_customer_message_at == message.created_at
    assert conversation.queued_at is None  # the flow decides: the bot first, then the queue
    assert without_flow == [message.pk]  # handed to the service flow after commit


def test_profile_name_is_updated(deliver, account):
    deliver(text_payload(account.phone_number_id, wa_id="5511900000001", wamid="wamid.n1", text="hi", name="Old"))
    deliver(text_payload(account.phone_number_id, wa_id="5511900000001", wamid="wamid.n2", text="hi", name="New Name"))
    assert Contact.objects.get().profile_name == "New Name"
    assert Conversation.objects.count() == 1


def test_new_message_reopens_a_resolved_conversation(deliver, account):
    deliver(text_payload(account.phone_number_id, wa_id="5511900000001", wamid="wamid.r1", text="hi", ts=1_700_000_000))
    conversation = Conversation.objects.get()
    conversation.status = ConversationStatus.RESOLVED
    conversation.resolved_at = timezone.now()
    conversation.unread_count = 0
    conversation.save()
    deliver(
        text_payload(account.phone_number_id, wa_id="5511900000001", wamid="wamid.r2", text="back", ts=1_700_000_100)
    )
    conversation.refresh_from_db()
    assert Conversation.objects.count() == 1
    assert conversation.status == ConversationStatus.OPEN
    assert conversation.resolved_at is None
    assert conversation.unread_count == 1
    assert conversation.last_message_preview == "back"


def test_order_follows_meta_timestamp_not_arrival(deliver, account):
    pn, wa = account.phone_number_id, "5511900000001"
    deliver(text_payload(pn, wa_id=wa, wamid="wamid.late", text="second", ts=1_700_000_200))
    deliver(text_payload(pn, wa_id=wa, wamid="wamid.early", text="first", ts=1_700_000_100))
    texts = [m.text for m in Message.objects.order_by("created_at", "id")]
    assert texts == ["first", "second"]
    conversation = Conversation.objects.get()
    assert conversation.last_message_preview == "second"  # the older one arriving late does not take over
    assert int(conversation.last_message_at.timestamp()) == 1_700_000_200


# --- Duplicates and batches -----------------------------------------------------------------------


def test_same_payload_twice_makes_one_message(deliver, account):
    payload = fixture("text", phone_number_id=account.phone_number_id)
    assert deliver(payload).status_code == 200
    assert deliver(payload).status_code == 200  # Meta retried
    assert Message.objects.count() == 1
    assert Conversation.objects.get().unread_count == 1
    assert WebhookEvent.objects.filter(status=WebhookEventStatus.PROCESSED).count() == 1  # the retry is the same event


def test_a_message_on_an_assigned_conversation_costs_a_fixed_number_of_queries(account, agent, without_flow):
    """The worker's part of every inbound message (bench.scenario_e2e): read the stored webhook,
    lock the contact, check the wamid, lock the conversation, insert the message and update the
    conversation, each with its event (counter, conversation seq, row). No savepoint per event,
    no second read of the contact or the account, no lazy load while serialising events."""
    pn = account.phone_number_id

    def store(n):
        body = body_of(text_payload(pn, wa_id="5511900000001", wamid=f"wamid.count.{n}", text=f"hi {n}"))
        return services.webhook_event_receive(body=body, signature=signature_for(body, account.app_secret))[0]

    services.webhook_event_process(event_id=store(0).pk)
    Conversation.objects.update(assignee=agent)
    event = store(1)
    with CaptureQueriesContext(connection) as queries:
        services.webhook_event_process(event_id=event.pk)
    assert Message.objects.filter(whatsapp_message_id="wamid.count.1").exists()
    # 15 inside the test's transaction (savepoint and release of the service's own atomic block).
    assert len(queries) <= 15, "\n".join(q["sql"][:120] for q in queries.captured_queries)


def test_same_message_in_two_different_payloads_makes_one_message(deliver, account):
    pn = account.phone_number_id
    first = text_payload(pn, wa_id="5511900000001", wamid="wamid.dup", text="hello")
    second = fixture("batch", phone_number_id=pn)
    second["entry"][0]["changes"][0]["value"]["messages"].append(
        first["entry"][0]["changes"][0]["value"]["messages"][0]
        | {"from": "5511990000001"}  # the same message, now batched with others
    )
    first["entry"][0]["changes"][0]["value"]["messages"][0]["from"] = "5511990000001"
    first["entry"][0]["changes"][0]["value"]["contacts"][0]["wa_id"] = "5511990000001"
    deliver(first)
    deliver(second)
    assert Message.objects.filter(whatsapp_message_id="wamid.dup").count() == 1
    assert Message.objects.count() == 5  # dup + A1, A2, B1, C1


def test_one_payload_with_several_messages_and_statuses_for_several_contacts(deliver, account, tenant):
    conversation = factories.ConversationFactory(tenant=tenant, whatsapp_account=account)
    out1 = factories.MessageFactory(
        conversation=conversation,
        direction=Direction.OUTBOUND,
        sender_type=SenderType.AGENT,
        status=MessageStatus.SENT,
        whatsapp_account=account,
        whatsapp_message_id="wamid.batch.OUT1",
    )
    out2 = factories.MessageFactory(
        conversation=conversation,
        direction=Direction.OUTBOUND,
        sender_type=SenderType.AGENT,
        status=MessageStatus.SENT,
        whatsapp_account=account,
        whatsapp_message_id="wamid.batch.OUT2",
    )
    assert deliver(fixture("batch", phone_number_id=account.phone_number_id)).status_code == 200
    by_wa = {c.wa_id: c for c in Contact.objects.filter(wa_id__startswith="55119900000")}
    assert {c.profile_name for c in by_wa.values()} == {"Ana Lima", "Bruno Reis", "Carla Dias"}
    ana = Conversation.objects.get(contact=by_wa["5511990000001"])
    assert [m.text for m in ana.messages.order_by("created_at")] == ["Oi, tudo bem?", "Preciso de ajuda"]
    assert ana.unread_count == 2
    assert Conversation.objects.get(contact=by_wa["5511990000002"]).messages.get().text == "Hello there"
    assert Conversation.objects.get(contact=by_wa["5511990000003"]).messages.get().type == MessageType.LOCATION
    out1.refresh_from_db()
    out2.refresh_from_db()
    assert out1.status == MessageStatus.DELIVERED
    assert out2.status == MessageStatus.READ
    assert out2.delivered_at is not None  # read implies delivered


# --- Statuses ---------------------------------------------------------------------------------------


def _pending_outbound(conversation, account, wamid=None):
    """An agent's WhatsApp message handed to the Graph API: with its wamid, or (None) with the
    answer that carried it lost."""
    return factories.MessageFactory(
        conversation=conversation,
        direction=Direction.OUTBOUND,
        sender_type=SenderType.AGENT,
        status=MessageStatus.PENDING,
        whatsapp_account=account,
        whatsapp_message_id=wamid,
    )


@pytest.fixture
def outbound(tenant, account):
    conversation = factories.ConversationFactory(tenant=tenant, whatsapp_account=account)
    return _pending_outbound(conversation, account, "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3N0VBRjE2QjM5MzY0QzlCNTcA")


def test_statuses_in_order(deliver, account, outbound):
    for name, expected in [("status_sent", "sent"), ("status_delivered", "delivered"), ("status_read", "read")]:
        deliver(fixture(name, phone_number_id=account.phone_number_id))
        outbound.refresh_from_db()
        assert outbound.status == expected
    assert int(outbound.sent_at.timestamp()) == 1712595500
    assert int(outbound.delivered_at.timestamp()) == 1712595501
    assert int(outbound.read_at.timestamp()) == 1712595510


def test_late_delivered_does_not_move_read_back(deliver, account, outbound):
    deliver(fixture("status_read", phone_number_id=account.phone_number_id))
    deliver(fixture("status_delivered", phone_number_id=account.phone_number_id))
    deliver(fixture("status_sent", phone_number_id=account.phone_number_id))
    outbound.refresh_from_db()
    assert outbound.status == MessageStatus.READ
    assert outbound.delivered_at is not None  # read implies delivered (Meta may skip it)


def test_duplicate_status_is_applied_once(deliver, account, outbound):
    payload = fixture("status_delivered", phone_number_id=account.phone_number_id)
    deliver(payload)
    deliver(payload)
    assert StatusReceipt.objects.filter(wamid=outbound.whatsapp_message_id).count() == 1


def test_played_is_kept_and_counts_as_read(deliver, account, outbound):
    assert deliver(fixture("status_played", phone_number_id=account.phone_number_id)).status_code == 200
    outbound.refresh_from_db()
    assert outbound.status == MessageStatus.READ
    assert StatusReceipt.objects.get().status == "played"


def test_an_unknown_status_is_kept_and_changes_nothing(deliver, account, outbound):
    payload = status_payload(
        account.phone_number_id, wamid=outbound.whatsapp_message_id, status="deleted", ts=1712595600
    )
    assert deliver(payload).status_code == 200
    outbound.refresh_from_db()
    assert outbound.status == MessageStatus.PENDING
    assert StatusReceipt.objects.get().status == "deleted"
    assert WebhookEvent.objects.get().status == WebhookEventStatus.PROCESSED


def test_failed_status_keeps_metas_code_and_title(deliver, account, outbound):
    deliver(fixture("status_failed", phone_number_id=account.phone_number_id))
    outbound.refresh_from_db()
    assert outbound.status == MessageStatus.FAILED
    assert outbound.error_code == 131047
    # Meta's title, then what it means to the agent (whatsapp.meta_errors).
    assert outbound.error_title.startswith("Re-engagement message: ")
    assert "only an approved template" in outbound.error_title
    receipt = StatusReceipt.objects.get()
    assert "24 hours" in receipt.errors[0]["error_data"]["details"]


def test_status_before_its_message_is_applied_when_the_wamid_appears(deliver, account, outbound):
    from conversations.services import message_set_accepted
    from whatsapp.services import receipts_apply_pending

    pn = account.phone_number_id
    deliver(status_payload(pn, wamid="wamid.early-bird", status="delivered", ts=1712595601))
    deliver(status_payload(pn, wamid="wamid.early-bird", status="sent", ts=1712595600))
    assert StatusReceipt.objects.filter(applied=False).count() == 2
    message_set_accepted(message_id=outbound.pk, wamid="wamid.early-bird")
    assert receipts_apply_pending(account_id=account.pk, wamid="wamid.early-bird") == 2
    outbound.refresh_from_db()
    assert outbound.status == MessageStatus.DELIVERED
    assert int(outbound.delivered_at.timestamp()) == 1712595601
    assert not StatusReceipt.objects.filter(applied=False).exists()


def test_a_status_for_another_tenants_message_is_not_applied(deliver, account, other_tenant):
    """Same wamid at another tenant's number: only the signing account's messages move."""
    other_account = factories.WhatsAppAccountFactory(tenant=other_tenant)
    conversation = factories.ConversationFactory(tenant=other_tenant, whatsapp_account=other_account)
    foreign = factories.MessageFactory(
        conversation=conversation,
        direction=Direction.OUTBOUND,
        sender_type=SenderType.AGENT,
        status=MessageStatus.SENT,
        whatsapp_account=other_account,
        whatsapp_message_id="wamid.shared",
    )
    deliver(status_payload(account.phone_number_id, wamid="wamid.shared", status="read", ts=1712595601))
    foreign.refresh_from_db()
    assert foreign.status == MessageStatus.SENT


def test_a_status_naming_an_unsent_message_in_its_callback_data_gives_it_its_wamid(deliver, account, tenant):
    """Every message goes out with its id in ``biz_opaque_callback_data``, which Meta echoes in
    its statuses: a send whose answer was lost learns its wamid, and is not sent again."""
    message = _pending_outbound(factories.ConversationFactory(tenant=tenant, whatsapp_account=account), account)
    payload = status_payload(
        account.phone_number_id,
        wamid="wamid.lost-answer",
        status="delivered",
        ts=1712595601,
        callback_data=f"pytake:{message.pk}",
    )
    deliver(payload)
    message.refresh_from_db()
    assert message.whatsapp_message_id == "wamid.lost-answer"
    assert message.status == MessageStatus.DELIVERED
    assert services._sendable(message.pk) is None  # a retry or the sweeper leaves it alone


@pytest.mark.parametrize("case", ["other-tenant", "not-ours", "huge-id", "not-ascii", "already-sent"])
def test_callback_data_links_only_the_signing_accounts_unsent_messages(deliver, account, tenant, other_tenant, case):
    """A status can only name a message of the account that signed it, still without a wamid;
    a callback that is not PyTake's is ignored."""
    if case == "other-tenant":
        other_account = factories.WhatsAppAccountFactory(tenant=other_tenant)
        target = _pending_outbound(
            factories.ConversationFactory(tenant=other_tenant, whatsapp_account=other_account), other_account
        )
        callback = f"pytake:{target.pk}"
    else:
        target = _pending_outbound(factories.ConversationFactory(tenant=tenant, whatsapp_account=account), account)
        callback = {"not-ours": "campaign-42", "huge-id": "pytake:" + "9" * 30, "not-ascii": "pytake:\u00b2"}.get(
            case, f"pytake:{target.pk}"
        )
        if case == "already-sent":
            Message.objects.filter(pk=target.pk).update(whatsapp_message_id="wamid.own", status=MessageStatus.SENT)
    payload = status_payload(
        account.phone_number_id, wamid="wamid.someone-else", status="read", ts=1712595601, callback_data=callback
    )
    assert deliver(payload).status_code == 200
    before = (
        (target.whatsapp_message_id, target.status) if case != "already-sent" else ("wamid.own", MessageStatus.SENT)
    )
    target.refresh_from_db()
    assert (target.whatsapp_message_id, target.status) == before
    assert StatusReceipt.objects.get().applied is False  # kept, for a message that may appear
    assert WebhookEvent.objects.get().status == WebhookEventStatus.PROCESSED


@pytest.mark.parametrize("callback", ["pytake:" + "9" * 30, "pytake:\u00b2", "pytake:-1", "pytake:", "pytake:1e3"])
def test_a_forged_callback_id_is_ignored_without_an_error(account, callback):
    """Callback data comes back from outside: anything but an id PyTake could have written is
    ignored (an error here would fail the status's first processing)."""
    update = parsing.parse_status(
        account.phone_number_id,
        {"id": "wamid.x", "status": "sent", "timestamp": "1712595600", "biz_opaque_callback_data": callback},
    )
    services._wamid_link(account=account, update=update)  # raises nothing, links nothing


# --- Dead letters ------------------------------------------------------------------------------------


def test_a_failing_event_goes_to_the_dead_letters_and_can_be_reprocessed(deliver, account, monkeypatch):
    from whatsapp import services, tasks

    calls = {"n": 0}
    real = services.inbound_message_save

    def broken(**kwargs):
        calls["n"] += 1
        raise RuntimeError("database on fire")

    monkeypatch.setattr(services, "inbound_message_save", broken)
    monkeypatch.setattr(tasks, "backoff", lambda retries: 0)
    assert deliver(fixture("text", phone_number_id=account.phone_number_id)).status_code == 200  # still 200
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEventStatus.DEAD
    assert event.attempts == tasks.WEBHOOK_MAX_RETRIES + 1
    assert "database on fire" in event.last_error
    assert Message.objects.count() == 0

    monkeypatch.setattr(services, "inbound_message_save", real)
    from django.contrib.admin.sites import site

    admin = site._registry[WebhookEvent]
    admin.message_user = lambda *a, **k: None
    admin.reprocess(None, WebhookEvent.objects.all())
    event.refresh_from_db()
    assert event.status == WebhookEventStatus.PROCESSED
    assert Message.objects.count() == 1


def test_deliveries_left_unprocessed_are_enqueued_again(account, django_capture_on_commit_callbacks):
    """A worker that died holding a task leaves its event 'received'; beat enqueues it again
    after WHATSAPP_STALE_WEBHOOK_SECONDS instead of waiting for the broker's visibility timeout."""
    from datetime import timedelta

    from django.utils import timezone

    from whatsapp.tasks import requeue_stale_webhooks, webhook_events_requeue_stale

    def stored(wamid, age):
        payload = text_payload(account.phone_number_id, wa_id="5511900000001", wamid=wamid, text=wamid)
        return WebhookEvent.objects.create(
            tenant=account.tenant, account=account, body=json.dumps(payload), received_at=timezone.now() - age
        )

    stale = stored("wamid.stale", timedelta(minutes=10))
    fresh = stored("wamid.fresh", timedelta(seconds=5))
    assert requeue_stale_webhooks.apply().get() == 1  # the beat task, with the default threshold
    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert stale.status == WebhookEventStatus.PROCESSED
    assert fresh.status == WebhookEventStatus.RECEIVED
    assert Message.objects.filter(whatsapp_message_id="wamid.stale").count() == 1
    # Enqueued twice (the broker redelivers too): still one message.
    assert webhook_events_requeue_stale(older_than_seconds=0) == 1  # the fresh one
    stale.status = WebhookEventStatus.RECEIVED
    stale.save()
    webhook_events_requeue_stale(older_than_seconds=0)
    assert Message.objects.filter(whatsapp_message_id="wamid.stale").count() == 1
