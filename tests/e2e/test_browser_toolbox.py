"""The agent's toolbox in Chromium against a real server (PostgreSQL, Redis): saved replies from
"/" in the message box, labels in the list and the header (filter, picker, live), search that
opens a conversation at the message found, the contact panel (fields, notes, previous
conversations; a sheet at phone width), pending / snooze / transfer, bulk actions, mentions
that reach the teammate live, and the keyboard shortcuts."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from conversations.models import (
    Contact,
    ContactAttributeDefinition,
    ContactNote,
    Conversation,
    ConversationMention,
    ConversationStatus,
    Label,
    SavedReply,
)
from tests import factories
from tests.browser import scenario
from tests.e2e.test_browser_inbox import LIVE, conversation_item, login, open_conversation, shot

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.redis]

PHONE = {"width": 390, "height": 844}
ORDER_LINE = "O número do pedido é 48213, chegou amassado."


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
    shot(alex, "toolbox-search")
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


@scenario.off_loop
def label_conversation(demo, conversation, label_ids):
    """A supervisor labels ``conversation`` elsewhere (another page, the API)."""
    from conversations import labels

    labels.conversation_labels_set(user=demo.supervisor, conversation_id=conversation.pk, label_ids=label_ids)


@scenario.off_loop
def delete_label(demo, label_id):
    from conversations import labels

    labels.label_delete(user=demo.supervisor, label=Label.objects.get(pk=label_id))


def test_saved_replies_are_chosen_with_the_keyboard_and_escape_keeps_the_conversation(new_page, demo, toolbox):
    page = new_page()
    login(page, demo.agent)
    open_conversation(page, "Maria Silva")
    page.locator("#app-lang").select_option("pt")
    sent_before = page.locator(".msg-out").count()

    composer(page).press_sequentially("/")
    options = page.locator("#composer-suggest li")
    expect(options).to_have_count(2)
    expect(options.nth(0)).to_have_attribute("aria-selected", "true")
    expect(options.nth(0)).to_contain_text("equipe")
    composer(page).press("ArrowDown")
    expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    expect(composer(page)).to_have_attribute("aria-activedescendant", "composer-suggest-1")
    # Escape closes the list, not the conversation; what was typed stays.
    composer(page).press("Escape")
    expect(page.locator("#composer-suggest")).to_be_hidden()
    expect(page.locator("#conversation")).to_be_visible()
    expect(composer(page)).to_have_value("/")

    composer(page).press_sequentially("pra")
    expect(options).to_have_count(1)
    expect(options.first).to_contain_text("/prazo")
    composer(page).press("Tab")
    expect(composer(page)).to_have_value("O prazo é de 5 dias úteis.")
    # Letters that match no reply: no list, and Enter sends what is in the box.
    composer(page).fill("")
    composer(page).press_sequentially("/zzz")
    expect(page.locator("#composer-suggest")).to_be_hidden()
    assert page.locator(".msg-out").count() == sent_before  # choosing never sent anything


def test_labels_filter_the_list_and_change_live(new_page, demo, toolbox):
    page = new_page()
    login(page, demo.supervisor)  # all conversations
    expect(page.locator(".conv-item")).to_have_count(3)

    label_conversation(demo, demo.john, [toolbox["delivery"]])
    label_conversation(demo, demo.maria, [toolbox["vip"]])
    expect(conversation_item(page, "John Carter").locator(".label-chip")).to_have_text(["Entrega"], timeout=LIVE)
    expect(conversation_item(page, "Maria Silva").locator(".label-chip")).to_have_text(["VIP"], timeout=LIVE)

    page.locator("#label-filter-toggle").click()
    page.locator("#label-filter").get_by_label("Entrega").check()
    expect(page.locator(".conv-item .conv-name")).to_have_text(["John Carter"])
    page.locator("#label-filter").get_by_label("VIP").check()
    expect(page.locator(".conv-item")).to_have_count(2)
    expect(page.locator("#label-filter-count")).to_have_text("2")
    page.keyboard.press("Escape")
    expect(page.locator("#label-filter")).to_be_hidden()

    # A label taken off elsewhere: the row leaves the filtered list live.
    label_conversation(demo, demo.maria, [])
    expect(page.locator(".conv-item .conv-name")).to_have_text(["John Carter"], timeout=LIVE)
    # A label deleted by a supervisor: gone from the rows and from the filter.
    delete_label(demo, toolbox["delivery"])
    expect(page.locator(".label-chip")).to_have_count(0, timeout=LIVE)
    expect(page.locator("#label-filter-count")).to_have_text("1")  # VIP, on no conversation now
    expect(page.locator(".conv-item")).to_have_count(0)
    page.locator("#label-filter-toggle").click()
    expect(page.locator("#label-filter .label-option")).to_have_text(["VIP"])
    page.locator("#label-filter").get_by_label("VIP").uncheck()
    expect(page.locator(".conv-item")).to_have_count(3)
    expect(page.locator("#label-filter-count")).to_be_hidden()
    assert page.evaluate("window.__noReload === true")


def test_search_at_phone_width_opens_the_hit_and_finds_only_what_the_agent_may_see(new_page, demo, toolbox):
    page = new_page(viewport=PHONE)
    login(page, demo.agent)
    page.locator("#search-open").click()
    dialog = page.locator("#search-dialog")
    expect(dialog).to_be_visible()
    box = dialog.bounding_box()
    assert box["width"] == PHONE["width"], box  # the whole screen at phone width
    page.locator("#search-input").fill("amassado")
    hit = page.locator(".search-hit-message")
    expect(hit).to_have_count(1)
    expect(hit.locator(".search-hit-title")).to_have_text("Maria Silva")
    expect(hit.locator("mark")).to_have_text("amassado")
    # Keyboard: down to the hit, Enter opens it.
    page.locator("#search-input").press("ArrowDown")
    expect(hit).to_be_focused()
    page.keyboard.press("Enter")
    found = page.locator(f"#message-list li[data-id='{toolbox['order_line']}']")
    expect(found).to_have_attribute("data-found", "true")
    expect(found).to_be_in_viewport()
    # Older lines load on scrolling up from there; newer ones are there below it.
    expect(page.locator("#message-list li", has_text="history line 059")).to_have_count(1)

    other = new_page()
    login(other, demo.agent2)  # Maria is Alex's: nothing of hers for Bruno
    other.keyboard.press("Control+k")
    other.locator("#search-input").fill("amassado")
    expect(other.locator("#search-status")).to_have_text("Nothing found.")
    expect(other.locator(".search-hit")).to_have_count(0)


@scenario.off_loop
def earlier_conversation(demo):
    return factories.ConversationFactory(
        tenant=demo.tenant,
        contact=demo.maria.contact,
        whatsapp_account=demo.maria.whatsapp_account,
        assignee=demo.agent,
        status=ConversationStatus.RESOLVED,
        resolved_at=timezone.now() - timedelta(days=30),
        last_message_preview="Obrigada!",
        last_message_at=timezone.now() - timedelta(days=30),
    )


def test_contact_panel_notes_and_previous_conversations_as_a_sheet_at_phone_width(new_page, demo, toolbox):
    earlier = earlier_conversation(demo)
    page = new_page(viewport=PHONE)
    login(page, demo.agent)
    open_conversation(page, "Maria Silva")
    page.locator("#act-contact").click()
    panel = page.locator("#contact-panel")
    expect(panel).to_be_visible()
    box = panel.bounding_box()
    assert box["width"] == PHONE["width"] and box["y"] > 0, box  # a sheet from the bottom
    expect(page.locator("#contact-phone")).to_have_text(demo.maria.contact.phone)

    page.locator("#contact-note-text").fill("Prefere ser chamada pela manhã.")
    panel.get_by_role("button", name="Add a note").click()
    note = page.locator("#contact-notes li")
    expect(note).to_have_count(1)
    expect(note.locator(".contact-note-text")).to_have_text("Prefere ser chamada pela manhã.")
    expect(note.locator(".contact-note-meta")).to_contain_text("Alex Agent")
    assert ContactNote.objects.filter(contact=demo.maria.contact_id).count() == 1
    page.locator("#app-lang").select_option("pt")
    expect(panel.get_by_role("heading", name="Notas")).to_be_visible()
    expect(note.get_by_role("button", name="Excluir")).to_be_visible()
    shot(page, "toolbox-contact-phone-pt")
    page.locator("#app-lang").select_option("en")
    note.get_by_role("button", name="Delete").click()
    expect(note).to_have_count(0)
    assert not ContactNote.objects.filter(contact=demo.maria.contact_id).exists()

    # A number field stores a number.
    panel.get_by_label("Spent").fill("12.50")
    panel.get_by_role("button", name="Save").click()
    expect(page.locator("#contact-attrs-result")).to_have_text("Saved.")
    assert Contact.objects.get(pk=demo.maria.contact_id).custom_attributes["spent"] == 12.5

    previous = page.locator(f".contact-conversation[data-id='{earlier.pk}']")
    expect(previous).to_contain_text("Obrigada!")
    previous.click()
    page.wait_for_function(f"window.pytake.state.openId === {earlier.pk}")
    expect(page.locator("#act-reopen")).to_be_visible()  # the earlier one was resolved
    # The panel follows: the same contact, and the conversation left is now the previous one.
    expect(page.locator(f".contact-conversation[data-id='{demo.maria.pk}']")).to_be_visible()
    page.locator("#contact-close").click()
    expect(panel).to_be_hidden()
    expect(page.locator("#conversation")).to_be_visible()


def test_pending_snooze_and_transfer_with_a_note(new_page, demo, toolbox):
    alex = new_page()
    login(alex, demo.agent)
    bruno = new_page()
    login(bruno, demo.agent2)
    open_conversation(alex, "Maria Silva")

    alex.locator("#act-pending").click()
    expect(alex.locator("#conv-meta")).to_contain_text("Pending")
    expect(alex.locator("#act-pending")).to_be_hidden()
    expect(conversation_item(alex, "Maria Silva")).to_have_count(0)  # the list shows open ones
    assert Conversation.objects.get(pk=demo.maria.pk).status == ConversationStatus.PENDING

    alex.locator("#act-snooze").click()
    # Ten days from now at 10:30, in the browser's time zone, as the picker takes it.
    local = alex.evaluate(
        """(() => {
          const d = new Date(Date.now() + 10 * 86400000);
          const p = (n) => String(n).padStart(2, "0");
          return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T10:30`;
        })()"""
    )
    alex.locator("#snooze-until").fill(local)
    alex.locator("#snooze-custom").get_by_role("button", name="Snooze").click()
    expect(alex.locator("#conv-meta")).to_contain_text("Snoozed")
    conv = Conversation.objects.get(pk=demo.maria.pk)
    until = alex.evaluate(f"new Date('{local}').toISOString()")
    assert conv.status == ConversationStatus.SNOOZED and conv.snoozed_until.isoformat().startswith(until[:16])

    alex.locator("#act-snooze").click()
    alex.get_by_role("button", name="In 1 hour").click()
    alex.wait_for_function(f"window.pytake.state.open.snoozed_until.slice(0, 16) !== '{until[:16]}'")
    conv = Conversation.objects.get(pk=demo.maria.pk)
    left = conv.snoozed_until - timezone.now()
    assert timedelta(minutes=55) < left <= timedelta(hours=1), left

    alex.locator("#act-transfer").click()
    alex.locator("#transfer-to").select_option(label="Bruno Agent")
    alex.locator("#transfer-note").fill("Cliente VIP, pedido 48213")
    alex.locator("#transfer-form").get_by_role("button", name="Transfer").click()
    # Bruno has it now: gone from Alex's view, in Bruno's with the note.
    expect(alex.locator("#conversation")).to_be_hidden(timeout=LIVE)
    bruno.locator("#filter-status").select_option("")
    open_conversation(bruno, "Maria Silva")
    expect(bruno.locator(".msg-note .msg-text").last).to_have_text("Cliente VIP, pedido 48213")
    assert Conversation.objects.get(pk=demo.maria.pk).assignee_id == demo.agent2.pk


def test_bulk_label_and_resolve_from_the_list(new_page, demo, toolbox):
    page = new_page()
    login(page, demo.supervisor)
    page.locator("#bulk-toggle").click()
    expect(page.locator("#bulk-bar")).to_be_visible()
    expect(page.locator("#bulk-resolve")).to_be_disabled()
    page.get_by_label("Select John Carter").check()
    page.get_by_label("Select Lucia Souza").check()
    expect(page.locator("#bulk-count")).to_have_text("2 selected")
    page.locator("#bulk-label").select_option(label="Entrega")
    expect(page.locator("#bulk-result")).to_have_text("Done: 2. Not done: 0.")
    for name in ("John Carter", "Lucia Souza"):
        expect(conversation_item(page, name).locator(".label-chip")).to_have_text(["Entrega"], timeout=LIVE)
    expect(conversation_item(page, "Maria Silva").locator(".label-chip")).to_have_count(0)

    page.locator("#bulk-resolve").click()
    expect(page.locator(".conv-item .conv-name")).to_have_text(["Maria Silva"], timeout=LIVE)
    expect(page.locator("#bulk-count")).to_have_text("0 selected")
    statuses = set(Conversation.objects.filter(pk__in=[demo.john.pk, demo.lucia.pk]).values_list("status", flat=True))
    assert statuses == {ConversationStatus.RESOLVED}
    page.locator("#bulk-toggle").click()
    expect(page.locator("#bulk-bar")).to_be_hidden()
    expect(page.locator(".conv-select").first).to_be_hidden()


def test_keyboard_shortcuts(new_page, demo, toolbox):
    page = new_page()
    login(page, demo.supervisor)
    expect(page.locator(".conv-item")).to_have_count(3)

    # The queue's notices to waiting customers may reorder the list while the test runs, even
    # between reading it and the key: the rows as they were when the inbox handled the key
    # (recorded before its own handler, in the capture phase) say which one it had to open.
    page.evaluate(
        """() => window.addEventListener("keydown", () => {
          const rows = [...document.querySelectorAll(".conv-item")];
          window.rowsAtKey = {
            names: rows.map((row) => row.querySelector(".conv-name").textContent),
            open: rows.findIndex((row) => row.getAttribute("aria-current") === "true"),
          };
        }, true)"""
    )

    def press(key, step):
        before = page.locator("#conv-title").text_content() or ""
        page.keyboard.press(key)
        title = page.locator("#conv-title")
        if before:
            expect(title).not_to_have_text(before)
        else:
            expect(title).to_have_text(re.compile(r"\S"))
        opened = title.text_content()
        rows = page.evaluate("window.rowsAtKey")
        names, at = rows["names"], rows["open"]
        expected = names[0] if at < 0 else names[max(0, min(len(names) - 1, at + step))]
        assert opened == expected, (key, opened, rows)
        expect(composer(page)).to_be_focused()
        page.locator("#messages").focus()
        return opened

    press("j", 1)  # the first row, nothing being open
    press("j", 1)
    press("k", -1)
    # Alt+↓ works from the message box too.
    composer(page).focus()
    second = press("Alt+ArrowDown", 1)
    composer(page).focus()
    # In the box, letters are letters.
    composer(page).press_sequentially("jk")
    expect(composer(page)).to_have_value("jk")
    expect(page.locator("#conv-title")).to_have_text(second)

    page.locator("#messages").focus()
    page.keyboard.press("?")
    expect(page.locator("#shortcuts-dialog")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#shortcuts-dialog")).to_be_hidden()
    expect(page.locator("#conversation")).to_be_visible()

    page.locator("#messages").focus()
    page.keyboard.press("r")
    expect(composer(page)).to_be_focused()
    page.locator("#messages").focus()
    page.keyboard.press("e")
    expect(page.locator("#act-reopen")).to_be_visible()
    title = page.locator("#conv-title").text_content()
    assert Conversation.objects.get(contact__name=title).status == ConversationStatus.RESOLVED
    page.keyboard.press("Control+k")
    expect(page.locator("#search-input")).to_be_focused()


def test_a_mention_shows_a_desktop_notification_when_they_are_on(new_page, demo, toolbox):
    bruno = new_page()
    # The browser's notifications, recorded: permission granted, each one kept in a list.
    bruno.add_init_script(
        """
        localStorage.setItem("pytake.notify", "1");
        window.shown = [];
        window.Notification = class {
          static permission = "granted";
          static requestPermission() { return Promise.resolve("granted"); }
          constructor(title, options) { window.shown.push({ title, body: options.body }); }
          close() {}
        };
        """
    )
    login(bruno, demo.agent2)
    alex = new_page()
    login(alex, demo.agent)
    open_conversation(alex, "Maria Silva")
    alex.locator("#note-toggle").click()
    composer(alex).fill("@bruno veja isto")
    composer(alex).press("Enter")
    bruno.wait_for_function("window.shown.length === 1", timeout=LIVE)
    assert bruno.evaluate("window.shown[0]") == {"title": "Alex Agent mentioned you", "body": "@bruno veja isto"}
    expect(bruno.locator("#mentions-count")).to_have_text("1")
    # Read on another device: the count follows.
    bruno.locator("#mentions-toggle").click()
    bruno.locator("#mentions-read-all").click()
    expect(bruno.locator("#mentions-count")).to_be_hidden()


def test_agents_keep_their_own_saved_replies_and_supervisors_the_teams(new_page, demo, toolbox):
    page = new_page()
    login(page, demo.agent)
    page.locator("#saved-open").click()
    dialog = page.locator("#saved-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#saved-list li")).to_have_count(2)
    expect(page.locator("#saved-scope-wrap")).to_be_hidden()  # agents save their own only
    # The team's replies are not theirs to delete.
    expect(dialog.locator("#saved-list li[data-short-code='ola'] .saved-delete")).to_be_hidden()

    page.locator("#saved-code").fill("track")
    page.locator("#saved-content").fill("Seu código de rastreio, {{contact.email}}: ")
    dialog.get_by_role("button", name="Save").click()
    expect(page.locator("#saved-error")).to_contain_text("contact.email")
    page.locator("#saved-content").fill("{{contact.first_name}}, seu código de rastreio é ")
    dialog.get_by_role("button", name="Save").click()
    expect(dialog.locator("#saved-list li[data-short-code='track']")).to_contain_text("mine")
    reply = SavedReply.objects.get(short_code="track")
    assert reply.owner_id == demo.agent.pk and reply.scope == "personal"
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    open_conversation(page, "Maria Silva")
    composer(page).press_sequentially("/tr")
    expect(page.locator("#composer-suggest li")).to_have_text([re.compile("/track")])
    composer(page).press("Enter")
    expect(composer(page)).to_have_value("Maria, seu código de rastreio é")

    page.locator("#saved-open").click()
    dialog.locator("#saved-list li[data-short-code='track']").get_by_role("button", name="Delete").click()
    expect(dialog.locator("#saved-list li")).to_have_count(2)
    assert not SavedReply.objects.filter(short_code="track").exists()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    boss = new_page()
    login(boss, demo.supervisor)
    boss.locator("#saved-open").click()
    expect(boss.locator("#saved-scope-wrap")).to_be_visible()
    boss.locator("#saved-code").fill("horario")
    boss.locator("#saved-content").fill("Atendemos das 9h às 18h.")
    boss.locator("#saved-scope").select_option("tenant")
    boss.locator("#saved-dialog").get_by_role("button", name="Save").click()
    expect(boss.locator("#saved-list li[data-short-code='horario']")).to_contain_text("team")
    # The agent's next "/" offers it.
    composer(page).fill("")
    composer(page).press_sequentially("/hor")
    expect(page.locator("#composer-suggest li")).to_have_count(1, timeout=LIVE)
