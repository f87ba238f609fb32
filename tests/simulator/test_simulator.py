"""Outbound sending and the Cloud API simulator over real HTTP (the app in pytest-django's live
server), plus the phone page's socket. Celery tasks run inline here."""

from datetime import timedelta

import httpx
import pytest
from channels.testing import WebsocketCommunicator
from django.core.files.storage import default_storage
from django.utils import timezone

from conversations import services as conversation_services
from conversations.models import Attachment, Direction, MediaStatus, Message, MessageStatus, MessageType
from pytake.celery import eager_retries
from pytake.errors import Conflict, NotFound
from simulator import services as simulator
from simulator.models import SimDirection, SimulatedMessage, SimulatorFault
from simulator.routing import websocket_urlpatterns
from tests import factories
from tests.simulator.support import PAGE_ORIGIN, wait_until
from tests.whatsapp.support import eager_celery  # noqa: F401 (fixture)
from whatsapp.channel import typing_indicator_send
from whatsapp.client import http_client_close

# The WhatsApp layer alone: the bot and queue are tested elsewhere (and together in test_whatsapp_flow).
pytestmark = pytest.mark.usefixtures("without_flow")

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x9a\xa0\xf1\x00\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.fixture
def account(tenant):
    return factories.WhatsAppAccountFactory(tenant=tenant)


@pytest.fixture
def conversation(tenant, account):
    return factories.ConversationFactory(
        tenant=tenant, whatsapp_account=account, last_customer_message_at=timezone.now() - timedelta(minutes=5)
    )


def _send(api_for, user, conversation, text="Your order ships today.", client_id=None):
    body = {"text": text} | ({"client_id": client_id} if client_id else {})
    return api_for(user).post(f"/api/conversations/{conversation.pk}/messages/", body, format="json")


def _arm(base_url: str, kind: str, count: int = 1):
    response = httpx.post(f"{base_url}/simulator/faults", json={"kind": kind, "count": count}, timeout=10)
    assert response.status_code == 201, response.text


# --- Sending -----------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_agent_reply_reaches_the_phone_and_ticks_go_sent_delivered_read(sim, api_for, supervisor, conversation):
    response = _send(api_for, supervisor, conversation)
    assert response.status_code == 201, response.content
    message = Message.objects.get(pk=response.json()["id"])
    assert message.whatsapp_message_id and message.whatsapp_message_id.startswith("wamid.")
    on_phone = SimulatedMessage.objects.get(wamid=message.whatsapp_message_id)
    assert on_phone.direction == SimDirection.TO_CUSTOMER
    assert on_phone.wa_id == conversation.contact.wa_id
    assert on_phone.body == {"body": "Your order ships today.", "preview_url": False}

    def read():
        message.refresh_from_db()
        return message.status == MessageStatus.READ

    wait_until(read, what="status read via signed webhooks")
    # Meta's timestamps have whole seconds; the API answer gave sent_at to the microsecond.
    assert int(message.sent_at.timestamp()) <= message.delivered_at.timestamp() <= message.read_at.timestamp()


@pytest.mark.django_db(transaction=True)
def test_a_500_is_retried_and_the_message_still_goes(sim, api_for, supervisor, conversation):
    _arm(sim, "server_error", count=2)
    response = _send(api_for, supervisor, conversation)
    message = Message.objects.get(pk=response.json()["id"])
    assert message.whatsapp_message_id
    # "Sent" only once Meta says so, by its status webhook.
    wait_until(
        lambda: Message.objects.get(pk=message.pk).status
        in (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ),
        what="Meta's sent status",
    )
    assert not SimulatorFault.objects.exists()  # both failures were consumed by retries
    assert SimulatedMessage.objects.filter(direction=SimDirection.TO_CUSTOMER).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_send_whose_answer_is_lost_reaches_the_phone_once(sim, api_for, supervisor, conversation, settings):
    """Meta sends the message but its answer never reaches PyTake (the client times out): the
    Cloud API has no idempotency key, so sending again would put it on the phone twice. The
    "sent" status names the message (``biz_opaque_callback_data``) and gives it its wamid; the
    retry finds it sent."""
    settings.WHATSAPP_HTTP_TIMEOUT = 1.0
    http_client_close()  # the client takes its timeout when it is made
    _arm(sim, "answer_lost")
    response = _send(api_for, supervisor, conversation)
    assert response.status_code == 201, response.content
    on_phone = SimulatedMessage.objects.get(direction=SimDirection.TO_CUSTOMER)
    assert on_phone.callback_data == f"pytake:{response.json()['id']}"
    message = Message.objects.get(pk=response.json()["id"])

    def read():
        message.refresh_from_db()
        return message.status == MessageStatus.READ

    wait_until(read, what="status read via signed webhooks")
    assert message.whatsapp_message_id == on_phone.wamid
    # Tasks run inline here, as in the embedded default: the retry still waits its countdown
    # (WHATSAPP_SEND_UNCONFIRMED_SECONDS), however long the status took to come.
    assert eager_retries.pending() == 1
    eager_retries.run_due_now()
    assert eager_retries.wait_idle(30)
    assert SimulatedMessage.objects.filter(direction=SimDirection.TO_CUSTOMER).count() == 1
    message.refresh_from_db()
    assert message.status == MessageStatus.READ
    assert not SimulatorFault.objects.exists()


def test_a_lost_answer_waits_for_its_status_before_a_retry_and_a_refused_connection_does_not(
    settings, meta_unreachable
):
    """Only a failure to connect proves a request never reached Meta; after a read timeout the
    retry waits WHATSAPP_SEND_UNCONFIRMED_SECONDS, for the status that would name the message."""
    from whatsapp.client import GraphClient, GraphError
    from whatsapp.tasks import send_retry_delay

    settings.WHATSAPP_SEND_UNCONFIRMED_SECONDS = 45
    settings.WHATSAPP_HTTP_TIMEOUT = 1.0
    http_client_close()
    refused = GraphClient(phone_number_id="1", access_token="t", base_url=meta_unreachable)
    with pytest.raises(GraphError) as caught:
        refused.send(to="1", kind="text", content={"body": "hi"})
    http_client_close()
    assert caught.value.transient and not caught.value.maybe_sent
    assert send_retry_delay(caught.value, 0) <= 2.0
    lost = GraphError(0, None, "ReadTimeout: timed out", transient=True, maybe_sent=True)
    assert all(45 <= send_retry_delay(lost, retries) <= 300 for retries in range(6))


@pytest.mark.django_db(transaction=True)
def test_500_until_retries_run_out_fails_the_message(sim, api_for, supervisor, conversation):
    _arm(sim, "server_error", count=50)
    response = _send(api_for, supervisor, conversation)
    message = Message.objects.get(pk=response.json()["id"])
    assert message.status == MessageStatus.FAILED
    assert message.error_code == 2
    assert SimulatedMessage.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_131047_fails_the_message_with_metas_code_and_title_by_webhook(sim, api_for, supervisor, conversation):
    _arm(sim, "outside_window")
    response = _send(api_for, supervisor, conversation)
    # As Meta does: accepted (a wamid), then a failed status.
    message = wait_until(
        lambda: Message.objects.filter(pk=response.json()["id"], status=MessageStatus.FAILED).first(),
        what="the failed status",
    )
    assert message.whatsapp_message_id
    assert message.error_code == 131047
    assert message.error_title.startswith("Re-engagement message")
    assert "template" in message.error_title
    detail = api_for(supervisor).get(f"/api/conversations/{conversation.pk}/messages/").json()["results"][0]
    assert detail["status"] == "failed"


@pytest.mark.django_db(transaction=True)
def test_free_text_outside_the_window_is_refused_before_sending(sim, api_for, supervisor, conversation):
    conversation.last_customer_message_at = timezone.now() - timedelta(hours=25)
    conversation.save()
    response = _send(api_for, supervisor, conversation)
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "outside_window"
    assert "template" in body["message"]
    assert Message.objects.count() == 0
    assert SimulatedMessage.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_template_media_and_reaction_are_sent_in_the_cloud_api_shape(sim, supervisor, conversation):
    conversation.last_customer_message_at = timezone.now() - timedelta(hours=30)
    conversation.save()
    template, _ = conversation_services.message_create_outbound(
        user=supervisor,
        conversation_id=conversation.pk,
        message_type=MessageType.TEMPLATE,
        content={"name": "welcome_back", "language": "pt_BR", "components": []},
    )
    template.refresh_from_db()
    assert template.whatsapp_message_id  # accepted by the Graph API; "sent" comes by webhook
    assert SimulatedMessage.objects.get(wamid=template.whatsapp_message_id).body == {
        "name": "welcome_back",
        "language": {"code": "pt_BR"},
    }
    with pytest.raises(Conflict):  # outside the window only templates go
        conversation_services.message_create_outbound(
            user=supervisor,
            conversation_id=conversation.pk,
            message_type=MessageType.IMAGE,
            content={"link": "https://example.com/a.png"},
        )
    conversation.last_customer_message_at = timezone.now()
    conversation.save()
    image, _ = conversation_services.message_create_outbound(
        user=supervisor,
        conversation_id=conversation.pk,
        message_type=MessageType.IMAGE,
        content={"link": "https://example.com/a.png", "caption": "Here"},
    )
    reaction, _ = conversation_services.message_create_outbound(
        user=supervisor,
        conversation_id=conversation.pk,
        message_type=MessageType.REACTION,
        content={"message_id": "wamid.customer.1", "emoji": "\u2764\ufe0f"},
    )
    image.refresh_from_db()
    reaction.refresh_from_db()
    assert SimulatedMessage.objects.get(wamid=image.whatsapp_message_id).body == {
        "link": "https://example.com/a.png",
        "caption": "Here",
    }
    assert SimulatedMessage.objects.get(wamid=reaction.whatsapp_message_id).type == "reaction"


@pytest.mark.django_db
def test_outbound_service_is_tenant_scoped(supervisor, foreign_admin, conversation, agent, agent2):
    with pytest.raises(NotFound):
        conversation_services.message_create_outbound(
            user=foreign_admin,
            conversation_id=conversation.pk,
            message_type=MessageType.TEMPLATE,
            content={"name": "x", "language": "en"},
        )
    conversation.assignee = agent2
    conversation.save()
    with pytest.raises(NotFound):  # another agent's conversation
        conversation_services.message_create_outbound(
            user=agent,
            conversation_id=conversation.pk,
            message_type=MessageType.TEMPLATE,
            content={"name": "x", "language": "en"},
        )
    assert Message.objects.count() == 0


# --- The phone: inbound, media, read ---------------------------------------------------------------


@pytest.fixture
def phone(sim):
    """A browser on the phone page (its CSRF cookie included)."""
    client = httpx.Client(base_url=sim, timeout=10)
    page = client.get("/simulator/phone/")
    assert page.status_code == 200
    assert "WhatsApp simulator" in page.text
    client.headers["X-CSRFToken"] = client.cookies["csrftoken"]
    yield client
    client.close()


@pytest.mark.django_db(transaction=True)
def test_phone_text_becomes_an_inbound_message(phone, account):
    response = phone.post(
        "/simulator/phone/api/send",
        data={"phone_number_id": account.phone_number_id, "wa_id": "5511977770000", "name": "Rita", "text": "Oi!"},
    )
    assert response.status_code == 202, response.text
    message = wait_until(
        lambda: Message.objects.filter(
            direction=Direction.INBOUND, conversation__contact__wa_id="5511977770000"
        ).first(),
        what="inbound message from the phone",
    )
    assert message.text == "Oi!"
    assert message.whatsapp_message_id == response.json()["wamid"]
    assert message.conversation.contact.profile_name == "Rita"
    assert message.conversation.tenant_id == account.tenant_id
    history = phone.get(
        "/simulator/phone/api/messages", params={"phone_number_id": account.phone_number_id, "wa_id": "5511977770000"}
    ).json()["results"]
    assert [m["body"] for m in history] == [{"body": "Oi!"}]


@pytest.mark.django_db(transaction=True)
def test_phone_image_is_downloaded_into_storage(phone, account):
    response = phone.post(
        "/simulator/phone/api/send",
        data={"phone_number_id": account.phone_number_id, "wa_id": "5511977770001", "name": "Rui", "text": "look"},
        files={"file": ("photo.png", PNG, "image/png")},
    )
    assert response.status_code == 202, response.text

    def downloaded():
        m = Message.objects.filter(type=MessageType.IMAGE).select_related("attachment").first()
        return m if m and m.attachment.status == MediaStatus.READY else None

    message = wait_until(downloaded, what="media downloaded")
    assert message.content["caption"] == "look"
    with default_storage.open(message.attachment.file.name, "rb") as handle:
        assert handle.read() == PNG
    assert message.attachment.mime_type == "image/png"


@pytest.mark.django_db(transaction=True)
def test_agent_reading_marks_the_customers_messages_read_on_the_phone(phone, account, supervisor, api_for):
    phone.post(
        "/simulator/phone/api/send",
        data={"phone_number_id": account.phone_number_id, "wa_id": "5511977770002", "name": "Lia", "text": "hello"},
    )
    message = wait_until(lambda: Message.objects.filter(direction=Direction.INBOUND).first(), what="inbound")
    response = api_for(supervisor).post(f"/api/conversations/{message.conversation_id}/read/")
    assert response.status_code == 200
    wait_until(
        lambda: SimulatedMessage.objects.get(wamid=message.whatsapp_message_id).status == "read",
        what="blue ticks on the phone",
    )


@pytest.mark.django_db(transaction=True)
def test_media_download_fails_cleanly_for_a_missing_media_id(sim, account, conversation):
    message = factories.MessageFactory(
        conversation=conversation,
        type=MessageType.IMAGE,
        whatsapp_account=account,
        whatsapp_message_id="wamid.nomedia",
        content={"media": {"id": "424242"}},
    )
    Attachment.objects.create(tenant=conversation.tenant, message=message, remote_id="424242")
    from whatsapp.tasks import download_media

    download_media.delay(message.pk)
    attachment = Attachment.objects.get(message=message)
    assert attachment.status == MediaStatus.FAILED  # the message stays, its file says why
    assert "does not exist" in attachment.error


# --- The Graph API's own checks -----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_simulator_checks_the_token_and_the_number_like_meta(sim, account):
    url = f"{sim}/simulator/graph/v21.0/{account.phone_number_id}/messages"
    body = {"messaging_product": "whatsapp", "to": "5511999990000", "type": "text", "text": {"body": "hi"}}
    missing = httpx.post(url, json=body, timeout=10)
    assert missing.status_code == 401 and missing.json()["error"]["code"] == 190
    wrong = httpx.post(url, json=body, headers={"Authorization": "Bearer nope"}, timeout=10)
    assert wrong.status_code == 401
    unknown = httpx.post(
        f"{sim}/simulator/graph/v21.0/999/messages", json=body, headers={"Authorization": "Bearer x"}, timeout=10
    )
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == 100
    empty = httpx.post(
        url,
        json=body | {"text": {"body": " "}},
        headers={"Authorization": f"Bearer {account.access_token}"},
        timeout=10,
    )
    assert empty.status_code == 400


# --- Typing indicator ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_typing_indicator_is_rate_limited_per_conversation(conversation, account, monkeypatch):
    from whatsapp import tasks

    calls = []
    monkeypatch.setattr(tasks, "typing_indicator_enqueue", lambda **kw: calls.append(kw))
    factories.MessageFactory(conversation=conversation, whatsapp_account=account, whatsapp_message_id="wamid.in.1")
    assert typing_indicator_send(conversation_id=conversation.pk) is True
    assert typing_indicator_send(conversation_id=conversation.pk) is False
    assert calls == [{"account_id": account.pk, "wamid": "wamid.in.1"}]
    other = factories.ConversationFactory(tenant=conversation.tenant, whatsapp_account=account)
    assert typing_indicator_send(conversation_id=other.pk) is False  # nothing to refer to yet
    assert len(calls) == 1


# --- The phone page socket ----------------------------------------------------------------------------


def _app():
    from channels.routing import URLRouter

    return URLRouter(websocket_urlpatterns)


@pytest.mark.django_db
async def test_phone_socket_receives_frames_for_its_customer_only():
    mine = WebsocketCommunicator(_app(), "/ws/simulator/phone/?phone_number_id=100&wa_id=5511", headers=[PAGE_ORIGIN])
    other = WebsocketCommunicator(_app(), "/ws/simulator/phone/?phone_number_id=100&wa_id=5522", headers=[PAGE_ORIGIN])
    assert (await mine.connect())[0]
    assert (await other.connect())[0]
    from asgiref.sync import sync_to_async

    await sync_to_async(simulator.publish)("100", "5511", "typing", {"seconds": 25})
    assert await mine.receive_json_from(timeout=2) == {"type": "typing", "data": {"seconds": 25}}
    assert await other.receive_nothing(timeout=0.2)
    await mine.disconnect()
    await other.disconnect()


@pytest.mark.django_db
async def test_phone_socket_refuses_bad_parameters():
    bad = WebsocketCommunicator(_app(), "/ws/simulator/phone/?phone_number_id=abc&wa_id=1", headers=[PAGE_ORIGIN])
    connected, code = await bad.connect()
    assert not connected and code == 4003
