"""Outbound WhatsApp messages left ``pending`` (the broker was down when the reply was saved, or
the send task was lost) are sent by the beat sweeper ``whatsapp.requeue_stale_sends`` through the
Graph API (the built-in simulator over real HTTP), once, by their own tenant's number; after a
day they fail instead. Celery tasks run inline here."""

import logging
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from conversations import channels
from conversations.models import Channel, Direction, Message, MessageStatus, SenderType
from simulator.models import SimDirection, SimulatedMessage
from tests import factories
from tests.simulator.support import wait_until
from tests.whatsapp.support import eager_celery  # noqa: F401 (fixture)
from whatsapp import services
from whatsapp.client import GraphError, Sent
from whatsapp.tasks import requeue_stale_sends, send_message

STALE = timedelta(minutes=10)  # past the default grace (WHATSAPP_SEND_STALE_SECONDS = 120)


def sweep() -> dict[str, int]:
    """One beat run of the sweeper, in this process. (``.get()`` refuses to run once an in-process
    worker of an earlier test has marked the process as a worker.)"""
    result = requeue_stale_sends.apply()
    assert result.successful(), result.traceback
    return result.result  # type: ignore[no-any-return]


def _conversation(tenant, account=None, **fields):
    account = account or factories.WhatsAppAccountFactory(tenant=tenant)
    return factories.ConversationFactory(tenant=tenant, whatsapp_account=account, **fields)


def _reply(conversation, *, age: timedelta, text: str = "Your order ships today.", **fields) -> Message:
    """An agent's reply as the API saves it (pending), written ``age`` ago, never enqueued."""
    values = {
        "direction": Direction.OUTBOUND,
        "sender_type": SenderType.AGENT,
        "status": MessageStatus.PENDING,
        "whatsapp_account": conversation.whatsapp_account,
        "content": {"text": text},
        "created_at": timezone.now() - age,
    }
    return factories.MessageFactory(conversation=conversation, **(values | fields))


def test_the_sweeper_runs_every_minute_from_beat():
    entries = [e for e in django_settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "whatsapp.requeue_stale_sends"]
    assert entries == [{"task": "whatsapp.requeue_stale_sends", "schedule": 60.0}]
    assert django_settings.WHATSAPP_SEND_STALE_SECONDS == 120


@pytest.mark.django_db(transaction=True)
def test_a_reply_saved_while_the_broker_was_down_goes_out_after_the_grace(
    sim,
    api_for,
    supervisor,
    tenant,
    monkeypatch,
):
    conversation = _conversation(tenant)

    real = channels.backend_for(Channel.WHATSAPP)
    assert real is not None

    class BrokerDown:
        def __getattr__(self, name: str):  # the rest of the port as the real channel does it
            return getattr(real, name)

        def send(self, *, message_id: int) -> None:
            raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    channels.register(Channel.WHATSAPP, BrokerDown())
    try:
        response = api_for(supervisor).post(
            f"/api/conversations/{conversation.pk}/messages/", {"text": "Your order ships today."}, format="json"
        )
    finally:
        channels.register(Channel.WHATSAPP, real)  # the broker is back
    assert response.status_code == 201, response.content  # the reply is saved; the enqueue error only logged
    message = Message.objects.get(pk=response.json()["id"])
    assert message.status == MessageStatus.PENDING and message.whatsapp_message_id is None

    assert sweep() == {"requeued": 0, "failed": 0}  # within the grace: its task may come
    assert not SimulatedMessage.objects.exists()

    Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - STALE)
    assert sweep() == {"requeued": 1, "failed": 0}
    message.refresh_from_db()
    assert message.whatsapp_message_id  # accepted; "sent" is for Meta's status webhook to say
    wait_until(lambda: Message.objects.get(pk=message.pk).status != MessageStatus.PENDING, what="Meta's sent status")
    on_phone = SimulatedMessage.objects.get(direction=SimDirection.TO_CUSTOMER)
    assert on_phone.wamid == message.whatsapp_message_id
    assert on_phone.phone_number_id == conversation.whatsapp_account.phone_number_id
    assert on_phone.wa_id == conversation.contact.wa_id
    assert on_phone.body == {"body": "Your order ships today.", "preview_url": False}

    assert sweep() == {"requeued": 0, "failed": 0}  # sent: never again
    assert SimulatedMessage.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_only_stale_unsent_whatsapp_replies_are_sent_again(sim, tenant):
    conversation = _conversation(tenant)
    stale = _reply(conversation, age=STALE, text="stale")
    fresh = _reply(conversation, age=timedelta(seconds=30), text="within the grace")
    note = _reply(conversation, age=STALE, text="internal note", internal=True)
    sent = _reply(conversation, age=STALE, text="sent", status=MessageStatus.SENT, whatsapp_message_id="wamid.sent")
    # Accepted by Meta (wamid saved) but its 'sent' status not applied yet: not to be sent again.
    accepted = _reply(conversation, age=STALE, text="accepted", whatsapp_message_id="wamid.accepted")
    failed = _reply(conversation, age=STALE, text="failed", status=MessageStatus.FAILED)
    inbound = _reply(conversation, age=STALE, text="inbound", direction=Direction.INBOUND)
    webchat = _conversation(tenant, channel=Channel.WEBCHAT)
    on_webchat = _reply(webchat, age=STALE, text="web chat", whatsapp_account=None)
    before = {m.pk: m.status for m in (fresh, note, sent, accepted, failed, inbound, on_webchat)}

    assert sweep() == {"requeued": 1, "failed": 0}

    assert [m.body["body"] for m in SimulatedMessage.objects.filter(direction=SimDirection.TO_CUSTOMER)] == ["stale"]
    stale.refresh_from_db()
    assert stale.whatsapp_message_id
    wait_until(lambda: Message.objects.get(pk=stale.pk).status != MessageStatus.PENDING, what="Meta's sent status")
    assert {m.pk: m.status for m in Message.objects.filter(pk__in=before)} == before
    assert Message.objects.get(pk=fresh.pk).whatsapp_message_id is None


@pytest.mark.django_db
def test_a_reply_pending_for_more_than_a_day_fails_instead_of_going_late(tenant, monkeypatch):
    conversation = _conversation(tenant)
    too_old = _reply(conversation, age=timedelta(hours=25), text="yesterday's answer")
    old = _reply(conversation, age=timedelta(hours=23), text="still worth sending")
    enqueued: list[int] = []
    monkeypatch.setattr("whatsapp.tasks.message_send_enqueue", lambda *, message_id: enqueued.append(message_id))

    assert sweep() == {"requeued": 1, "failed": 1}

    too_old.refresh_from_db()
    assert too_old.status == MessageStatus.FAILED
    assert too_old.error_title == services.SEND_GIVE_UP_TITLE and "24 hours" in too_old.error_title
    assert too_old.whatsapp_message_id is None
    assert enqueued == [old.pk]
    assert Message.objects.get(pk=old.pk).status == MessageStatus.PENDING
    assert sweep() == {"requeued": 1, "failed": 0}  # failed is final


@pytest.mark.django_db(transaction=True)
def test_each_reply_goes_out_through_its_own_tenants_number(
    sim,
    tenant,
    other_tenant,
    caplog,
):
    caplog.set_level(logging.DEBUG)
    mine = _conversation(tenant, factories.WhatsAppAccountFactory(tenant=tenant, access_token="EAAG-token-of-a"))
    theirs = _conversation(
        other_tenant, factories.WhatsAppAccountFactory(tenant=other_tenant, access_token="EAAG-token-of-b")
    )
    # Tenant B's reply is the older one: it goes first, as the sweeper goes oldest first.
    b = _reply(theirs, age=STALE + timedelta(minutes=1), text="for B's customer")
    a = _reply(mine, age=STALE, text="for A's customer")

    assert sweep() == {"requeued": 2, "failed": 0}

    # The simulator, like Meta, accepts a send only with the token of the number it is sent from.
    for message, conversation in ((a, mine), (b, theirs)):
        message.refresh_from_db()
        on_phone = SimulatedMessage.objects.get(wamid=message.whatsapp_message_id)
        assert on_phone.phone_number_id == conversation.whatsapp_account.phone_number_id
        assert on_phone.wa_id == conversation.contact.wa_id
        assert on_phone.body["body"] == message.text
    assert "EAAG-token-of-a" not in caplog.text and "EAAG-token-of-b" not in caplog.text


@pytest.mark.django_db
def test_a_message_being_sent_is_not_sent_or_failed_by_another_task_meanwhile(tenant, monkeypatch):
    """The sweeper can enqueue a message whose first task is still in its Graph API call (or in a
    retry's countdown). Both read "pending, no wamid"; only the one holding the claim may call
    Meta, or the customer gets the text twice."""
    message = _reply(_conversation(tenant), age=STALE)
    calls: list[int] = []

    def graph_send(client, message_to_send, to):
        calls.append(message_to_send.pk)
        if len(calls) == 1:
            # A second worker picks the same message up while this HTTP call is in flight ...
            services.message_send(message_id=message_to_send.pk)
            send_message.apply((message_to_send.pk,))
            # ... and a third gives it up after exhausting its retries.
            services.message_send_failed(
                message_id=message_to_send.pk, error=GraphError(500, 2, "Unexpected error", transient=True)
            )
        return Sent(wamid=f"wamid.claimed.{len(calls)}")

    monkeypatch.setattr(services, "_send_one", graph_send)
    sent = services.message_send(message_id=message.pk)

    assert calls == [message.pk]
    # Accepted by the Graph API: its wamid kept, "sent" only once Meta's status says so.
    assert sent is not None and sent.status == MessageStatus.PENDING and sent.whatsapp_message_id == "wamid.claimed.1"
    assert services.message_send(message_id=message.pk).whatsapp_message_id == "wamid.claimed.1"
    assert calls == [message.pk]  # idempotent afterwards too


@pytest.mark.django_db
def test_a_failed_attempt_releases_its_claim(tenant, monkeypatch):
    message = _reply(_conversation(tenant), age=STALE)
    answers: list[object] = [GraphError(503, 2, "Service unavailable", transient=True), Sent(wamid="wamid.second.try")]

    def graph_send(client, message_to_send, to):
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(services, "_send_one", graph_send)
    with pytest.raises(GraphError):
        services.message_send(message_id=message.pk)
    assert services.message_send(message_id=message.pk).whatsapp_message_id == "wamid.second.try"
    assert answers == []
