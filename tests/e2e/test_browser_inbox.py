"""The agent inbox in Chromium against a real server (uvicorn) on PostgreSQL and Redis: login, list,
history, live messages and ticks, assignment seen by others, and a server restart survived."""

import os
import re
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from django.utils import timezone
from playwright.sync_api import expect

from conversations.models import Conversation, ConversationStatus, Message
from flow import assignment
from realtime.broadcast import broadcast_send
from tests.browser import scenario

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.redis]

LIVE = 30_000  # ms: generous, so a loaded CI machine fails only on what is really broken
SHOTS = Path(os.environ.get("PYTAKE_SCREENSHOTS_DIR", "artifacts/screenshots"))


def shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def login(page, user, *, shot_name=None):
    page.goto("/")
    expect(page.get_by_label("Email")).to_be_visible()
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(scenario.PASSWORD)
    if shot_name:
        shot(page, shot_name)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#conn")).to_have_attribute("data-state", "open", timeout=LIVE)
    # Marker that disappears if the page reloads: "live" must mean without a reload.
    page.evaluate("window.__noReload = true")


def conversation_item(page, name):
    return page.locator(".conv-item", has_text=name)


def open_conversation(page, name):
    """Open ``name`` from the list. Right after sign-in the first pages and the queue's notices
    arrive, and a row may move under the click (a click on a row that moves opens nothing, as a
    person would see): click again until it opens."""
    deadline = time.monotonic() + 15
    while True:
        conversation_item(page, name).click()
        try:
            expect(page.locator("#conv-title")).to_have_text(name, timeout=2500)
            break
        except AssertionError:
            if time.monotonic() > deadline:
                raise
    expect(page.locator("#history-status")).not_to_have_text("Loading messages…")


def assert_not_reloaded(page):
    assert page.evaluate("window.__noReload === true")


def hold_answers(page, url, *, first_only=False, skip=0, after_read=None):
    """Requests to ``url`` are read by the server at once, but the page hears each answer only
    when the test releases it (``release``): a late answer, made to order. ``first_only``: later
    requests pass; ``skip``: so do the first ``skip``. ``after_read``: called once a request has
    been read."""
    held = []
    seen = []

    def handler(route):
        seen.append(route)
        if len(seen) <= skip or (first_only and held):
            route.continue_()
            return
        held.append((route, route.fetch()))
        if after_read:
            after_read()
        # What the read caused (live events) can reach the page before this handler has the answer.
        page.evaluate("window.heldAnswers = (window.heldAnswers || 0) + 1")

    page.route(url, handler)
    return held


def release(page, held, *, nth):
    """Deliver the ``nth`` answer held on ``page`` (counting from 1, over all its hold_answers)."""
    page.wait_for_function(f"window.heldAnswers === {nth}", timeout=LIVE)
    route, answer = held.pop()
    route.fulfill(response=answer)


def assert_on_one_row(*locators):
    """The elements stand on one row (their vertical centres within a few pixels)."""
    centres = [box["y"] + box["height"] / 2 for box in (locator.bounding_box() for locator in locators)]
    assert max(centres) - min(centres) < 8, centres


def test_agent_logs_in_and_sees_the_seeded_conversations(new_page, demo):
    page = new_page()
    page.goto("/")
    page.get_by_label("Email").fill(demo.agent.email)
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#login-error")).to_have_text("Wrong email or password.")

    scenario.bot_conversation(demo, "Pedro Alves", "Qual o prazo de entrega?")
    login(page, demo.agent, shot_name="login")
    expect(page.locator("#me-name")).to_have_text("Alex Agent")
    expect(page.locator("#me-role")).to_have_text("Agent")
    # "Mine" by default for an agent: Maria is assigned to them; the others wait in the queue.
    expect(page.locator(".conv-item")).to_have_count(1)
    expect(conversation_item(page, "Maria Silva")).to_contain_text("Oi Maria, vou verificar.")
    # Unassigned: the bot's conversations and those waiting for an agent, each saying which.
    page.get_by_role("tab", name="Unassigned").click()
    expect(page.locator(".conv-item")).to_have_count(3)
    expect(conversation_item(page, "John Carter").locator(".unread")).to_have_text("1")
    expect(conversation_item(page, "John Carter").locator(".conv-item-tags")).to_have_text(
        "WhatsApp · Waiting for an agent"
    )
    expect(conversation_item(page, "Pedro Alves").locator(".conv-item-tags")).to_have_text("WhatsApp · With the bot")
    expect(page.get_by_role("tab", name="All")).to_be_hidden()  # supervisors only
    # The waiting panel: those waiting for an agent, first in line first, with how long they have waited.
    expect(page.get_by_role("heading", name="Waiting for an agent")).to_be_visible()
    expect(page.locator("#queue-list li .queue-name")).to_have_text(["John Carter", "Lucia Souza"])
    expect(page.locator("#queue-list li .queue-pos")).to_have_text(["#1", "#2"])
    wait = page.locator("#queue-list li .queue-wait").first
    expect(wait).to_have_text(re.compile(r"^2 h \d+ min$"))  # the heading says what the time is
    expect(wait).to_have_attribute("title", re.compile(r"^waiting 2 h"))

    open_conversation(page, "John Carter")
    expect(page.locator(".msg-in .msg-text")).to_have_text(["Hi, can I change my delivery address?"])
    # Opening it marks it read, which the list shows without a reload.
    expect(conversation_item(page, "John Carter").locator(".unread")).to_be_hidden()
    assert Conversation.objects.get(pk=demo.john.pk).unread_count == 0
    expect(page.locator(f"#agent-list [data-user-id='{demo.agent.pk}']")).to_have_attribute("data-presence", "online")

    # Portuguese, from the switch, without reloading.
    page.locator("#app-lang").select_option("pt")
    expect(page.get_by_role("tab", name="Sem atendente")).to_be_visible()
    expect(page.get_by_role("heading", name="Aguardando atendente")).to_be_visible()
    expect(conversation_item(page, "Pedro Alves").locator(".conv-item-tags")).to_have_text("WhatsApp · Com o bot")
    expect(conversation_item(page, "Lucia Souza").locator(".conv-item-tags")).to_have_text(
        "WhatsApp · Aguardando atendente"
    )
    expect(page.locator("#conn-text")).to_have_text("Ao vivo")
    expect(page.locator("#me-role")).to_have_text("Atendente")
    expect(wait).to_have_attribute("title", re.compile(r"^aguardando há 2 h"), timeout=LIVE)  # at the next tick
    names_cut = (
        "[...document.querySelectorAll('#queue-list .queue-name')].some((el) => el.scrollWidth > el.clientWidth)"
    )
    assert not page.evaluate(names_cut)  # the waiting customers' names are read whole
    page.locator("#app-lang").select_option("en")
    expect(page.locator("#me-role")).to_have_text("Agent")
    assert_not_reloaded(page)


def test_a_click_on_a_row_survives_the_list_being_drawn_again(new_page, demo):
    """A live update draws the list again between the press and the release of the agent's click
    on a row that keeps its place: the click opens the conversation. (Chromium drops a click whose
    row was taken out of the document and put back meanwhile, which drawing every row again did.)"""
    page = new_page()
    login(page, demo.agent)
    page.get_by_role("tab", name="Unassigned").click()
    waiting = {"John Carter": demo.john, "Lucia Souza": demo.lucia}
    for name in waiting:  # the queue's notices of their place have moved the rows already
        expect(conversation_item(page, name)).to_contain_text("na fila", timeout=LIVE)
    names = page.locator(".conv-item .conv-name")
    expect(names).to_have_count(2)
    top, below = names.all_inner_texts()

    box = conversation_item(page, below).bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    scenario.customer_writes(waiting[top], "Ainda estão aí?")  # the top row stays on top
    expect(conversation_item(page, top)).to_contain_text("Ainda estão aí?", timeout=LIVE)
    page.mouse.up()
    expect(page.locator("#conv-title")).to_have_text(below)


def test_history_scrolls_up_through_the_cursor_api(new_page, demo):
    # Maria's conversation is assigned: no queue notice ("you are number 2") can join the page
    # while it loads. On Lucia's, queued, one arriving live made the first page 41 (CI, 23:58).
    scenario.history(demo.maria, 50)
    page = new_page()
    login(page, demo.supervisor)
    open_conversation(page, "Maria Silva")
    history = page.locator("#message-list .msg", has_text="history line")
    expect(page.locator("#message-list .msg")).to_have_count(40)  # the newest page
    expect(page.locator("#history-status")).to_have_text("")  # more above
    first_page = history.count()
    assert 30 <= first_page < 50
    page.locator("#messages").evaluate("el => el.scrollTop = 0")
    expect(history).to_have_count(50)
    expect(page.locator("#history-status")).to_have_text("Start of the conversation")
    # Stored after the demo's two messages (with older times): the order is the order of storing.
    expect(page.locator("#message-list .msg").first).to_contain_text("Olá! Meu pedido ainda não chegou.")
    texts = page.locator("#message-list .msg .msg-text").all_inner_texts()
    assert texts[:2] == ["Olá! Meu pedido ainda não chegou.", "Oi Maria, vou verificar."]
    assert texts[2:52] == [f"history line {n:03d}" for n in range(50)]  # in order, once each


NOTIFICATION_SPY = """
window.__notes = [];
window.Notification = class {
  static permission = "granted";
  static requestPermission() { return Promise.resolve("granted"); }
  constructor(title, options) { window.__notes.push({ title, body: options.body }); }
  close() {}
};
"""


def test_inbound_message_appears_live_and_the_reply_ticks_advance(new_page, demo):
    page = new_page()
    page.add_init_script(NOTIFICATION_SPY)  # records desktop notifications instead of showing them
    login(page, demo.agent)
    page.get_by_role("button", name="Notifications off").click()
    expect(page.locator("#notify-toggle")).to_have_attribute("aria-pressed", "true")
    open_conversation(page, "Maria Silva")

    scenario.customer_writes(demo.maria, "Chegou! Obrigada")
    incoming = page.locator(".msg-in", has_text="Chegou! Obrigada")
    expect(incoming).to_be_visible(timeout=LIVE)
    expect(conversation_item(page, "Maria Silva")).to_contain_text("Chegou! Obrigada")
    # The pane is open and visible: the agent has read it.
    expect(conversation_item(page, "Maria Silva").locator(".unread")).to_be_hidden()

    # A customer in a conversation that is not open: the list moves it up, with a badge.
    page.get_by_role("tab", name="Unassigned").click()
    expect(page.locator(".conv-item").first).to_contain_text("Lucia Souza")
    # The agent coming online ran a queue pass (at the end of its presence window), which told
    # the waiting customers their place: wait for it, so that the notification below is John's.
    expect(conversation_item(page, "John Carter")).to_contain_text("na fila", timeout=LIVE)
    scenario.customer_writes(demo.john, "Hello? Anyone there?")
    expect(page.locator(".conv-item").first).to_contain_text("John Carter", timeout=LIVE)
    expect(conversation_item(page, "John Carter").locator(".unread")).to_have_text("2")
    # ...and, opted in, a desktop notification for it (not for Maria's, which was open).
    page.wait_for_function("window.__notes.length > 0")
    assert page.evaluate("window.__notes") == [
        {"title": "New message from John Carter", "body": "Hello? Anyone there?"}
    ]

    # The reply: an optimistic bubble, replaced by the server's message, then the ticks advance.
    page.get_by_role("textbox", name="Message").fill("Que bom, Maria!")
    page.get_by_role("textbox", name="Message").press("Enter")
    reply = page.locator(".msg-out", has_text="Que bom, Maria!")
    expect(reply).to_have_count(1)
    expect(reply).to_have_attribute("data-id", re.compile(r"^\d+$"))
    message = Message.objects.get(content__text="Que bom, Maria!")
    assert message.client_id and message.sender_id == demo.agent.pk
    expect(reply).to_have_attribute("data-status", re.compile("pending|sent"))
    # The built-in simulator reports sent, delivered, read by signed webhooks; the helper plays the
    # same callbacks (a no-op for a status already reached) so each step is seen whatever the timing.
    for status, reached in [("sent", "sent|delivered|read"), ("delivered", "delivered|read"), ("read", "read")]:
        scenario.meta_reports(message.pk, status)
        expect(reply).to_have_attribute("data-status", re.compile(f"^({reached})$"), timeout=LIVE)
    expect(reply.locator(".tick")).to_have_attribute("aria-label", "Read")
    expect(reply).to_have_count(1)

    # An internal note: shown as a note, stored as internal, never a reply with ticks.
    # Its live message.new reaching the page before the POST's answer (held here) is the same
    # bubble, not a second one.
    held = hold_answers(page, "**/api/conversations/*/notes/")
    page.get_by_role("button", name="Internal note").click()
    page.get_by_role("textbox", name="Message").fill("Carrier says Friday")
    page.get_by_role("textbox", name="Message").press("Enter")
    note = page.locator(".msg-note", has_text="Carrier says Friday")
    expect(note).to_have_attribute("data-id", re.compile(r"^\d+$"), timeout=LIVE)
    expect(note).to_have_count(1)
    release(page, held, nth=1)
    page.unroute("**/api/conversations/*/notes/")
    expect(note.locator(".msg-sender")).to_have_text("Internal note · Alex Agent")
    expect(note).to_have_count(1)
    assert Message.objects.get(content__text="Carrier says Friday").internal
    page.get_by_role("button", name="Internal note").click()
    shot(page, "inbox")
    assert_not_reloaded(page)


def test_a_customer_on_the_simulator_phone_and_an_agent_talk_live(new_page, demo):
    """The whole path: the phone page posts a signed webhook, the server stores the message and
    publishes it; the agent's reply goes through the Graph API (the built-in simulator), whose
    status callbacks move the ticks."""
    inbox = new_page()
    login(inbox, demo.agent)
    open_conversation(inbox, "Maria Silva")

    phone = new_page(viewport={"width": 900, "height": 800})
    phone.goto("/simulator/phone/")
    phone.locator("#new-wa-id").fill(demo.maria.contact.wa_id)
    phone.locator("#new-name").fill("Maria Silva")
    phone.get_by_role("button", name="Use").click()
    expect(phone.locator("#conn")).to_have_class(re.compile(r"\blive\b"), timeout=LIVE)
    phone.get_by_label("Message").fill("Oi! Alguma novidade do pedido?")
    phone.get_by_role("button", name="Send").click()

    expect(inbox.locator(".msg-in", has_text="Alguma novidade do pedido?")).to_be_visible(timeout=LIVE)
    inbox.get_by_role("textbox", name="Message").fill("Sai para entrega hoje!")
    inbox.get_by_role("textbox", name="Message").press("Enter")
    reply = inbox.locator(".msg-out", has_text="Sai para entrega hoje!")
    expect(phone.locator("#thread", has_text="Sai para entrega hoje!")).to_be_visible(timeout=LIVE)
    # sent → delivered → read, from the simulator's signed callbacks.
    expect(reply).to_have_attribute("data-status", "read", timeout=20_000)
    expect(reply).to_have_count(1)
    expect(inbox.locator(".msg-in", has_text="Alguma novidade do pedido?")).to_have_count(1)
    shot(phone, "simulator-phone")
    assert_not_reloaded(inbox)


def test_a_failed_message_explains_the_24_hour_window(new_page, demo, asgi_server):
    # The simulator answers the next send to Maria as Meta does outside the window (error 131047).
    # (Scoped to her number: the queue also writes to the customers waiting.)
    fault = {"kind": "outside_window", "count": 1, "wa_id": demo.maria.contact.wa_id}
    armed = httpx.post(f"{asgi_server.url}/simulator/faults", json=fault, timeout=10)
    assert armed.status_code == 201, armed.text
    page = new_page()
    login(page, demo.agent)
    open_conversation(page, "Maria Silva")
    page.get_by_role("textbox", name="Message").fill("Are you still there?")
    page.get_by_role("button", name="Send").click()
    reply = page.locator(".msg-out", has_text="Are you still there?")
    expect(reply).to_have_attribute("data-status", "failed", timeout=20_000)
    expect(reply.locator(".msg-error")).to_contain_text("more than 24 hours")
    assert Message.objects.get(content__text="Are you still there?").error_code == 131047


def test_two_agents_see_each_others_assignment_live(new_page, demo):
    alex, bruno, sofia = new_page(), new_page(), new_page()
    login(alex, demo.agent)
    login(bruno, demo.agent2)
    login(sofia, demo.supervisor)
    for page in (alex, bruno):
        page.get_by_role("tab", name="Unassigned").click()
        expect(conversation_item(page, "John Carter")).to_be_visible()
    expect(conversation_item(sofia, "John Carter")).to_contain_text("Waiting for an agent")
    # The supervisor sees each agent's load (open conversations); agents do not.
    alex_load = sofia.locator(f"#agent-list [data-user-id='{demo.agent.pk}'] .agent-load")
    bruno_load = sofia.locator(f"#agent-list [data-user-id='{demo.agent2.pk}'] .agent-load")
    expect(alex_load).to_have_text("1 open")
    expect(bruno_load).to_have_text("0 open")
    expect(alex.locator("#agent-list .agent-load").first).to_be_hidden()

    # Alex takes John from the queue panel: it leaves Bruno's queue, and the supervisor sees who
    # has it.
    expect(bruno.locator("#queue-list li")).to_have_count(2)
    alex.get_by_role("button", name="Take: John Carter").click()
    expect(alex.locator("#conv-title")).to_have_text("John Carter")
    expect(alex.locator("#conv-meta")).to_contain_text("Assigned to you")
    expect(conversation_item(bruno, "John Carter")).to_have_count(0, timeout=LIVE)
    expect(bruno.locator("#queue-list li .queue-name")).to_have_text(["Lucia Souza"], timeout=LIVE)
    expect(conversation_item(sofia, "John Carter")).to_contain_text("Alex Agent", timeout=LIVE)
    expect(alex_load).to_have_text("2 open", timeout=LIVE)  # kept live: Maria and now John
    alex.get_by_role("tab", name="Mine").click()
    expect(conversation_item(alex, "John Carter")).to_be_visible()
    # The history records it as an event line, not as a message to the customer, in the viewer's
    # language (the tenant's is Portuguese: the stored text says "assumiu a conversa").
    line = alex.locator(".msg-system", has_text="Alex Agent took the conversation.")
    expect(line).to_be_visible(timeout=LIVE)

    # The supervisor transfers Lucia to Bruno: it appears in Bruno's "Mine" without a reload,
    # and leaves Alex's queue.
    alex.get_by_role("tab", name="Unassigned").click()
    expect(conversation_item(alex, "Lucia Souza")).to_be_visible()
    bruno.get_by_role("tab", name="Mine").click()
    expect(bruno.locator(".conv-item")).to_have_count(0)
    open_conversation(sofia, "Lucia Souza")
    # A choice in the list is only a question until confirmed; cancelled, nothing is sent.
    assign_requests = []
    sofia.on("request", lambda request: assign_requests.append(request.url) if "/assign/" in request.url else None)
    sofia.get_by_label("Assign to").select_option(label="Bruno Agent")
    confirm = sofia.get_by_role("alertdialog")
    expect(confirm).to_contain_text("Assign Lucia Souza to Bruno Agent?")
    sofia.get_by_role("button", name="Cancel").click()
    expect(confirm).to_be_hidden()
    expect(sofia.get_by_label("Assign to")).to_have_value("")  # nobody has her yet
    assert assign_requests == []
    sofia.get_by_label("Assign to").select_option(label="Bruno Agent")
    sofia.get_by_role("button", name="Confirm").click()
    expect(confirm).to_be_hidden()
    expect(conversation_item(bruno, "Lucia Souza")).to_be_visible(timeout=LIVE)
    expect(bruno_load).to_have_text("1 open", timeout=LIVE)
    expect(conversation_item(alex, "Lucia Souza")).to_have_count(0, timeout=LIVE)
    for page in (sofia, alex, bruno):  # assigned: nobody waits any more
        expect(page.locator("#queue-list li")).to_have_count(0, timeout=LIVE)
    expect(sofia.locator("#act-take")).to_have_text("Take over")  # Bruno's now: she would take it from him
    assert_on_one_row(sofia.locator(".topbar .brand"), sofia.locator("#logout"))  # one row at 1280 px
    shot(sofia, "supervisor")

    # Typing is shown to the others in the conversation.
    open_conversation(bruno, "Lucia Souza")
    sofia.get_by_role("textbox", name="Message").press_sequentially("Bruno, ")
    expect(bruno.locator("#typing")).to_have_text("Sofia Supervisor is typing…", timeout=LIVE)
    # A supervisor's announcement reaches everyone.
    scenario.call(broadcast_send, user=demo.supervisor, text="Team meeting at 5")
    for page in (alex, bruno):
        expect(page.locator("#broadcast")).to_contain_text("Sofia Supervisor: Team meeting at 5", timeout=LIVE)

    # Presence: Bruno is online in the team list; Alex going away shows on the supervisor's.
    alex_row = sofia.locator(f"#agent-list [data-user-id='{demo.agent.pk}']")
    expect(sofia.locator(f"#agent-list [data-user-id='{demo.agent2.pk}']")).to_have_attribute("data-presence", "online")
    expect(alex_row).to_have_attribute("data-presence", "online")
    alex.get_by_label("Availability").select_option("away")
    expect(alex_row).to_have_attribute("data-presence", "away", timeout=LIVE)
    for page in (alex, bruno, sofia):
        assert_not_reloaded(page)


def test_resolve_and_reopen_on_a_phone_in_portuguese(new_page, demo):
    # navigator.language pt-BR picks Portuguese; a phone-sized screen shows one column at a time.
    page = new_page(locale="pt-BR", viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page.goto("/")
    expect(page.get_by_role("button", name="Entrar")).to_be_visible()
    page.get_by_label("E-mail").fill(demo.agent.email)
    page.get_by_label("Senha").fill(scenario.PASSWORD)
    page.get_by_role("button", name="Entrar").click()
    expect(page.locator("#conn")).to_have_attribute("data-state", "open", timeout=LIVE)
    # The top bar keeps two rows: the name and role make room for the language, availability, exit.
    expect(page.locator("#me-role")).to_be_hidden()
    assert_on_one_row(page.locator("#app-lang"), page.get_by_role("button", name="Sair"))
    conversation_item(page, "Maria Silva").click()
    expect(page.locator("#conv-list")).to_be_hidden()  # the pane replaces the list
    expect(page.locator(".msg-in .msg-text")).to_have_text(["Olá! Meu pedido ainda não chegou."])
    # The message box has the phone's width to itself; the bell keeps its words as its name.
    assert page.locator("#composer-text").bounding_box()["width"] > 0.8 * 390
    # Icons are drawn, not emoji: a machine without an emoji font showed the paperclip as a box.
    expect(page.locator("#composer .attach svg")).to_be_visible()
    expect(page.get_by_role("button", name="Respostas prontas").locator("svg")).to_be_visible()
    expect(page.get_by_role("button", name="Notificações desativadas")).to_be_visible()
    shot(page, "phone-pt")
    page.get_by_role("button", name="Resolver").click()
    expect(page.locator("#conv-meta")).to_contain_text("Resolvida")
    assert Conversation.objects.get(pk=demo.maria.pk).status == ConversationStatus.RESOLVED
    page.get_by_role("button", name="Reabrir").click()
    expect(page.locator("#conv-meta")).to_contain_text("Aberta")
    assert Conversation.objects.get(pk=demo.maria.pk).status == ConversationStatus.OPEN
    page.get_by_role("button", name="Voltar para a lista").click()
    expect(conversation_item(page, "Maria Silva")).to_be_visible()


def test_an_older_copy_of_a_conversation_never_replaces_a_newer_one(new_page, demo):
    """REST answers and live events race. An action's answer that arrives after the events of a
    later action, and a list page read before an event and delivered after it, must not bring
    the older state back (CI once saw Maria vanish from her list after resolve and reopen)."""
    page = new_page()
    login(page, demo.agent)
    open_conversation(page, "Maria Silva")
    held = hold_answers(page, "**/api/conversations/*/resolve/")
    page.get_by_role("button", name="Resolve").click()
    expect(page.locator("#conv-meta")).to_contain_text("Resolved", timeout=LIVE)  # the live event
    page.get_by_role("button", name="Reopen").click()
    expect(page.locator("#conv-meta")).to_contain_text("Open", timeout=LIVE)
    expect(page.locator("#conv-actions")).to_have_attribute("aria-busy", "true")  # resolve's answer held
    release(page, held, nth=1)
    expect(page.locator("#conv-actions")).to_have_attribute("aria-busy", "false", timeout=LIVE)
    expect(page.locator("#conv-meta")).to_contain_text("Open")
    expect(conversation_item(page, "Maria Silva")).to_be_visible()

    # A list page read while Maria is open, delivered after the event of her resolution.
    held = hold_answers(
        page,
        re.compile(r"/api/conversations/\?"),
        after_read=lambda: scenario.call(
            assignment.conversation_resolve, conversation=demo.maria, actor=demo.supervisor
        ),
    )
    page.locator("#filter-search").fill("Maria")
    expect(page.locator("#conv-meta")).to_contain_text("Resolved", timeout=LIVE)
    release(page, held, nth=2)
    expect(page.locator("#conv-list")).to_have_attribute("aria-busy", "false", timeout=LIVE)
    expect(conversation_item(page, "Maria Silva")).to_have_count(0)  # the open filter: resolved is out
    assert Conversation.objects.get(pk=demo.maria.pk).status == ConversationStatus.RESOLVED


def test_a_late_answer_never_puts_an_older_queue_back(new_page, demo):
    """Two reads of the queue in flight: the first, read before the last conversation was
    assigned, answers after the second. The page keeps the second (nobody waiting)."""
    page = new_page()
    login(page, demo.agent)
    expect(page.locator("#queue-list li")).to_have_count(2)
    held = hold_answers(page, "**/api/queue/", first_only=True)
    scenario.call(assignment.conversation_assign, conversation=demo.john, assignee=demo.agent2, actor=demo.supervisor)
    page.wait_for_function("window.heldAnswers === 1", timeout=LIVE)  # read while Lucia waited
    scenario.call(assignment.conversation_assign, conversation=demo.lucia, assignee=demo.agent2, actor=demo.supervisor)
    expect(page.locator("#queue-list li")).to_have_count(0, timeout=LIVE)
    release(page, held, nth=1)
    expect(page.locator("#queue-list")).to_have_attribute("aria-busy", "false", timeout=LIVE)
    expect(page.locator("#queue-list li")).to_have_count(0)
    expect(page.locator("#queue-size")).to_have_text("0")


def test_a_late_team_list_never_undoes_a_newer_presence_change(new_page, demo):
    """The team list is read again after a reconnect; Bruno going away while that answer is on
    its way must not be undone by it."""
    alex, bruno = new_page(), new_page()
    login(alex, demo.agent)
    login(bruno, demo.agent2)
    bruno_row = alex.locator(f"#agent-list [data-user-id='{demo.agent2.pk}']")
    expect(bruno_row).to_have_attribute("data-presence", "online", timeout=LIVE)
    held = hold_answers(alex, "**/api/agents/", first_only=True)
    alex.evaluate("pytake.rt.ws.close(4000, 'test drop')")  # the resume reads the team again
    alex.wait_for_function("window.heldAnswers === 1", timeout=LIVE)  # read while Bruno was online
    bruno.get_by_label("Availability").select_option("away")
    expect(bruno_row).to_have_attribute("data-presence", "away", timeout=LIVE)
    release(alex, held, nth=1)
    expect(alex.locator("#agent-list")).to_have_attribute("aria-busy", "false", timeout=LIVE)
    expect(bruno_row).to_have_attribute("data-presence", "away")


def test_a_server_restart_is_survived_without_losing_or_doubling_a_message(new_page, demo, asgi_server):
    page = new_page()
    login(page, demo.agent)
    open_conversation(page, "Maria Silva")
    scenario.customer_writes(demo.maria, "before the restart")
    expect(page.locator(".msg-in", has_text="before the restart")).to_be_visible(timeout=LIVE)

    asgi_server.stop()
    expect(page.locator("#conn")).not_to_have_attribute("data-state", "open", timeout=LIVE)
    shot(page, "reconnecting")
    # Written while the browser has no connection: no socket can receive it live.
    scenario.customer_writes(demo.maria, "while you were away")
    asgi_server.start()

    expect(page.locator("#conn")).to_have_attribute("data-state", "open", timeout=40_000)
    missed = page.locator(".msg-in", has_text="while you were away")
    expect(missed).to_be_visible(timeout=LIVE)
    scenario.customer_writes(demo.maria, "after the restart")
    expect(page.locator(".msg-in", has_text="after the restart")).to_be_visible(timeout=LIVE)
    for text in ("before the restart", "while you were away", "after the restart"):
        expect(page.locator(".msg-in", has_text=text)).to_have_count(1)
    assert_not_reloaded(page)


def test_a_read_that_failed_while_offline_is_made_when_the_connection_returns(new_page, demo):
    """The agent looks at the conversation when the customer writes, but marking it read fails
    (the network is down): once the socket is back, it is marked read without another message."""
    page = new_page()
    login(page, demo.agent)
    open_conversation(page, "Maria Silva")
    page.route("**/api/conversations/*/read/", lambda route: route.abort("internetdisconnected"))
    with page.expect_event("requestfailed", lambda request: "/read/" in request.url):
        scenario.customer_writes(demo.maria, "are you there?")
    page.unroute("**/api/conversations/*/read/")
    badge = conversation_item(page, "Maria Silva").locator(".unread")
    expect(badge).to_have_text("1")
    assert Conversation.objects.get(pk=demo.maria.pk).unread_count == 1
    page.evaluate("pytake.rt.ws.close(4000, 'test drop')")
    expect(badge).to_be_hidden(timeout=LIVE)
    assert Conversation.objects.get(pk=demo.maria.pk).unread_count == 0


def test_a_socket_closed_under_the_page_resumes(new_page, demo):
    page = new_page()
    login(page, demo.agent)
    open_conversation(page, "Maria Silva")
    # Drop the socket the way a proxy or a flaky network does; the client must come back alone.
    page.evaluate("pytake.rt.ws.close(4000, 'test drop')")
    scenario.customer_writes(demo.maria, "during the drop")
    expect(page.locator("#conn")).to_have_attribute("data-state", "open", timeout=LIVE)
    expect(page.locator(".msg-in", has_text="during the drop")).to_have_count(1, timeout=LIVE)


def test_messages_and_conversations_of_the_same_second_keep_the_servers_order(new_page, demo):
    """WhatsApp's times are whole seconds ("…:37Z"), PyTake's have microseconds ("…:37.840697Z"),
    and as text "." sorts before "Z": compared as strings, a customer's "Oi" went below the reply
    it caused, and a conversation active at :37 above one active at :37.84."""
    # John assigned: no queue notice of his place moves his conversation while the test runs.
    scenario.call(assignment.conversation_assign, conversation=demo.john, assignee=demo.agent2, actor=demo.supervisor)
    page = new_page()
    login(page, demo.supervisor)
    open_conversation(page, "Maria Silva")
    second = timezone.now().replace(microsecond=0) + timedelta(seconds=1)
    scenario.message_at(demo.maria, "Oi", inbound=True, at=second)
    scenario.message_at(
        demo.maria, "Olá! Como posso ajudar?", inbound=False, at=second + timedelta(microseconds=840697)
    )
    scenario.message_at(demo.john, "Hello?", inbound=True, at=second)
    texts = page.locator("#message-list .msg-in, #message-list .msg-out").locator(".msg-text")
    in_order = ["Olá! Meu pedido ainda não chegou.", "Oi Maria, vou verificar.", "Oi", "Olá! Como posso ajudar?"]
    maria_above_john = re.compile(r"Maria Silva[\s\S]*John Carter")
    expect(conversation_item(page, "John Carter")).to_contain_text("Hello?", timeout=LIVE)
    expect(texts).to_have_text(in_order, timeout=LIVE)
    expect(page.locator("#conv-list")).to_have_text(maria_above_john)

    page.reload()  # the same from the history and the list pages
    expect(page.locator("#conn")).to_have_attribute("data-state", "open", timeout=LIVE)
    expect(conversation_item(page, "John Carter")).to_contain_text("Hello?")
    expect(page.locator("#conv-list")).to_have_text(maria_above_john)
    open_conversation(page, "Maria Silva")
    expect(texts).to_have_text(in_order)


def test_a_supervisor_with_a_long_list_has_the_team_in_view_and_confirms_a_transfer_in_portuguese(new_page, demo):
    """At 1440×900 the list scrolls on its own: the team and the announcement box stay in view.
    A transfer asks first, in the page's language; Escape cancels it and keeps the pane open."""
    for n in range(14):
        scenario.bot_conversation(demo, f"Cliente {n:02d}", "Olá, tudo bem?")
    page = new_page(viewport={"width": 1440, "height": 900})
    login(page, demo.supervisor)
    page.locator("#app-lang").select_option("pt")
    expect(page.locator(".conv-item")).to_have_count(17)
    expect(page.get_by_label("Aviso para a equipe")).to_be_in_viewport(ratio=1)
    expect(page.get_by_role("button", name="Avisar")).to_be_in_viewport(ratio=1)
    assert_on_one_row(page.locator(".topbar .brand"), page.locator("#logout"))
    expect(page.locator(f"#agent-list [data-user-id='{demo.agent.pk}'] .agent-load")).to_have_text("1 em aberto")

    conversation_item(page, "Maria Silva").click()
    expect(page.locator("#conv-title")).to_have_text("Maria Silva")
    expect(page.locator(".msg-in .msg-text")).to_have_text(["Olá! Meu pedido ainda não chegou."])
    page.get_by_label("Atribuir a").select_option(label="Bruno Agent")
    confirm = page.get_by_role("alertdialog")
    expect(confirm).to_contain_text("Transferir Maria Silva de Alex Agent para Bruno Agent?")
    # The confirm button has the keyboard (the document's active element: ":focus" also needs the
    # window focused, which a headless page under load does not always report).
    page.wait_for_function("document.activeElement && document.activeElement.id === 'assign-yes'", timeout=LIVE)
    expect(confirm.get_by_role("button", name="Confirmar")).to_be_visible()
    expect(confirm.get_by_role("button", name="Cancelar")).to_be_visible()
    shot(page, "supervisor-pt")
    page.keyboard.press("Escape")
    expect(confirm).to_be_hidden()
    expect(page.locator("#conv-title")).to_have_text("Maria Silva")  # still open
    expect(page.get_by_label("Atribuir a")).to_have_value(str(demo.agent.pk))
    assert Conversation.objects.get(pk=demo.maria.pk).assignee_id == demo.agent.pk


def test_a_slow_catch_up_leaves_the_keyboard_on_a_transfer_confirmation(new_page, demo):
    """Opening a conversation ends by giving the composer the keyboard, but not from under a
    user who has meanwhile opened the transfer confirmation: its Confirm button keeps it."""
    page = new_page()
    login(page, demo.supervisor)
    catch_up = re.compile(r"/api/conversations/\d+/messages/\?after=")
    held = hold_answers(page, catch_up)
    conversation_item(page, "Maria Silva").click()
    expect(page.locator(".msg-in .msg-text")).to_have_text(["Olá! Meu pedido ainda não chegou."])
    expect(page.locator("#conversation")).to_have_attribute("aria-busy", "true")  # the catch-up is held
    page.get_by_label("Assign to").select_option(label="Bruno Agent")
    page.wait_for_function("document.activeElement && document.activeElement.id === 'assign-yes'", timeout=LIVE)
    release(page, held, nth=1)
    expect(page.locator("#conversation")).to_have_attribute("aria-busy", "false", timeout=LIVE)
    assert page.evaluate("document.activeElement.id") == "assign-yes"

    page.unroute(catch_up)
    page.get_by_role("button", name="Cancel").click()  # and with nothing in the way, the composer
    conversation_item(page, "John Carter").click()
    expect(page.locator("#conversation")).to_have_attribute("aria-busy", "false", timeout=LIVE)
    page.wait_for_function("document.activeElement && document.activeElement.id === 'composer-text'", timeout=LIVE)


def test_a_supervisor_on_a_laptop_folds_the_team_and_the_queue_to_see_more_conversations(new_page, demo):
    """At 1366×768 the waiting panel, the team and the announcement box leave the list two or
    three rows; folded to their headings (remembered), they give it the room back."""
    for n in range(8):
        scenario.bot_conversation(demo, f"Cliente {n:02d}", "Olá, tudo bem?")
    page = new_page(viewport={"width": 1366, "height": 768})
    login(page, demo.supervisor)
    expect(page.locator(".conv-item")).to_have_count(11)
    expect(page.locator("#agent-list li")).to_have_count(3)
    before = page.locator("#conv-list").bounding_box()["height"]
    team = page.get_by_role("button", name="Team", exact=True)
    waiting = page.get_by_role("button", name="Waiting for an agent", exact=True)
    expect(team).to_have_attribute("aria-expanded", "true")
    team.click()
    waiting.click()
    expect(page.locator("#agent-list")).to_be_hidden()
    expect(page.get_by_label("Announce to the team")).to_be_hidden()
    expect(page.locator("#queue-list")).to_be_hidden()
    expect(page.locator("#queue-size")).to_have_text("2")  # the count stays beside its heading
    expect(team).to_have_attribute("aria-expanded", "false")
    assert page.locator("#conv-list").bounding_box()["height"] > before + 150
    shot(page, "supervisor-folded")

    page.reload()  # remembered in this browser
    expect(page.locator("#conn")).to_have_attribute("data-state", "open", timeout=LIVE)
    expect(team).to_have_attribute("aria-expanded", "false")
    expect(page.locator("#agent-list")).to_be_hidden()
    team.click()
    expect(page.locator("#agent-list li")).to_have_count(3)
    expect(page.get_by_label("Announce to the team")).to_be_visible()


PLACEHOLDER_ROOM = """() => {
  // Widths as the page draws the text: a span in the element's own font (a canvas's measureText
  // resolved the font stack to a narrower face and passed a placeholder the input cut).
  const drawn = (text, style) => {
    const probe = document.createElement("span");
    probe.style.cssText = "position: absolute; visibility: hidden; white-space: pre";
    probe.style.font = style.font;
    probe.style.letterSpacing = style.letterSpacing;
    probe.textContent = text;
    document.body.append(probe);
    const width = probe.getBoundingClientRect().width;
    probe.remove();
    return width;
  };
  const input = document.getElementById("filter-search");
  // The placeholder as a value: what the box then scrolls is what it would cut. (Its own width
  // beside the paddings is not the room: a search box also keeps room for its clear button.)
  input.value = input.placeholder;
  const overflow = input.scrollWidth - input.clientWidth;
  input.value = "";
  // The status list beside it, narrowed to make that room: its longest choice, beside the arrow.
  const select = document.getElementById("filter-status");
  const selectStyle = getComputedStyle(select);
  const arrow = 20;
  const selectRoom = select.clientWidth - parseFloat(selectStyle.paddingLeft) - parseFloat(selectStyle.paddingRight) - arrow;
  const longest = Math.max(...[...select.options].map((option) => drawn(option.text, selectStyle)));
  return { text: input.placeholder, overflow, longest, selectRoom };
}"""


@pytest.mark.parametrize(
    "viewport", [{"width": 1280, "height": 800}, {"width": 390, "height": 844}], ids=["desktop", "phone"]
)
def test_the_search_placeholder_is_read_whole_in_both_languages(new_page, demo, viewport):
    page = new_page(viewport=viewport)
    login(page, demo.supervisor)
    for lang in ("en", "pt"):
        page.locator("#app-lang").select_option(lang)
        expect(page.locator("#filter-status option").first).to_have_text("Open" if lang == "en" else "Abertas")
        room = page.evaluate(PLACEHOLDER_ROOM)
        assert room["overflow"] <= 0, room
        assert room["longest"] <= room["selectRoom"], room
