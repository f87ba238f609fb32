"""Web-chat customers and files: they attach a photo or a document with their token, see the
files of their own conversation (agents' too), and nothing of another conversation's."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from rest_framework.test import APIClient

from conversations import services
from conversations.models import Attachment, Conversation, Direction, Message
from realtime.models import Event
from realtime.tokens import WebchatToken
from tests import factories
from tests import media_samples as samples

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


def session(tenant, name="Maria") -> tuple[str, int]:
    body = APIClient().post("/api/webchat/sessions/", {"tenant": tenant.slug, "name": name}, format="json").json()
    return body["token"], body["conversation_id"]


def as_customer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def attach(token: str, name: str, data: bytes, **fields):
    return as_customer(token).post(
        "/api/webchat/messages/", {"file": ContentFile(data, name=name), **fields}, format="multipart"
    )


def stored(root) -> int:
    return len([p for p in root.rglob("*") if p.is_file()]) if root.exists() else 0


def test_a_customer_sends_a_photo_that_staff_see_live_and_by_rest(tenant, supervisor, api_for, without_flow):
    token, conversation_id = session(tenant)
    response = attach(token, "foto.jpg", samples.JPEG, text="Chegou assim", client_id="w-1")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["type"], body["direction"]) == ("image", Direction.INBOUND)
    assert body["media"]["status"] == "ready"
    assert body["media"]["caption"] == "Chegou assim"
    again = attach(token, "foto.jpg", samples.JPEG, text="Chegou assim", client_id="w-1")
    assert (again.status_code, again.json()["id"]) == (200, body["id"])
    event = Event.objects.get(type="message.new", data__id=body["id"])
    assert event.customer is True and event.data["media"]["mime_type"] == "image/jpeg"
    history = api_for(supervisor).get(f"/api/conversations/{conversation_id}/messages/").json()["results"]
    assert history[0]["media"]["url"] == f"/api/messages/{body['id']}/media/"
    assert b"".join(api_for(supervisor).get(history[0]["media"]["url"]).streaming_content) == samples.JPEG
    # The customer reads their own file with their token, as the widget does.
    own = as_customer(token).get(body["media"]["url"])
    assert own.status_code == 200 and own["Content-Type"] == "image/jpeg"
    assert Conversation.objects.get(pk=conversation_id).last_message_preview == "Chegou assim"


def test_customers_may_send_only_photos_and_documents(tenant, media_root, without_flow):
    token, _ = session(tenant)
    assert attach(token, "a.pdf", samples.PDF).status_code == 201
    for name, data, code in (
        ("clip.mp4", samples.MP4, "unsupported_file_type"),
        ("voice.ogg", samples.OGG_OPUS, "unsupported_file_type"),
        ("page.jpg", samples.HTML, "file_type_mismatch"),
        ("empty.png", b"", "empty_file"),
        ("big.png", samples.PNG + b"\x00" * (5 * 1024 * 1024), "file_too_large"),
    ):
        response = attach(token, name, data)
        assert (response.status_code, response.json()["code"]) == (400, code), name
    assert Message.objects.count() == 1
    assert stored(media_root) == 1


def test_a_customer_sees_no_file_of_another_conversation(tenant, supervisor, api_for, without_flow):
    token, conversation_id = session(tenant)
    other_token, other_id = session(tenant, "João")
    theirs = attach(other_token, "doc.pdf", samples.PDF).json()
    mine = attach(token, "doc.pdf", samples.PDF).json()
    for path in (theirs["media"]["url"], theirs["media"]["url"] + "link/"):
        response = as_customer(token).get(path)
        assert (response.status_code, response.json()["code"]) == (404, "not_found")
    assert as_customer(token).get(mine["media"]["url"]).status_code == 200
    # An agent's file on an internal note is never the customer's (a note carries no file, but a
    # file on a message marked internal must stay staff-only all the same).
    Message.objects.filter(pk=mine["id"]).update(internal=True)
    assert as_customer(token).get(mine["media"]["url"]).status_code == 404
    # A token for a WhatsApp conversation (not web chat) opens nothing.
    whatsapp = factories.ConversationFactory(tenant=tenant)
    stray = factories.MessageFactory(conversation=whatsapp, type="image")
    Attachment.objects.create(tenant=tenant, message=stray, status="ready", file="x.png", mime_type="image/png")
    assert (
        as_customer(str(WebchatToken.for_conversation(whatsapp))).get(f"/api/messages/{stray.pk}/media/").status_code
        == 404
    )
    # A customer cannot use the staff upload, nor retry.
    assert as_customer(token).post(f"/api/conversations/{conversation_id}/messages/", {}).status_code == 401
    assert as_customer(token).post(f"/api/messages/{mine['id']}/media/retry/").status_code == 401


def test_an_agent_file_on_web_chat_reaches_the_customer(
    tenant, supervisor, api_for, django_capture_on_commit_callbacks
):
    token, conversation_id = session(tenant)
    with django_capture_on_commit_callbacks(execute=True):
        response = api_for(supervisor).post(
            f"/api/conversations/{conversation_id}/messages/",
            {"file": ContentFile(samples.PNG, name="mapa.png"), "text": "Estamos aqui"},
            format="multipart",
        )
    assert response.status_code == 201
    state = as_customer(token).get("/api/webchat/conversation/").json()
    media = state["messages"][-1]["media"]
    assert media["caption"] == "Estamos aqui" and media["status"] == "ready"
    assert b"".join(as_customer(token).get(media["url"]).streaming_content) == samples.PNG
    assert state["messages"][-1]["status"] == "sent"  # web chat delivers by its socket


def test_an_upload_without_a_session_stores_nothing(tenant, media_root):
    response = APIClient().post(
        "/api/webchat/messages/", {"file": ContentFile(samples.PNG, name="a.png")}, format="multipart"
    )
    assert response.status_code == 401
    assert response.json()["code"] in ("not_authenticated", "authentication_failed")
    assert stored(media_root) == 0


# --- quoting: a file that replies to a message (reply_to) -------------------------------------------


def agent_says(user, conversation_id: int, text: str) -> Message:
    message, _ = services.message_create_outbound_text(user=user, conversation_id=conversation_id, text=text)
    return message


def test_a_customer_replies_to_the_agent_with_a_photo(tenant, supervisor, api_for, without_flow):
    token, conversation_id = session(tenant)
    asked = agent_says(supervisor, conversation_id, "Can you send a photo of the label?")
    response = attach(token, "label.jpg", samples.JPEG, text="Here", reply_to=asked.pk)
    assert response.status_code == 201, response.json()
    body = response.json()
    quoted = {
        "id": asked.pk,
        "type": "text",
        "direction": "outbound",
        "sender_type": "agent",
        "text": "Can you send a photo of the label?",
        "deleted": False,
    }
    assert body["reply_to"] == quoted
    assert Message.objects.get(pk=body["id"]).reply_to_id == asked.pk
    # The inbox hears it with its quote, and reads it so.
    event = Event.objects.get(type="message.new", data__id=body["id"])
    assert event.customer is True and event.data["reply_to"] == quoted
    history = api_for(supervisor).get(f"/api/conversations/{conversation_id}/messages/").json()["results"]
    assert [m["reply_to"] for m in history if m["id"] == body["id"]] == [quoted]


@pytest.mark.parametrize(
    "case", ["other_conversation", "other_tenant", "internal_note", "missing", "not_an_id", "zero"]
)
def test_a_file_may_quote_only_a_message_the_customer_sees(
    tenant, other_tenant, supervisor, media_root, without_flow, case
):
    token, conversation_id = session(tenant)
    agent_says(supervisor, conversation_id, "Hello!")
    if case == "other_conversation":  # another customer's chat, same tenant
        _, other_id = session(tenant, "João")
        target: object = agent_says(supervisor, other_id, "Hello, João!").pk
    elif case == "other_tenant":
        elsewhere = factories.ConversationFactory(tenant=other_tenant, channel="webchat")
        target = factories.MessageFactory(conversation=elsewhere).pk
    elif case == "internal_note":
        target = services.note_create(user=supervisor, conversation_id=conversation_id, text="Angry last time").pk
    elif case == "missing":
        target = 10**12
    elif case == "not_an_id":
        target = "the hello"
    else:
        target = 0
    before = Message.objects.count()
    response = attach(token, "label.jpg", samples.JPEG, reply_to=target)
    assert response.status_code == 400, response.json()
    body = response.json()
    assert body["code"] == "invalid" and body["message"]
    assert "reply_to" in body["extra"]["fields"]
    assert Message.objects.count() == before
    assert stored(media_root) == 0


def test_the_schema_documents_reply_to_on_the_customers_upload():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    body = schema["paths"]["/api/webchat/messages/"]["post"]["requestBody"]["content"]["multipart/form-data"]
    component = schema["components"]["schemas"][body["schema"]["$ref"].rsplit("/", 1)[-1]]
    reply_to = component["properties"]["reply_to"]
    assert reply_to["type"] == "integer" and reply_to["minimum"] == 1
    assert "quoted" in reply_to["description"]
    assert "reply_to" not in component.get("required", [])
