"""The agent's toolbox in Chromium against a real server (PostgreSQL, Redis): saved replies from
"/" in the message box, labels in the list and the header (filter, picker, live), search that
opens a conversation at the message found, the contact panel (fields, notes, previous
conversations; a sheet at phone width), pending / snooze / transfer, bulk actions, mentions
that reach the teammate live, and the keyboard shortcuts."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from conversations.models import (
    Contact,
    ContactAttributeDefinition,
    Conversation,
    ConversationMention,
    Label,
    SavedReply,
)
from tests.browser import scenario
from tests.e2e.test_browser_inbox import LIVE, conversation_item, login, open_conversation, shot

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.redis]

PHONE = {"width": 390, "height": 844}
ORDER_LINE = "O número do pedido é 48213, chegou amassado."


@pytest.fixture
def server_settings():
    # The queue is driven by hand here: automatic assignment would hand the waiting
    # conversations to whoever is online first.
    return {"PYTAKE_AUTO_ASSIGN": "0"}


@pytest.fixture
def demo(asgi_server):
    return scenario.seed_demo()


@scenario.off_loop
def seed_toolbox(demo):
    """Labels, a team saved reply, contact fields, and an old line in Maria's conversation that
    the first page of her history does not reach (60 newer lines after it)."""
    vip = Label.objects.create(tenant=demo.tenant, name="VIP", colour="#d97706")
    delivery = Label.objects.create(tenant=demo.tenant, name="Entrega", colour="#2563eb")
    SavedReply.objects.create(
        tenant=demo.tenant,
        short_code="ola",
        content="Olá {{contact.first_name}}, aqui é {{agent.name}}.",
        created_by=demo.supervisor,
    )
    SavedReply.objects.create(tenant=demo.tenant, short_code="prazo", content="O prazo é de 5 dias úteis.")
    for key, label, type_, options in [
        ("order_no", "Order number", "text", []),
        ("plan", "Plan", "list", ["Basic", "Pro"]),
        ("since", "Customer since", "date", []),
        ("spent", "Spent", "number", []),
    ]:
        ContactAttributeDefinition.objects.create(tenant=demo.tenant, key=key, label=label, type=type_, options=options)
    return {"vip": vip.pk, "delivery": delivery.pk}


@pytest.fixture
def toolbox(demo):
    labels = seed_toolbox(demo)
    line = scenario.message_at(demo.maria, ORDER_LINE, inbound=True, at=timezone.now() - timedelta(days=2))
    scenario.history(demo.maria, 60)
    return {**labels, "order_line": line.pk}


def composer(page):
    return page.locator("#composer-text")


def test_walk_saved_reply_label_search_contact_and_a_mention_seen_live(new_page, demo, toolbox):
    alex = new_page()
    login(alex, demo.agent)
    bruno = new_page()
    login(bruno, demo.agent2)
    expect(bruno.locator("#mentions-count")).to_be_hidden()

    # 1. "/" and letters: the team's saved reply, filled in for Maria, to edit before sending.
    open_conversation(alex, "Maria Silva")
    composer(alex).press_sequentially("/ol")
    suggestions = alex.locator("#composer-suggest li")
    expect(suggestions).to_have_count(1)
    expect(suggestions.first).to_contain_text("/ola")
    composer(alex).press("Enter")
    expect(composer(alex)).to_have_value("Olá Maria, aqui é Alex Agent.")
    expect(alex.locator("#composer-suggest")).to_be_hidden()
    composer(alex).press("End")
    composer(alex).press_sequentially(" Vou ver seu pedido.")
    composer(alex).press("Enter")
    expect(alex.locator(".msg-out .msg-text").last).to_have_text("Olá Maria, aqui é Alex Agent. Vou ver seu pedido.")

    # 2. A label from the header's picker: on the header and the list's row at once.
    alex.locator("#act-labels").click()
    alex.locator("#label-picker").get_by_label("VIP").check()
    expect(alex.locator("#conv-labels .label-chip")).to_have_text(["VIP"])
    expect(conversation_item(alex, "Maria Silva").locator(".label-chip")).to_have_text(["VIP"])
    alex.keyboard.press("Escape")
    expect(alex.locator("#label-picker")).to_be_hidden()
    assert list(Conversation.objects.get(pk=demo.maria.pk).labels.values_list("name", flat=True)) == ["VIP"]

    # 3. Search (Ctrl+K): the order number, highlighted; the hit opens the history at that line.
    alex.locator("#messages").click()
    alex.keyboard.press("Control+k")
    expect(alex.locator("#search-dialog")).to_be_visible()
    alex.locator("#search-input").fill("48213")
    hit = alex.locator(f".search-hit[data-message-id='{toolbox['order_line']}']")
    expect(hit.locator("mark")).to_have_text("48213")
    hit.click()
    expect(alex.locator("#search-dialog")).to_be_hidden()
    found = alex.locator(f"#message-list li[data-id='{toolbox['order_line']}']")
    expect(found).to_have_attribute("data-found", "true")
    expect(found).to_be_in_viewport()
    expect(found).to_contain_text(ORDER_LINE)

    # 4. The contact panel: a field filled in and saved.
    alex.locator("#act-contact").click()
    panel = alex.locator("#contact-panel")
    expect(panel).to_be_visible()
    expect(alex.locator("#contact-name")).to_have_text("Maria Silva")
    expect(alex.locator("#contact-labels .label-chip")).to_have_text(["VIP"])
    panel.get_by_label("Order number").fill("48213")
    panel.get_by_label("Plan").select_option("Pro")
    panel.get_by_role("button", name="Save").click()
    expect(alex.locator("#contact-attrs-result")).to_have_text("Saved.")
    attributes = Contact.objects.get(pk=demo.maria.contact_id).custom_attributes
    assert attributes["order_no"] == "48213" and attributes["plan"] == "Pro"
    shot(alex, "toolbox")

    # 5. "@" in a note: the teammate from the list, notified live on their own page.
    alex.locator("#note-toggle").click()
    composer(alex).press_sequentially("@Bru")
    expect(alex.locator("#composer-suggest li")).to_have_count(1)
    expect(alex.locator("#composer-suggest li").first).to_contain_text("Bruno Agent")
    composer(alex).press("Enter")
    expect(composer(alex)).to_have_value("@BrunoAgent ")
    composer(alex).press_sequentially("pode olhar o pedido 48213?")
    composer(alex).press("Enter")
    expect(alex.locator(".msg-note .msg-text").last).to_have_text("@BrunoAgent pode olhar o pedido 48213?")

    expect(bruno.locator("#mentions-count")).to_have_text("1", timeout=LIVE)
    assert bruno.evaluate("window.__noReload === true")
    bruno.locator("#mentions-toggle").click()
    item = bruno.locator(".mention-item")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("Alex Agent mentioned you")
    item.click()
    # Maria is Alex's: Bruno reads the note, and cannot answer.
    expect(bruno.locator("#conv-title")).to_have_text("Maria Silva")
    expect(bruno.locator("#readonly-notice")).to_be_visible()
    expect(bruno.locator("#composer")).to_be_hidden()
    note = bruno.locator("#message-list li[data-found]")
    expect(note).to_contain_text("@BrunoAgent pode olhar o pedido 48213?")
    expect(bruno.locator("#mentions-count")).to_be_hidden()
    assert ConversationMention.objects.get(user=demo.agent2).read_at is not None
