"""Media in Chromium against a real server (uvicorn) on PostgreSQL and Redis: a web-chat
customer attaches a photo from the widget, sees it, and the agent's REST API has it; the
simulator phone sends a photo and a voice note that arrive, downloaded the way Meta serves them,
with their media ready."""

import re

import httpx
import pytest
from playwright.sync_api import expect

from conversations.models import Channel, Conversation, MediaStatus, Message, MessageType
from tests import media_samples as samples
from tests.browser import scenario
from tests.conftest import access_token_for
from tests.e2e.test_browser_inbox import LIVE, login, open_conversation, shot
from tests.e2e.test_browser_webchat import open_widget
from tests.simulator.support import wait_until


@pytest.fixture
def demo(demo):
    """The demo, with the web chat's bot (the widget's uploads)."""
    scenario.webchat_bot(demo.tenant)
    return demo


def staff_messages(base_url, user, conversation_id):
    response = httpx.get(
        f"{base_url}/api/conversations/{conversation_id}/messages/",
        headers={"Authorization": f"Bearer {access_token_for(user)}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()["results"]


@pytest.mark.browser
@pytest.mark.postgres
@pytest.mark.redis
def test_a_widget_customer_sends_a_photo_that_the_agent_sees(new_page, demo, asgi_server):
    widget = open_widget(new_page, demo, "Bia Rocha")
    widget.get_by_label("Message").fill("A caixa chegou assim")
    widget.locator("#file").set_input_files({"name": "caixa.png", "mimeType": "image/png", "buffer": samples.PNG})
    photo = widget.locator("li.inbound img.pt-media-image")
    expect(photo).to_have_attribute("src", re.compile(r"/media/signed/"), timeout=LIVE)
    expect(widget.locator("li.inbound figcaption")).to_have_text("A caixa chegou assim")
    # The picture really loads (a 1×1 PNG) from its short-lived link.
    widget.wait_for_function(
        "() => { const i = document.querySelector('li.inbound img.pt-media-image');"
        " return !!i && i.complete && i.naturalWidth === 1; }",
        timeout=LIVE,
    )
    # A file the server refuses says why, and stores nothing.
    widget.locator("#file").set_input_files({"name": "page.jpg", "mimeType": "image/jpeg", "buffer": samples.HTML})
    expect(widget.locator("li.failed .reason")).to_contain_text("not the image/jpeg", timeout=LIVE)

    conversation = Conversation.objects.get(channel=Channel.WEBCHAT, contact__name="Bia Rocha")
    rows = staff_messages(asgi_server.url, demo.supervisor, conversation.pk)
    (latest,) = [m for m in rows if m["media"]]  # the bot answered it too
    assert latest["media"]["status"] == "ready"
    assert latest["media"]["caption"] == "A caixa chegou assim"
    file = httpx.get(
        asgi_server.url + latest["media"]["url"],
        headers={"Authorization": f"Bearer {access_token_for(demo.supervisor)}"},
        timeout=10,
    )
    assert file.content == samples.PNG
    assert file.headers["x-content-type-options"] == "nosniff"
    assert Message.objects.filter(conversation=conversation, type=MessageType.IMAGE).count() == 1


@pytest.mark.browser
@pytest.mark.postgres
@pytest.mark.redis
def test_the_simulator_phone_sends_a_photo_and_a_voice_note_that_arrive_ready(new_page, demo, asgi_server):
    phone = new_page(viewport={"width": 900, "height": 800})
    phone.goto("/simulator/phone/")
    phone.locator("#new-wa-id").fill(demo.maria.contact.wa_id)
    phone.locator("#new-name").fill("Maria Silva")
    phone.get_by_role("button", name="Use").click()
    expect(phone.locator("#conn")).to_have_attribute("data-state", "open", timeout=LIVE)

    phone.locator("#file").set_input_files({"name": "foto.jpg", "mimeType": "image/jpeg", "buffer": samples.JPEG})
    phone.get_by_label("Message").fill("Olha o defeito")
    phone.get_by_role("button", name="Send").click()
    expect(phone.locator(".bubble.mine img")).to_have_count(1, timeout=LIVE)

    phone.locator("#file").set_input_files({"name": "voz.ogg", "mimeType": "audio/ogg", "buffer": samples.OGG_OPUS})
    expect(phone.locator("#voice-row")).to_be_visible()
    phone.locator("#voice").check()
    phone.get_by_role("button", name="Send").click()
    expect(phone.locator(".bubble.mine", has_text="Voice note")).to_have_count(1, timeout=LIVE)

    def arrived():
        rows = staff_messages(asgi_server.url, demo.agent, demo.maria.pk)
        media = [m for m in rows if m["media"] and m["media"]["status"] == MediaStatus.READY]
        return media if len(media) == 2 else None

    voice, image = wait_until(arrived, what="both files downloaded")
    assert (image["type"], image["media"]["caption"], image["media"]["mime_type"]) == (
        "image",
        "Olha o defeito",
        "image/jpeg",
    )
    assert (voice["type"], voice["media"]["voice"], voice["media"]["mime_type"]) == ("audio", True, "audio/ogg")

    # The agent's inbox shows the photo with its caption and a player for the voice note.
    inbox = new_page()
    login(inbox, demo.supervisor)
    open_conversation(inbox, "Maria Silva")
    photo = inbox.locator(".msg-in img.pt-media-image")
    expect(photo).to_have_attribute("src", re.compile(r"/media/signed/"), timeout=LIVE)
    expect(inbox.locator(".msg-in figcaption", has_text="Olha o defeito")).to_be_visible()
    expect(inbox.locator(".msg-in audio")).to_have_count(1)
    inbox.wait_for_function(
        "() => { const i = document.querySelector('.msg-in img.pt-media-image'); return !!i && i.complete; }",
        timeout=LIVE,
    )
    file = httpx.get(
        asgi_server.url + voice["media"]["url"],
        headers={"Authorization": f"Bearer {access_token_for(demo.agent)}"},
        timeout=10,
    )
    assert file.content == samples.OGG_OPUS


@pytest.mark.browser
@pytest.mark.postgres
@pytest.mark.redis
def test_an_agent_sends_a_pdf_from_the_inbox_that_reaches_the_phone(new_page, demo, asgi_server):
    phone = new_page(viewport={"width": 900, "height": 800})
    phone.goto("/simulator/phone/")
    phone.locator("#new-wa-id").fill(demo.maria.contact.wa_id)
    phone.locator("#new-name").fill("Maria Silva")
    phone.get_by_role("button", name="Use").click()
    expect(phone.locator("#conn")).to_have_attribute("data-state", "open", timeout=LIVE)
    phone.get_by_label("Message").fill("Pode mandar o boleto?")  # opens the 24-hour window
    phone.get_by_role("button", name="Send").click()

    inbox = new_page()
    login(inbox, demo.supervisor)
    open_conversation(inbox, "Maria Silva")
    expect(inbox.locator(".msg-in", has_text="Pode mandar o boleto?")).to_be_visible(timeout=LIVE)
    inbox.locator("#composer-text").fill("Segue o boleto")
    inbox.locator("#composer-file").set_input_files(
        {"name": "boleto.pdf", "mimeType": "application/pdf", "buffer": samples.PDF}
    )
    card = inbox.locator(".msg-out a.pt-media-document")
    expect(card).to_contain_text("boleto.pdf", timeout=LIVE)
    expect(card.locator("svg.pt-media-icon")).to_be_visible()  # a drawn icon, not an emoji
    expect(inbox.locator(".msg-out figcaption", has_text="Segue o boleto")).to_be_visible()
    expect(inbox.locator(".msg-out", has_text="boleto.pdf").locator(".tick")).to_have_attribute(
        "data-status", re.compile("sent|delivered|read"), timeout=LIVE
    )
    expect(phone.locator(".bubble", has_text="boleto.pdf")).to_be_visible(timeout=LIVE)
    shot(inbox, "inbox-media")

    # A file the server refuses (a page named .pdf) says why on its bubble, and nothing is sent.
    inbox.locator("#composer-file").set_input_files(
        {"name": "fatura.pdf", "mimeType": "application/pdf", "buffer": samples.HTML}
    )
    expect(inbox.locator(".msg-out[data-status='failed']", has_text="fatura.pdf")).to_be_visible(timeout=LIVE)
    assert not Message.objects.filter(conversation=demo.maria, attachment__filename="fatura.pdf").exists()
