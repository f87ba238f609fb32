"""Limits, versions and errors of the whole number: Meta's 3 MB deliveries are taken, the Graph
API version is a current one, an expired token (190) or a policy block (368) stops the number
(messages wait, the admins hear of it live, sending resumes when the block is lifted), the spam
rate limit (131048) is not retried at once."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from conversations import channels
from conversations.models import Direction, Message, MessageStatus, SenderType
from realtime.models import Event
from tests import factories
from tests.whatsapp.support import eager_celery, fixture, post_webhook, status_payload  # noqa: F401 (fixture)
from whatsapp import services, tasks
from whatsapp.client import GraphClient, GraphError, Sent
from whatsapp.models import WebhookEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(tenant):
    return factories.WhatsAppAccountFactory(tenant=tenant)


# --- Body limit and version -----------------------------------------------------------------------


def _padded(account, size: int) -> bytes:
    """A text webhook padded (with a long text) to about ``size`` bytes."""
    payload = fixture("text", phone_number_id=account.phone_number_id)
    base = len(json.dumps(payload).encode())
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"] = "x" * max(0, size - base)
    return json.dumps(payload).encode()


def test_a_delivery_near_metas_3_mb_is_taken(client, account, without_flow):
    body = _padded(account, 2_900_000)
    assert len(body) > 2 * 1024 * 1024  # over Django's form limit, which must not apply here
    response = post_webhook(client, body, account.app_secret)
    assert response.status_code == 200, response.content
    assert WebhookEvent.objects.get().body.encode() == body


def test_a_delivery_over_the_limit_is_413(client, account):
    response = post_webhook(client, _padded(account, 3 * 1024 * 1024 + 1000), account.app_secret)
    assert response.status_code == 413 and response.json()["code"] == "payload_too_large"
    assert not WebhookEvent.objects.exists()


def test_the_graph_api_version_is_a_current_one(settings):
    major = float(settings.WHATSAPP_GRAPH_API_VERSION.removeprefix("v"))
    assert major >= 22.0  # v21.0 is retired on 2027-01-21
    assert GraphClient(phone_number_id="1", access_token="t", base_url="https://graph.test").root == (
        f"https://graph.test/{settings.WHATSAPP_GRAPH_API_VERSION}"
    )


# --- Errors of the whole number -------------------------------------------------------------------


class RecordingChannel:
    def __init__(self) -> None:
        self.sent: list[int] = []

    def send(self, *, message_id: int) -> None:
        self.sent.append(message_id)

    def __getattr__(self, name):  # the rest of the port: nothing to do here
        return lambda **kwargs: None


@pytest.fixture
def conversation(tenant, account):
    return factories.ConversationFactory(
        tenant=tenant, whatsapp_account=account, last_customer_message_at=timezone.now() - timedelta(minutes=1)
    )


def _pending(conversation, text="Olá"):
    return factories.MessageFactory(
        conversation=conversation,
        direction=Direction.OUTBOUND,
        sender_type=SenderType.AGENT,
        status=MessageStatus.PENDING,
        content={"text": text},
    )


@pytest.mark.usefixtures("eager_celery")
@pytest.mark.parametrize(("code", "title"), [(190, "Error validating access token"), (368, "Temporarily blocked")])
def test_an_account_error_stops_the_number_and_the_messages_wait(
    conversation, account, admin_user, agent, foreign_admin, monkeypatch, code, title
):
    calls: list[int] = []

    def refused(client, message, contact):
        calls.append(message.pk)
        raise GraphError(401 if code == 190 else 400, code, title)

    monkeypatch.setattr(services, "_send_one", refused)
    first, second = _pending(conversation, "one"), _pending(conversation, "two")
    tasks.send_message.apply((first.pk,))
    account.refresh_from_db()
    assert account.sending_blocked_at is not None and account.sending_blocked_code == code
    first.refresh_from_db()
    assert first.status == MessageStatus.PENDING and first.error_code is None  # waits, not failed

    # The admins hear of it live; nobody else.
    [alert] = Event.objects.filter(type="account.alert")
    assert alert.user_id == admin_user.pk and alert.audience == "user"
    assert alert.data["blocked"] is True and alert.data["code"] == code

    # Nothing else is sent into the block, and the sweeper neither resends nor fails them.
    tasks.send_message.apply((second.pk,))
    assert calls == [first.pk]
    old = timezone.now() - timedelta(days=2)
    Message.objects.filter(pk__in=[first.pk, second.pk]).update(created_at=old)
    assert tasks.messages_send_requeue_stale(older_than_seconds=60) == (0, 0)
    assert set(Message.objects.filter(pk__in=[first.pk, second.pk]).values_list("status", flat=True)) == {"pending"}


def test_lifting_the_block_sends_what_waited_and_tells_the_admins(
    conversation, account, admin_user, django_capture_on_commit_callbacks
):
    fake = RecordingChannel()
    previous = channels.backend_for("whatsapp")
    channels.register("whatsapp", fake)
    try:
        waiting = [_pending(conversation).pk, _pending(conversation).pk]
        services.account_health.account_sending_block(account_id=account.pk, code=368, title="Temporarily blocked")
        account.refresh_from_db()
        with django_capture_on_commit_callbacks(execute=True):
            account.sending_blocked_at = None  # what the admin does in Django admin
            account.save()
    finally:
        channels.register("whatsapp", previous)
    assert fake.sent == waiting
    account.refresh_from_db()
    assert (account.sending_blocked_code, account.sending_blocked_reason) == (None, "")
    alerts = list(Event.objects.filter(type="account.alert").order_by("id"))
    assert [a.data["blocked"] for a in alerts] == [True, False]


def test_a_new_access_token_lifts_an_expired_token_block(conversation, account, admin_user):
    services.account_health.account_sending_block(account_id=account.pk, code=190, title="Token expired")
    account.refresh_from_db()
    account.access_token = "EAAG-a-fresh-token"
    account.save()
    account.refresh_from_db()
    assert account.sending_blocked_at is None


def test_the_spam_rate_limit_is_not_retried_at_once(settings):
    settings.WHATSAPP_SPAM_LIMIT_RETRY_SECONDS = 600
    error = GraphError(400, 131048, "Spam rate limit hit", transient=True)
    assert all(tasks.send_retry_delay(error, retries) >= 600 for retries in range(5))
    ordinary = GraphError(503, 131000, "Something went wrong", transient=True)
    assert tasks.send_retry_delay(ordinary, 0) <= 2


# --- "Sent" is Meta's word ------------------------------------------------------------------------


@pytest.mark.usefixtures("eager_celery")
def test_a_message_the_api_accepted_is_not_sent_until_meta_says_so(
    client, conversation, account, monkeypatch, django_capture_on_commit_callbacks
):
    message = _pending(conversation)
    monkeypatch.setattr(services, "_send_one", lambda client, message, contact: Sent(wamid="wamid.accepted"))
    accepted = services.message_send(message_id=message.pk)
    assert (accepted.status, accepted.whatsapp_message_id, accepted.sent_at) == ("pending", "wamid.accepted", None)
    assert services.message_send(message_id=message.pk).whatsapp_message_id == "wamid.accepted"  # not sent again
    payload = status_payload(account.phone_number_id, wamid="wamid.accepted", status="sent", ts=1712595600)
    with django_capture_on_commit_callbacks(execute=True):
        assert post_webhook(client, payload, account.app_secret).status_code == 200
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT and int(message.sent_at.timestamp()) == 1712595600
