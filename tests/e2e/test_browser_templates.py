"""WhatsApp templates in the inbox, in Chromium against a real server with its Cloud API
simulator: the reply window closed, an agent sends a template with a parameter, the phone shows
it, the customer answers and the text box returns; an agent starts a new conversation."""

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from conversations.models import Conversation, Message, Role, WhatsAppAccount
from simulator.models import SimDirection, SimulatedMessage
from tests import factories
from tests.browser import scenario
from tests.browser.fixtures import MANUAL_ASSIGNMENT
from tests.simulator.support import wait_until
from whatsapp import templates
from whatsapp.client import http_client_close
from whatsapp.models import MessageTemplate

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.redis]

LIVE = 30_000
SHOTS = Path(os.environ.get("PYTAKE_SCREENSHOTS_DIR", "artifacts/screenshots"))
WABA = "880000000000042"


@pytest.fixture(scope="module")
def server_settings():
    return {**MANUAL_ASSIGNMENT, "WHATSAPP_SIMULATOR_STATUS_DELAYS": "0.2,0.4,0.6"}


@pytest.fixture
def demo(demo, asgi_server, settings):
    account = demo.maria.whatsapp_account
    WhatsAppAccount.objects.filter(pk=account.pk).update(business_account_id=WABA)
    account.refresh_from_db()
    # The templates, from the server's simulator, as the beat schedule would fetch them.
    settings.WHATSAPP_GRAPH_BASE_URL = f"{asgi_server.url}/simulator/graph"
    templates.templates_sync(account=account)
    http_client_close()
    return demo


def shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def login(page, user):
    page.goto("/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(scenario.PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#conn")).to_have_attribute("data-state", "open", timeout=LIVE)


def open_conversation(page, name):
    page.locator(".conv-item", has_text=name).click()
    expect(page.locator("#conv-title")).to_have_text(name)


def test_an_agent_answers_a_closed_window_with_a_template_and_the_text_box_returns(new_page, demo):
    Conversation.objects.filter(pk=demo.maria.pk).update(last_customer_message_at=timezone.now() - timedelta(hours=30))
    inbox = new_page()
    login(inbox, demo.agent)
    open_conversation(inbox, "Maria Silva")
    expect(inbox.locator("#window-notice")).to_contain_text("The 24-hour window closed")
    expect(inbox.get_by_role("textbox", name="Message")).to_be_hidden()
    inbox.get_by_role("button", name="Send a template").click()

    dialog = inbox.locator("#template-dialog")
    expect(dialog).to_be_visible()
    # Why some cannot be used: pending review, paused.
    expect(dialog.locator(".template-item", has_text="summer_sale")).to_be_disabled()
    expect(dialog.locator(".template-item", has_text="summer_sale")).to_contain_text("Pending")
    expect(dialog.locator(".template-item", has_text="appointment_reminder")).to_contain_text("Paused")
    dialog.get_by_role("searchbox", name="Search templates").fill("follow")
    dialog.locator('.template-item[data-name="follow_up"][data-language="pt_BR"]').click()
    dialog.get_by_label("Parameter first_name").fill("Maria")
    expect(dialog.locator("#template-preview")).to_contain_text("Oi Maria! Podemos continuar")
    shot(inbox, "templates-picker")
    dialog.get_by_role("button", name="Send template").click()
    expect(dialog).to_be_hidden()

    bubble = inbox.locator("#message-list .msg-out", has_text="Oi Maria! Podemos continuar")
    expect(bubble).to_have_attribute("data-status", re.compile("sent|delivered|read"), timeout=LIVE)
    sent = Message.objects.get(conversation=demo.maria, type="template")
    assert sent.content["name"] == "follow_up"

    phone = new_page(viewport={"width": 900, "height": 800})
    phone.goto("/simulator/phone/")
    phone.locator("#new-wa-id").fill(demo.maria.contact.wa_id)
    phone.locator("#new-name").fill("Maria Silva")
    phone.get_by_role("button", name="Use").click()
    expect(phone.locator("#conn")).to_have_class(re.compile(r"\blive\b"), timeout=LIVE)
    expect(phone.locator("#thread")).to_contain_text("Template: follow_up", timeout=LIVE)
    expect(phone.locator("#thread")).to_contain_text("Oi Maria! Podemos continuar o seu atendimento?")
    assert SimulatedMessage.objects.filter(direction=SimDirection.TO_CUSTOMER, type="template").count() == 1

    phone.get_by_label("Message").fill("Sim, pode continuar!")
    phone.get_by_role("button", name="Send").click()
    expect(inbox.locator(".msg-in", has_text="Sim, pode continuar!")).to_be_visible(timeout=LIVE)
    # The window reopened live: the text box is back, the template button gone.
    expect(inbox.get_by_role("textbox", name="Message")).to_be_visible(timeout=LIVE)
    expect(inbox.get_by_role("button", name="Send a template")).to_be_hidden()
    expect(inbox.locator("#window-notice")).to_be_hidden()
    inbox.get_by_role("textbox", name="Message").fill("Perfeito, seu pedido sai hoje.")
    inbox.get_by_role("textbox", name="Message").press("Enter")
    expect(phone.locator("#thread")).to_contain_text("Perfeito, seu pedido sai hoje.", timeout=LIVE)

    # The operator pauses the template on the phone page, as Meta's review would: PyTake hears
    # it, and the tenant's admins (only they) are told live.
    admin = factories.UserFactory(tenant=demo.tenant, role=Role.ADMIN, email="ana@browser.test", name="Ana Admin")
    admin.password = scenario.password_hash()
    admin.save(update_fields=["password"])
    admin_page = new_page()
    login(admin_page, admin)
    phone.locator("#templates-box summary").click()
    phone.get_by_label("follow_up (pt_BR)").select_option("PAUSED")
    expect(phone.locator("#status")).to_contain_text("is now PAUSED")
    wait_until(lambda: MessageTemplate.objects.filter(name="follow_up", language="pt_BR", status="paused").exists())
    expect(admin_page.locator("#broadcast")).to_contain_text("follow_up (pt_BR) is now paused", timeout=LIVE)
    expect(inbox.locator("#broadcast")).to_be_hidden()


def test_an_agent_starts_a_new_conversation_from_the_inbox(new_page, demo):
    inbox = new_page(viewport={"width": 390, "height": 844})
    login(inbox, demo.agent)
    inbox.get_by_role("button", name="New conversation").click()
    dialog = inbox.locator("#template-dialog")
    dialog.get_by_label("Phone (with country code)").fill("+55 11 91234-5678")
    dialog.get_by_label("Name (optional)").fill("Paula Reis")
    dialog.locator('.template-item[data-name="welcome_back"]').click()
    expect(dialog.locator("#template-preview")).to_contain_text("Temos novidades")
    shot(inbox, "templates-new-conversation")
    dialog.get_by_role("button", name="Send template").click()
    expect(dialog).to_be_hidden()
    expect(inbox.locator("#conv-title")).to_have_text("Paula Reis", timeout=LIVE)
    expect(inbox.locator(".msg-out", has_text="Temos novidades")).to_be_visible(timeout=LIVE)
    # Nobody has written back yet: templates only.
    expect(inbox.locator("#window-notice")).to_contain_text("has not written yet")
    conversation = Conversation.objects.get(contact__wa_id="5511912345678")
    assert conversation.assignee_id == demo.agent.pk
    assert conversation.contact.name == "Paula Reis"

    # A phone number without its country code is refused with the reason, nothing stored.
    inbox.get_by_role("button", name="Back to the list").click()
    inbox.get_by_role("button", name="New conversation").click()
    dialog.get_by_label("Phone (with country code)").fill("11 9999-0000")
    dialog.locator('.template-item[data-name="welcome_back"]').click()
    dialog.get_by_role("button", name="Send template").click()
    expect(dialog.locator("#template-error")).to_contain_text("international form")
    assert Conversation.objects.filter(tenant=demo.tenant).count() == 4
