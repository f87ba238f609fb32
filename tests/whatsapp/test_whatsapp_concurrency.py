"""Concurrency on real PostgreSQL: several webhooks for one new contact processed at once."""

import json
import threading

import pytest
from django.db import connection

from conversations.models import Contact, Conversation, Message
from tests import factories
from tests.whatsapp.support import text_payload
from whatsapp import services
from whatsapp.models import WebhookEvent, WebhookEventStatus

# The WhatsApp layer alone: the bot and queue are tested elsewhere (and together in test_whatsapp_flow).
pytestmark = pytest.mark.usefixtures("without_flow")


def process_at_once(events: list[WebhookEvent]) -> None:
    """Process every stored delivery in its own thread, all released together; none may fail."""
    barrier = threading.Barrier(len(events))
    errors: list[BaseException] = []

    def work(event_id: int) -> None:
        try:
            barrier.wait(timeout=10)
            services.webhook_event_process(event_id=event_id)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(e.pk,)) for e in events]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert errors == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("contact_exists", [False, True], ids=["new-contact", "known-contact-no-conversation"])
def test_ten_concurrent_first_messages_make_one_contact_and_one_conversation(tenant, contact_exists):
    account = factories.WhatsAppAccountFactory(tenant=tenant)
    if contact_exists:  # e.g. added by an agent: only the per-contact lock prevents two conversations
        factories.ContactFactory(tenant=tenant, wa_id="5511955550000", profile_name="Customer")
    events = [
        WebhookEvent.objects.create(
            tenant=tenant,
            account=account,
            body=json.dumps(
                text_payload(
                    account.phone_number_id,
                    wa_id="5511955550000",
                    wamid=f"wamid.c{i}",
                    text=f"m{i}",
                    ts=1_700_000_000 + i,
                )
            ),
        )
        for i in range(10)
    ]
    process_at_once(events)
    assert Contact.objects.filter(tenant=tenant, wa_id="5511955550000").count() == 1
    conversation = Conversation.objects.get(tenant=tenant)
    assert Message.objects.filter(conversation=conversation).count() == 10
    conversation.refresh_from_db()
    assert conversation.unread_count == 10  # every increment kept under the lock
    assert conversation.last_message_preview == "m9"
    assert WebhookEvent.objects.filter(status=WebhookEventStatus.PROCESSED).count() == 10


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_message_processed_concurrently_is_stored_once(tenant):
    account = factories.WhatsAppAccountFactory(tenant=tenant)
    body = json.dumps(text_payload(account.phone_number_id, wa_id="5511955550001", wamid="wamid.same", text="hi"))
    events = [WebhookEvent.objects.create(tenant=tenant, account=account, body=body) for _ in range(6)]
    process_at_once(events)
    assert Message.objects.filter(whatsapp_message_id="wamid.same").count() == 1
    assert Conversation.objects.get(tenant=tenant).unread_count == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_messages_by_number_and_by_user_id_end_as_one_contact(tenant):
    """A customer known by number writes; at the same time deliveries name them by user id only
    (a username) and by both: whatever the order, one contact remains, with every message."""
    account = factories.WhatsAppAccountFactory(tenant=tenant)
    factories.ContactFactory(tenant=tenant, wa_id="5511955550009", profile_name="Customer")
    bodies = []
    for i in range(9):
        payload = text_payload(
            account.phone_number_id, wa_id="5511955550009", wamid=f"wamid.u{i}", text=f"u{i}", ts=1_700_000_000 + i
        )
        value = payload["entry"][0]["changes"][0]["value"]
        message, sender = value["messages"][0], value["contacts"][0]
        message["from_user_id"] = sender["user_id"] = "BR.900"
        if i % 3 == 0:  # username only: no number at all
            del message["from"], sender["wa_id"]
        elif i % 3 == 1:  # number only
            del message["from_user_id"], sender["user_id"]
        bodies.append(json.dumps(payload))
    events = [WebhookEvent.objects.create(tenant=tenant, account=account, body=body) for body in bodies]
    process_at_once(events)
    contact = Contact.objects.get(tenant=tenant)
    assert (contact.wa_id, contact.wa_user_id) == ("5511955550009", "BR.900")
    assert Message.objects.filter(conversation__contact=contact).count() == 9
    # A delivery by user id processed before any naming both starts that contact's own
    # conversation; the merge gives it to the one contact (conversations are not merged).
    assert set(Conversation.objects.filter(tenant=tenant).values_list("contact", flat=True)) == {contact.pk}
