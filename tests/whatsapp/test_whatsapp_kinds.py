"""Message-level webhooks that are more than "a new bubble": customers known by a username
only, reactions, edits, revokes, replies, number changes, group messages, echoes from the
WhatsApp Business app and marketing preferences. Each from a payload in Meta's documented shape
(tests/fixtures/whatsapp/)."""

import pytest

from conversations.models import (
    AuditAction,
    AuditEntry,
    Contact,
    Conversation,
    Direction,
    Message,
    MessageStatus,
    MessageType,
    SenderType,
    contact_opted_out_of_marketing,
)
from realtime.models import Event
from tests import factories
from tests.whatsapp.support import (
    eager_celery,  # noqa: F401 (fixture)
    fixture,
    post_webhook,
    text_payload,
)
from whatsapp import parsing
from whatsapp.models import WebhookEvent, WebhookEventStatus

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery", "without_flow")]

BSUID = "US.13491208655302741918"
# The wamid the reaction and reply fixtures name: an agent's message sent earlier.
SENT_WAMID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI1RjQ0RjM2QTQ2QkE2RTI4QzgA"
# The wamid the text fixture carries, and the edit and revoke fixtures name.
TEXT_WAMID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="


@pytest.fixture
def account(tenant):
    return factories.WhatsAppAccountFactory(tenant=tenant)


@pytest.fixture
def deliver(client, account, django_capture_on_commit_callbacks):
    def send(payload):
        with django_capture_on_commit_callbacks(execute=True):
            response = post_webhook(client, payload, account.app_secret)
        assert response.status_code == 200
        return response

    return send


def load(name, account):
    return fixture(name, phone_number_id=account.phone_number_id)


@pytest.fixture
def sent(tenant, account):
    """An agent's message the customer can react or reply to."""
    contact = factories.ContactFactory(tenant=tenant, wa_id="16505551234", phone="+16505551234")
    conversation = factories.ConversationFactory(tenant=tenant, contact=contact, whatsapp_account=account)
    return factories.MessageFactory(
        conversation=conversation,
        direction=Direction.OUTBOUND,
        sender_type=SenderType.AGENT,
        status=MessageStatus.DELIVERED,
        whatsapp_account=account,
        whatsapp_message_id=SENT_WAMID,
        content={"text": "We have it in blue and red."},
    )


def updated_events(message):
    return list(Event.objects.filter(type="message.updated", data__id=message.pk).order_by("id"))


# --- Customers known by a username only ------------------------------------------------------------


def test_a_username_only_customer_is_not_dropped(deliver, account, without_flow):
    deliver(load("username_only", account))
    message = Message.objects.get()
    contact = message.conversation.contact
    assert (contact.wa_id, contact.wa_user_id, contact.wa_username) == ("", BSUID, "sheena.n")
    assert contact.profile_name == "Sheena Nelson"
    assert message.text == "Hi, I found you by your username"
    assert without_flow == [message.pk]  # the bot and the queue hear of it like any other
    assert WebhookEvent.objects.get().status == WebhookEventStatus.PROCESSED


def test_the_phone_number_learnt_later_joins_the_same_contact_and_conversation(deliver, account, without_flow):
    deliver(load("username_only", account))
    deliver(load("username_and_phone", account))
    contact = Contact.objects.get()
    assert (contact.wa_id, contact.wa_user_id, contact.phone) == ("16505551234", BSUID, "+16505551234")
    assert Conversation.objects.count() == 1
    assert Message.objects.filter(conversation__contact=contact).count() == 2


def test_a_number_and_a_user_id_first_seen_apart_are_merged(deliver, account, without_flow):
    deliver(text_payload(account.phone_number_id, wa_id="16505551234", wamid="wamid.by-phone", text="by phone"))
    deliver(load("username_only", account))
    assert Contact.objects.count() == 2  # nothing yet says they are one person
    deliver(load("username_and_phone", account))
    contact = Contact.objects.get()
    assert (contact.wa_id, contact.wa_user_id) == ("16505551234", BSUID)
    assert set(Message.objects.values_list("conversation__contact", flat=True)) == {contact.pk}
    entry = AuditEntry.objects.get(action=AuditAction.MERGE)
    assert entry.via == "webhook" and entry.actor is None


def test_a_user_id_is_never_taken_for_another_tenants_contact(deliver, account, other_tenant, without_flow):
    theirs = factories.ContactFactory(tenant=other_tenant, wa_id="", wa_user_id=BSUID)
    deliver(load("username_only", account))
    mine = Contact.objects.get(tenant=account.tenant)
    assert mine.pk != theirs.pk and mine.wa_user_id == BSUID
    assert not Message.objects.filter(conversation__contact=theirs).exists()


def test_a_status_for_a_username_only_recipient_is_applied(deliver, account, tenant):
    contact = factories.ContactFactory(tenant=tenant, wa_id="", phone="", wa_user_id=BSUID)
    conversation = factories.ConversationFactory(tenant=tenant, contact=contact, whatsapp_account=account)
    message = factories.MessageFactory(
        conversation=conversation,
        direction=Direction.OUTBOUND,
        sender_type=SenderType.AGENT,
        status=MessageStatus.PENDING,
        whatsapp_account=account,
        whatsapp_message_id="wamid.to-a-username",
    )
    payload = load("status_delivered", account)
    status = payload["entry"][0]["changes"][0]["value"]["statuses"][0]
    status.pop("recipient_id", None)
    status.update(id="wamid.to-a-username", recipient_user_id=BSUID)
    deliver(payload)
    message.refresh_from_db()
    assert message.status == MessageStatus.DELIVERED


def test_a_message_naming_nobody_is_skipped_not_filed_under_an_empty_contact(deliver, account):
    payload = load("username_only", account)
    value = payload["entry"][0]["changes"][0]["value"]
    del value["contacts"]
    del value["messages"][0]["from_user_id"]
    deliver(payload)
    assert not Contact.objects.exists() and not Message.objects.exists()


# --- Reactions ---------------------------------------------------------------------------------------


def test_a_reaction_attaches_to_the_message_it_reacts_to(deliver, account, sent, without_flow):
    deliver(load("reaction", account))
    sent.refresh_from_db()
    assert [r["emoji"] for r in sent.reactions] == ["\U0001f44d"]
    assert sent.reactions[0]["by"] == "contact"
    assert Message.objects.count() == 1  # no bubble of its own
    assert without_flow == []  # nothing for the bot
    [event] = updated_events(sent)
    assert event.data["reactions"] == sent.reactions
    sent.conversation.refresh_from_db()
    assert sent.conversation.unread_count == 0


def test_a_new_reaction_replaces_the_old_and_an_empty_one_removes_it(deliver, account, sent):
    deliver(load("reaction", account))
    changed = load("reaction", account)
    message = changed["entry"][0]["changes"][0]["value"]["messages"][0]
    message.update(id="wamid.second-reaction", timestamp="1712595600")
    message["reaction"]["emoji"] = "\u2764\ufe0f"
    deliver(changed)
    sent.refresh_from_db()
    assert [r["emoji"] for r in sent.reactions] == ["\u2764\ufe0f"]
    deliver(load("reaction_removed", account))
    sent.refresh_from_db()
    assert [r["emoji"] for r in sent.reactions] == [""]  # the removal is kept, so a late one is known stale
    assert [e.data["reactions"] for e in updated_events(sent)] == [
        [{"emoji": "\U0001f44d", "by": "contact", "at": "2024-04-08T16:57:23+00:00"}],
        [{"emoji": "\u2764\ufe0f", "by": "contact", "at": "2024-04-08T17:00:00+00:00"}],
        [],
    ]


def test_a_stale_reaction_delivered_late_changes_nothing(deliver, account, sent):
    deliver(load("reaction_removed", account))  # ts 1712595700: removed
    deliver(load("reaction", account))  # ts 1712595443: the earlier 👍, delivered late
    sent.refresh_from_db()
    assert [r["emoji"] for r in sent.reactions] == [""]


def test_a_reaction_from_a_new_customer_does_not_start_the_greeting(deliver, account, without_flow):
    deliver(load("reaction", account))  # reacts to a message PyTake never stored
    assert without_flow == []
    assert not Conversation.objects.exists() and not Message.objects.exists()
    assert WebhookEvent.objects.get().status == WebhookEventStatus.PROCESSED  # raw kept, answered


def test_a_reaction_cannot_reach_another_tenants_message(deliver, account, other_tenant):
    their_account = factories.WhatsAppAccountFactory(tenant=other_tenant)
    conversation = factories.ConversationFactory(tenant=other_tenant, whatsapp_account=their_account)
    theirs = factories.MessageFactory(
        conversation=conversation,
        direction=Direction.OUTBOUND,
        sender_type=SenderType.AGENT,
        whatsapp_account=their_account,
        whatsapp_message_id=SENT_WAMID,
    )
    deliver(load("reaction", account))
    theirs.refresh_from_db()
    assert theirs.reactions == []


# --- Edits and revokes -------------------------------------------------------------------------------


def test_an_edit_replaces_the_text_and_keeps_the_history(deliver, account, without_flow):
    deliver(load("text", account))
    deliver(load("edit", account))
    deliver(load("edit", account))  # redelivered: applied once
    message = Message.objects.get()
    assert message.text == "Does it come in another colour? Blue?"
    assert [e["text"] for e in message.content["edits"]] == ["Does it come in another color?"]
    assert message.edited_at is not None and message.edited_at.timestamp() == 1712595500
    assert len(without_flow) == 1  # the edit is not a new message for the bot
    assert message.conversation.last_message_preview == "Does it come in another colour? Blue?"  # the inbox list
    [event] = updated_events(message)
    assert event.data["content"]["text"] == message.text and event.data["edited_at"]


def test_a_revoke_marks_the_message_deleted_and_keeps_its_content(deliver, account):
    deliver(load("text", account))
    deliver(load("revoke", account))
    message = Message.objects.get()
    assert message.deleted_at is not None and message.deleted_at.timestamp() == 1712595600
    assert message.text == "Does it come in another color?"  # kept for the audit trail
    [event] = updated_events(message)
    assert event.data["deleted_at"]


# --- Replies ----------------------------------------------------------------------------------------


def test_a_customers_reply_names_the_message_it_quotes(deliver, account, sent):
    deliver(load("reply_text", account))
    reply = Message.objects.get(direction=Direction.INBOUND)
    assert reply.reply_to_id == sent.pk
    event = Event.objects.get(type="message.new", data__id=reply.pk)
    assert event.data["reply_to"] == {
        "id": sent.pk,
        "type": "text",
        "direction": "outbound",
        "sender_type": "agent",
        "text": "We have it in blue and red.",
        "deleted": False,
    }


def test_a_reply_quoting_an_unknown_message_is_stored_without_a_quote(deliver, account):
    deliver(load("reply_text", account))
    reply = Message.objects.get()
    assert reply.reply_to_id is None and reply.content["context"]["id"] == SENT_WAMID


# --- Orders, system, groups, echoes, preferences -----------------------------------------------------


def test_an_order_shows_its_items_and_total(deliver, account):
    deliver(load("order", account))
    message = Message.objects.get()
    assert message.type == MessageType.ORDER
    order = message.content["order"]
    assert [(i["product_retailer_id"], i["quantity"], i["item_price"]) for i in order["items"]] == [
        ("di9ozbzfi4", 2, 30.0),
        ("nqryix03ez", 1, 25.0),
    ]
    assert (order["total"], order["currency"]) == (85, "USD")
    assert message.conversation.last_message_preview.startswith("Order: 2 item(s), 85.00 USD")


def test_a_number_change_moves_the_contact_and_the_next_message_continues_the_conversation(
    deliver, account, without_flow
):
    deliver(load("text", account))
    system = load("system", account)
    system["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = "wamid.number-changed"
    deliver(system)
    contact = Contact.objects.get()
    assert (contact.wa_id, contact.phone) == ("16505554321", "+16505554321")
    deliver(text_payload(account.phone_number_id, wa_id="16505554321", wamid="wamid.from-new-number", text="hi"))
    assert Contact.objects.count() == 1 and Conversation.objects.count() == 1
    assert Message.objects.get(whatsapp_message_id="wamid.from-new-number").conversation.contact_id == contact.pk


def test_a_group_message_is_kept_raw_and_not_filed_or_answered(deliver, account, without_flow):
    deliver(load("group_message", account))
    assert not Message.objects.exists() and not Conversation.objects.exists()
    assert without_flow == []
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEventStatus.PROCESSED and "120363025555555555" in event.body


def test_an_echo_from_the_business_app_is_shown_as_outbound_sent_from_the_phone(deliver, account, without_flow):
    deliver(load("text", account))
    deliver(load("smb_message_echo", account))
    echo = Message.objects.get(direction=Direction.OUTBOUND)
    assert (echo.direction, echo.sender_type, echo.status) == (Direction.OUTBOUND, SenderType.AGENT, "sent")
    assert echo.content["from_phone"] is True and echo.sender is None
    assert echo.conversation.contact.wa_id == "16505551234"
    assert Conversation.objects.count() == 1
    assert len(without_flow) == 1  # the customer's message only
    echo.conversation.refresh_from_db()
    assert echo.conversation.unread_count == 1
    assert echo.conversation.last_message_preview.startswith("Sent from the WhatsApp Business app")


def test_marketing_opt_out_and_back_in_are_recorded_on_the_contact(deliver, account):
    deliver(load("user_preferences_stop", account))
    contact = Contact.objects.get()
    assert contact_opted_out_of_marketing(contact)
    assert contact.marketing_opt_out_at.timestamp() == 1712596000
    deliver(load("user_preferences_resume", account))
    contact.refresh_from_db()
    assert not contact_opted_out_of_marketing(contact)
    deliver(load("user_preferences_stop", account))  # the older "stop", redelivered late
    contact.refresh_from_db()
    assert not contact_opted_out_of_marketing(contact)


def test_every_fixture_parses_to_something_or_to_a_known_nothing():
    """Each message-level fixture yields the update its kind should (a contract for the parser)."""
    kinds = {
        "username_only": parsing.InboundMessage,
        "edit": parsing.InboundMessage,
        "revoke": parsing.InboundMessage,
        "smb_message_echo": parsing.InboundMessage,
        "user_preferences_stop": parsing.PreferenceUpdate,
    }
    for name, kind in kinds.items():
        [update] = list(parsing.iter_updates(fixture(name)))
        assert isinstance(update, kind), name


def test_a_reaction_echoed_from_the_business_app_is_the_businesss(deliver, account, without_flow):
    deliver(load("text", account))
    echo = load("smb_message_echo", account)
    sent = echo["entry"][0]["changes"][0]["value"]["message_echoes"][0]
    sent.update(type="reaction", id="wamid.echoed-reaction", reaction={"message_id": TEXT_WAMID, "emoji": "🙏"})
    del sent["text"]
    deliver(echo)
    message = Message.objects.get()
    assert [(r["emoji"], r["by"]) for r in message.reactions] == [("🙏", "agent")]
