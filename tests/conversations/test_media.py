"""Media messages in the domain: what a file is (sniffed, never believed), agents' uploads on
every kind, the limits and the lies, the audience rule on files, serving and links, the live
``message.updated``, retrying a failed download."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.base import ContentFile
from rest_framework.test import APIClient

from conversations import channels, services
from conversations.media import check_file, sniff
from conversations.models import Attachment, Channel, MediaStatus, Message, MessageType
from pytake.errors import InvalidInput
from realtime.models import Event
from tests import factories
from tests import media_samples as samples

pytestmark = pytest.mark.django_db


class Sent:
    """A channel backend that remembers what it was asked (registered, never patched in)."""

    def __init__(self) -> None:
        self.sent: list[int] = []
        self.fetched: list[int] = []

    def send(self, *, message_id: int) -> None:
        self.sent.append(message_id)

    def check_outbound(self, **_: Any) -> None:
        return None

    def reply_window_closes_at(self, **_: Any) -> None:
        return None

    def mark_read(self, **_: Any) -> None:
        return None

    def typing(self, **_: Any) -> None:
        return None

    def fetch_media(self, *, message_id: int) -> None:
        self.fetched.append(message_id)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


@pytest.fixture
def backend():
    previous = channels._backends.get(Channel.WHATSAPP)
    fake = Sent()
    channels.register(Channel.WHATSAPP, fake)
    yield fake
    if previous is not None:
        channels.register(Channel.WHATSAPP, previous)


@pytest.fixture
def conversation(tenant):
    return factories.ConversationFactory(tenant=tenant, channel=Channel.WHATSAPP)


def stored_files(root) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file()] if root.exists() else []


def upload(api: APIClient, conversation_id: int, name: str, data: bytes, content_type: str = "", **fields: Any):
    file = ContentFile(data, name=name)
    file.content_type = content_type  # type: ignore[attr-defined]
    return api.post(f"/api/conversations/{conversation_id}/messages/", {"file": file, **fields}, format="multipart")


# --- What a file is --------------------------------------------------------------------------------

KINDS = [
    ("photo.jpg", samples.JPEG, "image/jpeg", MessageType.IMAGE),
    ("photo.png", samples.PNG, "image/png", MessageType.IMAGE),
    ("sticker.webp", samples.WEBP, "image/webp", MessageType.STICKER),
    ("moving.webp", samples.WEBP_ANIMATED, "image/webp", MessageType.STICKER),
    ("clip.mp4", samples.MP4, "video/mp4", MessageType.VIDEO),
    ("clip.3gp", samples.GP3, "video/3gpp", MessageType.VIDEO),
    ("voice.ogg", samples.OGG_OPUS, "audio/ogg", MessageType.AUDIO),
    ("song.mp3", samples.MP3, "audio/mpeg", MessageType.AUDIO),
    ("note.m4a", samples.M4A, "audio/mp4", MessageType.AUDIO),
    ("memo.amr", samples.AMR, "audio/amr", MessageType.AUDIO),
    ("memo.aac", samples.AAC, "audio/aac", MessageType.AUDIO),
    ("invoice.pdf", samples.PDF, "application/pdf", MessageType.DOCUMENT),
    ("order.txt", samples.TEXT, "text/plain", MessageType.DOCUMENT),
]


@pytest.mark.parametrize(("name", "data", "mime", "kind"), KINDS, ids=[k[0] for k in KINDS])
def test_the_kind_comes_from_the_content(name, data, mime, kind):
    checked = check_file(head=data, size=len(data), filename=name)
    assert (checked.mime_type, checked.kind) == (mime, kind)
    assert checked.animated == (name == "moving.webp")
    assert checked.voice == (name == "voice.ogg")


LIES = [
    ("page.jpg", samples.HTML, "image/jpeg", "file_type_mismatch"),  # an HTML page named as a photo
    ("drawing.png", samples.SVG, "image/png", "file_type_mismatch"),
    ("photo.jpg", samples.PNG, "image/jpeg", "file_type_mismatch"),  # a PNG called a JPEG
    ("report.pdf", samples.JPEG, "application/pdf", "file_type_mismatch"),
    ("page.html", samples.HTML, "text/html", "unsupported_file_type"),
    ("drawing.svg", samples.SVG, "image/svg+xml", "file_type_mismatch"),
    ("notes.txt", samples.HTML, "text/plain", "file_type_mismatch"),  # markup is not plain text
    ("anim.gif", samples.GIF, "image/gif", "file_type_mismatch"),
    ("voice.ogg", samples.OGG_VORBIS, "audio/ogg", "unsupported_file_type"),  # WhatsApp takes Opus only
    ("empty.jpg", b"", "image/jpeg", "empty_file"),
]


@pytest.mark.parametrize(("name", "data", "declared", "code"), LIES, ids=[x[0] + "-" + x[3] for x in LIES])
def test_lies_and_unsupported_files_are_refused(name, data, declared, code):
    with pytest.raises(InvalidInput) as caught:
        check_file(head=data, size=len(data), filename=name, declared_type=declared)
    assert caught.value.code == code


def test_sniff_never_names_markup():
    for data in (samples.HTML, samples.SVG, b"<html><body>x</body></html>"):
        for name in ("a.txt", "a.jpg", "a", "a.html", "a.svg"):
            found = sniff(data, filename=name)
            assert found is None, (data, name, found)


@pytest.mark.parametrize(
    ("name", "data", "limit_text"),
    [
        ("big.jpg", samples.JPEG + b"\x00" * (5 * 1024 * 1024), "5 MB"),
        ("big.mp4", samples.MP4 + b"\x00" * (16 * 1024 * 1024), "16 MB"),
        ("big.webp", samples.WEBP + b"\x00" * (100 * 1024), "100 KB"),
        ("big-anim.webp", samples.WEBP_ANIMATED + b"\x00" * (500 * 1024), "500 KB"),
    ],
    # Named by the file: an id spelt from the bytes is megabytes long, in every report and in the
    # PYTEST_CURRENT_TEST variable each process started meanwhile inherits.
    ids=["big.jpg", "big.mp4", "big.webp", "big-anim.webp"],
)
def test_limits_per_kind_name_the_limit(name, data, limit_text):
    with pytest.raises(InvalidInput) as caught:
        check_file(head=data[:4096], size=len(data), filename=name)
    assert caught.value.code == "file_too_large"
    assert limit_text in caught.value.message


# --- Agents send files -----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "data", "mime", "kind"), KINDS, ids=[k[0] for k in KINDS])
def test_agent_uploads_each_kind(
    api_for, supervisor, conversation, backend, name, data, mime, kind, media_root, django_capture_on_commit_callbacks
):
    caption = {} if kind in (MessageType.AUDIO, MessageType.STICKER) else {"text": "Segue o arquivo"}
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(api_for(supervisor), conversation.pk, name, data, mime, client_id="c-1", **caption)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["type"] == kind
    assert body["status"] == "pending"
    media = body["media"]
    assert media["status"] == "ready"
    assert media["mime_type"] == mime
    assert media["filename"] == name
    assert media["size"] == len(data)
    assert media["caption"] == caption.get("text", "")
    assert len(media["sha256"]) == 64
    assert media["url"] == f"/api/messages/{body['id']}/media/"
    assert backend.sent == [body["id"]]  # handed to the channel after commit
    file = api_for(supervisor).get(media["url"])
    assert file.status_code == 200
    assert b"".join(file.streaming_content) == data
    assert file["Content-Type"] == mime
    assert file["X-Content-Type-Options"] == "nosniff"
    assert name in file["Content-Disposition"]
    assert file["Content-Disposition"].startswith("inline" if kind != MessageType.DOCUMENT else "attachment")
    assert len(stored_files(media_root)) == 1


def test_the_same_client_id_stores_one_file(api_for, supervisor, conversation, backend, media_root):
    first = upload(api_for(supervisor), conversation.pk, "a.jpg", samples.JPEG, "image/jpeg", client_id="same")
    again = upload(api_for(supervisor), conversation.pk, "a.jpg", samples.JPEG, "image/jpeg", client_id="same")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert len(stored_files(media_root)) == 1


BAD_UPLOADS = [
    ("big.jpg", samples.JPEG + b"\x00" * (5 * 1024 * 1024), "image/jpeg", "file_too_large"),
    ("page.jpg", samples.HTML, "image/jpeg", "file_type_mismatch"),
    ("anim.gif", samples.GIF, "image/gif", "file_type_mismatch"),
    ("program.exe", b"MZ\x90\x00" + b"\x00" * 64, "application/octet-stream", "unsupported_file_type"),
    ("empty.pdf", b"", "application/pdf", "empty_file"),
]


@pytest.mark.parametrize(("name", "data", "declared", "code"), BAD_UPLOADS, ids=[b[0] for b in BAD_UPLOADS])
def test_bad_uploads_get_a_clear_error_and_store_nothing(
    api_for, supervisor, conversation, backend, media_root, name, data, declared, code
):
    response = upload(api_for(supervisor), conversation.pk, name, data, declared, text="x")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == code
    assert body["message"]
    assert Message.objects.count() == 0
    assert Attachment.objects.count() == 0
    assert stored_files(media_root) == []
    assert backend.sent == []


def test_a_caption_on_a_voice_note_is_refused(api_for, supervisor, conversation, backend, media_root):
    response = upload(api_for(supervisor), conversation.pk, "v.ogg", samples.OGG_OPUS, "audio/ogg", text="hi")
    assert response.status_code == 400
    assert stored_files(media_root) == []


def test_the_upload_limit_is_enforced_before_the_body_is_read(
    api_for, supervisor, conversation, backend, settings, media_root
):
    settings.PYTAKE_MEDIA_UPLOAD_MAX_BYTES = 1024
    response = upload(api_for(supervisor), conversation.pk, "a.pdf", samples.PDF + b" " * 200_000, "application/pdf")
    assert response.status_code == 400
    assert response.json()["code"] == "file_too_large"
    assert "1024" in str(response.json()["extra"]["max_bytes"])
    assert stored_files(media_root) == []


# --- The audience rule on files --------------------------------------------------------------------


@pytest.fixture
def sent_image(api_for, supervisor, conversation, backend):
    response = upload(api_for(supervisor), conversation.pk, "p.png", samples.PNG, "image/png")
    assert response.status_code == 201
    return response.json()


def test_files_follow_the_audience_rule(
    api_for, sent_image, conversation, agent, agent2, foreign_admin, supervisor, backend, media_root
):
    url = sent_image["media"]["url"]
    link = url + "link/"
    conversation.assignee = agent
    conversation.save()
    assert api_for(agent).get(url).status_code == 200  # theirs
    assert api_for(supervisor).get(url).status_code == 200
    for outsider in (agent2, foreign_admin):  # another agent's conversation; another tenant
        for path in (url, link):
            response = api_for(outsider).get(path)
            assert response.status_code == 404
            assert response.json()["code"] == "not_found"
        # ...and they cannot add a file to it either, and nothing is stored.
        response = upload(api_for(outsider), conversation.pk, "p.png", samples.PNG, "image/png")
        assert response.status_code == 404
    assert len(stored_files(media_root)) == 1
    missing = api_for(supervisor).get("/api/messages/999999/media/")
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    assert APIClient().get(url).status_code == 401


def test_a_link_serves_without_credentials_until_it_expires(api_for, sent_image, supervisor, settings):
    body = api_for(supervisor).get(sent_image["media"]["url"] + "link/").json()
    assert body["url"].startswith("/media/signed/")
    anonymous = APIClient()
    response = anonymous.get(body["url"])
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == samples.PNG
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    tampered = anonymous.get(body["url"].replace("/media/signed/", "/media/signed/x"))
    assert tampered.status_code == 404
    settings.PYTAKE_MEDIA_LINK_SECONDS = -1  # every link has expired
    assert anonymous.get(body["url"]).status_code == 404


def test_media_is_never_served_as_markup(api_for, supervisor, conversation, backend):
    for name, data in (("page.txt", samples.HTML), ("page.jpg", samples.HTML), ("x.svg", samples.SVG)):
        assert upload(api_for(supervisor), conversation.pk, name, data, "text/html").status_code == 400
    ok = upload(api_for(supervisor), conversation.pk, "order.txt", samples.TEXT, "text/plain").json()
    response = api_for(supervisor).get(ok["media"]["url"])
    assert response["Content-Type"] == "text/plain"
    assert response["Content-Disposition"].startswith("attachment")
    assert "sandbox" in response["Content-Security-Policy"]


# --- Live: message.updated, retry ----------------------------------------------------------------


def _inbound_image(conversation, status=MediaStatus.PENDING) -> Message:
    message = factories.MessageFactory(
        conversation=conversation,
        type=MessageType.IMAGE,
        content={"caption": "olha", "media": {"id": "77"}},
    )
    Attachment.objects.create(
        tenant_id=conversation.tenant_id, message=message, mime_type="image/jpeg", status=status, remote_id="77"
    )
    return message


def test_a_finished_download_is_announced_as_message_updated(conversation, django_capture_on_commit_callbacks):
    message = _inbound_image(conversation)
    before = Event.objects.count()
    services.attachment_update(message_id=message.pk, status=MediaStatus.FAILED, error="Meta said no")
    (event,) = Event.objects.all()[before:]
    assert event.type == "message.updated"
    assert event.conversation_id == conversation.pk
    assert event.data["id"] == message.pk
    assert event.data["media"]["status"] == "failed"
    assert event.data["media"]["error"] == "Meta said no"
    assert event.data["media"]["caption"] == "olha"
    assert event.data["media"]["url"] is None


def test_a_failed_download_can_be_retried(
    api_for, supervisor, agent2, conversation, backend, foreign_admin, django_capture_on_commit_callbacks
):
    message = _inbound_image(conversation, status=MediaStatus.FAILED)
    url = f"/api/messages/{message.pk}/media/retry/"
    assert api_for(foreign_admin).post(url).status_code == 404
    with django_capture_on_commit_callbacks(execute=True):
        response = api_for(supervisor).post(url)
    assert response.status_code == 202
    assert response.json()["media"]["status"] == "pending"
    assert backend.fetched == [message.pk]
    again = api_for(supervisor).post(url)
    assert (again.status_code, again.json()["code"]) == (409, "media_not_failed")
    conversation.assignee = supervisor
    conversation.save()
    assert api_for(agent2).post(url).status_code == 404  # not theirs


def test_the_history_reads_attachments_in_the_same_query(api_for, supervisor, conversation, backend):
    for _ in range(3):
        upload(api_for(supervisor), conversation.pk, "p.png", samples.PNG, "image/png")
    factories.MessageFactory(conversation=conversation, content={"text": "hi"})
    body = api_for(supervisor).get(f"/api/conversations/{conversation.pk}/messages/").json()
    assert [m["media"] is None for m in body["results"]] == [True, False, False, False]
