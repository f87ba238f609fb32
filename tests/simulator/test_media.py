"""Media both ways on WhatsApp, with the Cloud API simulator playing Meta over real HTTP: every
inbound kind (image, video, audio, voice note, document, static and animated sticker) downloaded
the way Meta serves it (``GET /{media-id}``, then a short-lived URL that needs the bearer token),
its sha256 checked, its limit enforced while streaming; every outbound kind uploaded to
``/{phone-number-id}/media`` and sent by id; Meta's errors leave the message with its media
``failed`` and the reason."""

from datetime import timedelta

import httpx
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from conversations.models import Attachment, Direction, MediaStatus, Message, MessageStatus, MessageType
from realtime.models import Event
from simulator.models import SimDirection, SimulatedMedia, SimulatedMessage
from tests import factories
from tests import media_samples as samples
from tests.simulator.support import wait_until
from tests.whatsapp.support import eager_celery  # noqa: F401 (fixture)

pytestmark = [pytest.mark.usefixtures("without_flow"), pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def account(tenant):
    return factories.WhatsAppAccountFactory(tenant=tenant)


@pytest.fixture
def phone(sim):
    client = httpx.Client(base_url=sim, timeout=30)
    client.get("/simulator/phone/")
    client.headers["X-CSRFToken"] = client.cookies["csrftoken"]
    yield client
    client.close()


def phone_sends(phone, account, wa_id, name, data, mime, text="", voice=False):
    fields = {"phone_number_id": account.phone_number_id, "wa_id": wa_id, "name": "Ana", "text": text}
    if voice:
        fields["voice"] = "1"
    response = phone.post("/simulator/phone/api/send", data=fields, files={"file": (name, data, mime)})
    assert response.status_code == 202, response.text
    return response.json()


def settled(wamid):
    def check():
        message = Message.objects.filter(whatsapp_message_id=wamid).select_related("attachment").first()
        if message is None:
            return None
        return message if message.attachment.status != MediaStatus.PENDING else None

    return wait_until(check, what=f"media of {wamid} settled")


INBOUND = [
    ("photo.jpg", samples.JPEG, "image/jpeg", False, MessageType.IMAGE, "Olha a foto"),
    ("clip.mp4", samples.MP4, "video/mp4", False, MessageType.VIDEO, "O vídeo"),
    ("song.mp3", samples.MP3, "audio/mpeg", False, MessageType.AUDIO, ""),
    ("voice.ogg", samples.OGG_OPUS, "audio/ogg", True, MessageType.AUDIO, ""),
    ("invoice.pdf", samples.PDF, "application/pdf", False, MessageType.DOCUMENT, "A nota"),
    ("sticker.webp", samples.WEBP, "image/webp", False, MessageType.STICKER, ""),
    ("moving.webp", samples.WEBP_ANIMATED, "image/webp", False, MessageType.STICKER, ""),
]


@pytest.mark.parametrize(("name", "data", "mime", "voice", "kind", "caption"), INBOUND, ids=[i[0] for i in INBOUND])
def test_every_inbound_kind_is_downloaded_checked_and_served(
    phone, account, supervisor, api_for, name, data, mime, voice, kind, caption
):
    sent = phone_sends(phone, account, "5511988880001", name, data, mime, text=caption, voice=voice)
    message = settled(sent["wamid"])
    assert message.type == kind
    attachment = message.attachment
    assert attachment.status == MediaStatus.READY, attachment.error
    assert attachment.mime_type == mime  # from the content, checked
    assert attachment.size == len(data)
    assert attachment.voice is voice
    assert attachment.animated is (name == "moving.webp")
    assert attachment.filename == (name if kind == MessageType.DOCUMENT else "")
    with default_storage.open(attachment.file.name, "rb") as handle:
        assert handle.read() == data
    # The REST shape, and the live message.updated that replaced the placeholder.
    body = api_for(supervisor).get(f"/api/conversations/{message.conversation_id}/messages/").json()["results"][0]
    assert body["media"]["status"] == "ready"
    assert body["media"]["caption"] == caption
    assert body["media"]["sha256"] == attachment.sha256
    new = Event.objects.get(type="message.new", data__id=message.pk)
    assert new.data["media"]["status"] == "pending"
    updated = Event.objects.get(type="message.updated", data__id=message.pk)
    assert updated.data["media"]["status"] == "ready"
    assert updated.seq > new.seq
    file = api_for(supervisor).get(body["media"]["url"])
    assert b"".join(file.streaming_content) == data
    assert file["Content-Type"] == mime


def test_a_file_whose_sha256_does_not_match_fails_with_the_reason(phone, account):
    sent = phone_sends(phone, account, "5511988880002", "p.png", samples.PNG, "image/png")
    # Meta's copy changed after the webhook named its hash (or the hash was forged).
    media_id = SimulatedMessage.objects.get(wamid=sent["wamid"]).body["id"]
    wait_until(lambda: Message.objects.filter(whatsapp_message_id=sent["wamid"]).exists(), what="stored")
    message = settled(sent["wamid"])
    assert message.attachment.status == MediaStatus.READY  # the honest one went through
    media = SimulatedMedia.objects.get(media_id=media_id)
    media.file.save("swapped.png", ContentFile(samples.PNG + b"tampered"), save=True)
    Attachment.objects.filter(pk=message.attachment.pk).update(status=MediaStatus.FAILED, file="")
    from conversations import services

    services.attachment_update(message_id=message.pk, status=MediaStatus.PENDING)
    from whatsapp.tasks import download_media

    download_media.delay(message.pk)
    attachment = Attachment.objects.get(pk=message.attachment.pk)
    assert attachment.status == MediaStatus.FAILED
    assert "SHA-256" in attachment.error
    assert Message.objects.filter(pk=message.pk).exists()  # never a lost message


def test_a_file_over_the_limit_stops_while_streaming(phone, account, settings):
    settings.WHATSAPP_MEDIA_MAX_BYTES = 1000
    sent = phone_sends(phone, account, "5511988880003", "big.pdf", samples.PDF + b" " * 50_000, "application/pdf")
    message = settled(sent["wamid"])
    assert message.attachment.status == MediaStatus.FAILED
    assert "1000" in message.attachment.error
    assert not message.attachment.file


def test_meta_answering_an_error_leaves_the_media_failed_and_retryable(
    phone, account, supervisor, api_for, django_capture_on_commit_callbacks
):
    sent = phone_sends(phone, account, "5511988880004", "p.jpg", samples.JPEG, "image/jpeg")
    message = settled(sent["wamid"])
    media_id = message.attachment.remote_id
    # Meta has forgotten the file: GET /{media-id} answers an error.
    SimulatedMedia.objects.filter(media_id=media_id).update(media_id="gone")
    Attachment.objects.filter(pk=message.attachment.pk).update(status=MediaStatus.FAILED, file="")
    response = api_for(supervisor).post(f"/api/messages/{message.pk}/media/retry/")
    assert response.status_code == 202
    attachment = wait_until(
        lambda: Attachment.objects.filter(pk=message.attachment.pk, status=MediaStatus.FAILED).first(),
        what="retry failed again",
    )
    assert "does not exist" in attachment.error and "WhatsApp error 100" in attachment.error
    # Meta has it again: the next retry succeeds.
    SimulatedMedia.objects.filter(media_id="gone").update(media_id=media_id)
    assert api_for(supervisor).post(f"/api/messages/{message.pk}/media/retry/").status_code == 202
    wait_until(
        lambda: Attachment.objects.filter(pk=message.attachment.pk, status=MediaStatus.READY).exists(),
        what="retry succeeded",
    )


def test_the_media_url_needs_the_bearer_token_and_expires(phone, account, sim):
    sent = phone_sends(phone, account, "5511988880005", "p.png", samples.PNG, "image/png")
    media_id = SimulatedMessage.objects.get(wamid=sent["wamid"]).body["id"]
    bearer = {"Authorization": f"Bearer {account.access_token}"}
    info = httpx.get(f"{sim}/simulator/graph/v21.0/{media_id}", headers=bearer).json()
    assert info["sha256"] and info["file_size"] == len(samples.PNG)
    assert httpx.get(info["url"]).status_code == 401  # no token
    assert httpx.get(info["url"], headers=bearer).content == samples.PNG
    stale = info["url"].split("?ts=")[0] + "?ts=1"
    assert httpx.get(stale, headers=bearer).status_code == 404


# --- Outbound ---------------------------------------------------------------------------------------

OUTBOUND = [
    ("photo.png", samples.PNG, "image/png", "image", "Seu pedido"),
    ("clip.mp4", samples.MP4, "video/mp4", "video", "Como montar"),
    ("voice.ogg", samples.OGG_OPUS, "audio/ogg", "audio", ""),
    ("manual.pdf", samples.PDF, "application/pdf", "document", "O manual"),
    ("sticker.webp", samples.WEBP, "image/webp", "sticker", ""),
]


@pytest.mark.parametrize(("name", "data", "mime", "kind", "caption"), OUTBOUND, ids=[o[0] for o in OUTBOUND])
def test_every_outbound_kind_is_uploaded_then_sent_by_id(
    sim, account, supervisor, api_for, tenant, name, data, mime, kind, caption
):
    conversation = factories.ConversationFactory(
        tenant=tenant, whatsapp_account=account, last_customer_message_at=timezone.now() - timedelta(minutes=1)
    )
    fields = {"file": ContentFile(data, name=name), "client_id": "up-1"} | ({"text": caption} if caption else {})
    response = api_for(supervisor).post(f"/api/conversations/{conversation.pk}/messages/", fields, format="multipart")
    assert response.status_code == 201, response.json()
    message = wait_until(
        lambda: Message.objects.filter(pk=response.json()["id"]).exclude(status=MessageStatus.PENDING).first(),
        what="sent",
    )
    assert message.status != MessageStatus.FAILED, message.error_title
    on_phone = SimulatedMessage.objects.get(wamid=message.whatsapp_message_id)
    assert on_phone.direction == SimDirection.TO_CUSTOMER
    assert on_phone.type == kind
    media_id = on_phone.body["id"]
    assert "link" not in on_phone.body
    assert on_phone.body.get("caption", "") == caption
    if kind == "document":
        assert on_phone.body["filename"] == name
    uploaded = SimulatedMedia.objects.get(media_id=media_id)
    with uploaded.file.open("rb") as handle:
        assert handle.read() == data
    assert uploaded.mime_type == mime
    assert Attachment.objects.get(message=message).remote_id == media_id


def test_an_outbound_file_outside_the_window_is_refused_and_not_stored(sim, account, supervisor, api_for, tenant):
    conversation = factories.ConversationFactory(
        tenant=tenant, whatsapp_account=account, last_customer_message_at=timezone.now() - timedelta(hours=30)
    )
    response = api_for(supervisor).post(
        f"/api/conversations/{conversation.pk}/messages/",
        {"file": ContentFile(samples.PNG, name="p.png")},
        format="multipart",
    )
    assert (response.status_code, response.json()["code"]) == (409, "outside_window")
    assert Attachment.objects.count() == 0
    assert not SimulatedMedia.objects.exists()
    assert Message.objects.filter(direction=Direction.OUTBOUND).count() == 0


def test_storage_trouble_is_retried_then_reported_never_left_pending(phone, account, monkeypatch):
    from conversations import files

    attempts = []

    def broken(attachment, spooled):
        attempts.append(1)
        raise OSError("disk full")

    monkeypatch.setattr(files, "attachment_save_file", broken)
    sent = phone_sends(phone, account, "5511988880006", "p.png", samples.PNG, "image/png")
    message = settled(sent["wamid"])
    assert message.attachment.status == MediaStatus.FAILED
    assert message.attachment.error == "Not stored: OSError"
    assert len(attempts) > 1  # retried before giving up
