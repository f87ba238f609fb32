"""The web-chat widget in Chromium against a real server (uvicorn) on PostgreSQL and Redis: a customer
talks to the bot, asks for a human, waits in line, an agent in the inbox (a second browser
context) takes the chat and replies, both sides see it live with read ticks, and a server restart
loses and doubles nothing in either direction."""

import json
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from conversations import services
from conversations.models import AuditAction, AuditEntry, Channel, Conversation, Message
from tests.browser import scenario
from tests.e2e.test_browser_inbox import LIVE, assert_not_reloaded, hold_answers, login, release, shot

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def demo(demo):
    """The demo, with the web chat's bot."""
    scenario.webchat_bot(demo.tenant)
    return demo


def open_widget(new_page, demo, name):
    widget = new_page(viewport={"width": 480, "height": 800})
    widget.goto(f"/chat/{demo.tenant.slug}/")
    widget.get_by_label("Your name").fill(name)
    widget.get_by_role("button", name="Start").click()
    expect(widget.locator("#status")).to_have_attribute("data-state", "open", timeout=LIVE)
    widget.evaluate("window.__noReload = true")
    return widget


def widget_says(widget, text):
    # The text box by its role: a quote in the thread is a button labelled "…quoted message…".
    widget.get_by_role("textbox", name="Message").fill(text)
    widget.get_by_role("button", name="Send").click()


@pytest.mark.browser
@pytest.mark.postgres
@pytest.mark.redis
def test_a_widget_customer_asks_for_a_human_and_talks_with_an_agent_live(new_page, demo, asgi_server):
    widget = open_widget(new_page, demo, "Ana Costa")
    conversation = Conversation.objects.get(channel=Channel.WEBCHAT, contact__name="Ana Costa")
    expect(widget.locator(".attach svg")).to_be_visible()  # an icon, not an emoji some machines cannot draw

    # The bot answers with quick-reply buttons.
    widget_says(widget, "qual o horario de funcionamento?")
    mine = widget.locator("li.inbound", has_text="qual o horario de funcionamento?")
    expect(mine).to_have_attribute("data-id", re.compile(r"^\d+$"), timeout=LIVE)
    expect(widget.locator("li.outbound.bot")).to_have_count(1, timeout=LIVE)
    marker = widget.locator("li.outbound.bot").evaluate(
        "el => { const s = getComputedStyle(el, '::before'); return [s.content, s.maskImage || s.webkitMaskImage]; }"
    )
    assert marker[0] == '""' and marker[1].startswith('url("data:image/svg+xml'), marker  # drawn, not an emoji
    handoff = widget.locator("#quick").get_by_role("button", name="Falar com atendente")
    expect(handoff).to_be_visible()

    # Tapping it hands the chat to the team: no agent took it yet, so the customer waits, third
    # (the demo's John and Lucia are already in line).
    handoff.click()
    expect(widget.locator("#queue")).to_be_visible(timeout=LIVE)
    expect(widget.locator("#queue")).to_have_attribute("data-position", "3")
    expect(widget.locator("#queue")).to_contain_text("You are #3 in line")
    expect(widget.locator("#quick button")).to_have_count(0)
    shot(widget, "webchat-queue")

    # An agent in the inbox takes it from the queue and replies.
    inbox = new_page()
    login(inbox, demo.agent)
    inbox.get_by_role("tab", name="Unassigned").click()
    inbox.get_by_role("button", name="Take: Ana Costa").click()
    expect(inbox.locator("#conv-title")).to_have_text("Ana Costa")
    # The customer is told at once who joined, before the agent writes, and the place in line goes.
    joined = widget.locator("li.outbound.bot", has_text="Um atendente entrou na conversa: Alex")
    expect(joined).to_be_visible(timeout=LIVE)
    expect(widget.locator("#queue")).to_be_hidden()

    # Typing shows on the widget while the agent types.
    inbox.get_by_role("textbox", name="Message").press_sequentially("Oi Ana")
    expect(widget.locator("#typing")).to_be_visible(timeout=LIVE)
    inbox.get_by_role("textbox", name="Message").fill("Oi Ana, sou o Alex. Abrimos às 9h.")
    inbox.get_by_role("textbox", name="Message").press("Enter")
    reply = widget.locator("li.outbound", has_text="sou o Alex")
    expect(reply).to_be_visible(timeout=LIVE)
    expect(reply).to_contain_text("Alex Agent")
    expect(widget.locator("#queue")).to_be_hidden()  # still: an agent is talking
    expect(widget.locator("#typing")).to_be_hidden()
    # The widget is visible, so it marked the reply read: the agent's tick says so.
    sent = inbox.locator(".msg-out", has_text="sou o Alex")
    expect(sent).to_have_attribute("data-status", "read", timeout=LIVE)
    expect(sent).to_have_count(1)

    # The customer answers; the agent sees it live and the customer's tick turns to read.
    widget_says(widget, "Obrigada!")
    expect(inbox.locator(".msg-in", has_text="Obrigada!")).to_be_visible(timeout=LIVE)
    expect(widget.locator("li.inbound", has_text="Obrigada!").locator(".tick")).to_have_attribute(
        "data-status", "read", timeout=LIVE
    )
    shot(widget, "webchat")

    # The server goes away. The agent's reply written meanwhile, and the customer's message typed
    # meanwhile (queued by the client), each arrive exactly once after the restart.
    asgi_server.stop()
    expect(widget.locator("#status")).not_to_have_attribute("data-state", "open", timeout=LIVE)
    scenario.agent_writes(conversation.pk, "Escrito enquanto você estava fora", demo.agent)
    widget_says(widget, "Ainda está aí?")
    expect(widget.locator("li.pending", has_text="Ainda está aí?")).to_be_visible()
    asgi_server.start()

    expect(widget.locator("#status")).to_have_attribute("data-state", "open", timeout=40_000)
    expect(widget.locator("li.outbound", has_text="Escrito enquanto você estava fora")).to_have_count(1, timeout=LIVE)
    queued = widget.locator("li.inbound", has_text="Ainda está aí?")
    expect(queued).to_have_attribute("data-id", re.compile(r"^\d+$"), timeout=LIVE)
    expect(inbox.locator(".msg-in", has_text="Ainda está aí?")).to_have_count(1, timeout=40_000)
    # A forced drop of the socket (a proxy, a flaky network): a live reply during it, once.
    widget.evaluate("pytakeWidget.rt.ws.close(4000, 'test drop')")
    scenario.agent_writes(conversation.pk, "Durante a queda", demo.agent)
    expect(widget.locator("#status")).to_have_attribute("data-state", "open", timeout=LIVE)
    expect(widget.locator("li.outbound", has_text="Durante a queda")).to_have_count(1, timeout=LIVE)

    for text in ("qual o horario de funcionamento?", "Obrigada!", "Ainda está aí?"):
        expect(widget.locator("li.inbound", has_text=text)).to_have_count(1)
        assert Message.objects.filter(conversation=conversation, content__text=text).count() == 1
    expect(widget.locator("li.outbound", has_text="sou o Alex")).to_have_count(1)
    assert_not_reloaded(widget)

    # Session continuation: a reload keeps the same chat and its history.
    widget.reload()
    expect(widget.locator("#start")).to_be_hidden()
    expect(widget.locator("#status")).to_have_attribute("data-state", "open", timeout=LIVE)
    expect(widget.locator("li.outbound", has_text="sou o Alex")).to_have_count(1)
    expect(widget.locator("li.inbound", has_text="Ainda está aí?")).to_have_count(1)
    assert Conversation.objects.filter(channel=Channel.WEBCHAT).count() == 1


@pytest.mark.browser
@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.parametrize(
    ("locale", "texts"),
    [
        ("pt-BR", {"name": "Seu nome", "start": "Começar", "send": "Enviar", "lang": "pt-BR"}),
        ("en-US", {"name": "Your name", "start": "Start", "send": "Send", "lang": "en"}),
    ],
)
def test_the_start_form_speaks_the_visitors_language_and_looks_like_the_widget(new_page, demo, locale, texts):
    widget = new_page(locale=locale, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    widget.goto(f"/chat/{demo.tenant.slug}/")
    name = widget.get_by_label(texts["name"], exact=True)
    expect(name).to_be_visible()
    expect(widget.locator("html")).to_have_attribute("lang", texts["lang"])
    start = widget.get_by_role("button", name=texts["start"], exact=True)
    # The widget's green and rounded shapes, not the browser's default controls.
    assert start.evaluate("el => getComputedStyle(el).backgroundColor") == "rgb(11, 110, 79)"
    assert name.evaluate("el => parseFloat(getComputedStyle(el).borderTopLeftRadius)") >= 16
    assert start.bounding_box()["width"] <= 390 and name.bounding_box()["width"] > 0.8 * 390
    if locale == "pt-BR":
        shot(widget, "webchat-start-pt")
    name.fill("Carla Dias")
    start.click()
    expect(widget.locator("#status")).to_have_attribute("data-state", "open", timeout=LIVE)
    expect(widget.get_by_role("button", name=texts["send"], exact=True)).to_be_visible()


@pytest.mark.browser
@pytest.mark.postgres
@pytest.mark.redis
def test_the_widget_shows_messages_in_the_order_they_were_stored_whatever_their_times(new_page, demo):
    """A customer's message stored first carries a time a second ahead (Meta's clock, whole
    seconds); the reply stored after it carries PyTake's earlier time with microseconds. The widget
    shows them as the server stored them, live and after a reload: the customer's first."""
    widget = open_widget(new_page, demo, "Bia Rocha")
    conversation = Conversation.objects.get(channel=Channel.WEBCHAT, contact__name="Bia Rocha")
    second = timezone.now().replace(microsecond=0) + timedelta(seconds=1)
    scenario.message_at(conversation, "Posso trocar o tamanho?", inbound=True, at=second + timedelta(seconds=1))
    expect(widget.locator("li.inbound", has_text="Posso trocar o tamanho?")).to_be_visible(timeout=LIVE)
    scenario.message_at(
        conversation, "Pode sim!", inbound=False, at=second + timedelta(microseconds=840697), sender=demo.agent
    )
    bubbles = widget.locator("#messages li")
    expect(bubbles).to_have_count(2, timeout=LIVE)
    expect(bubbles.first).to_contain_text("Posso trocar o tamanho?")
    expect(bubbles.last).to_contain_text("Pode sim!")
    widget.reload()
    expect(widget.locator("#status")).to_have_attribute("data-state", "open", timeout=LIVE)
    expect(bubbles.first).to_contain_text("Posso trocar o tamanho?")
    expect(bubbles.last).to_contain_text("Pode sim!")


@pytest.mark.browser
@pytest.mark.postgres
@pytest.mark.redis
def test_a_late_history_never_turns_a_read_tick_back(new_page, demo):
    """The widget reads its history again once connected; the agent reading the customer's
    message while that answer is on its way must leave the tick at "read"."""
    widget = open_widget(new_page, demo, "Rita Lima")
    widget_says(widget, "oi, tudo bem?")
    mine = widget.locator("li.inbound", has_text="oi, tudo bem?")
    expect(mine).to_have_attribute("data-id", re.compile(r"^\d+$"), timeout=LIVE)
    conversation = Conversation.objects.get(channel=Channel.WEBCHAT, contact__name="Rita Lima")
    # A reload continues the chat: the history is read, the socket connects, and the history is
    # read again on its first hello; that second answer is held.
    held = hold_answers(widget, "**/api/webchat/conversation/", skip=1, first_only=True)
    widget.reload()
    widget.wait_for_function("window.heldAnswers === 1", timeout=LIVE)
    scenario.call(services.conversation_mark_read, conversation=conversation, actor=demo.supervisor)
    expect(mine.locator(".tick")).to_have_attribute("data-status", "read", timeout=LIVE)
    release(widget, held, nth=1)
    expect(widget.locator("#status")).to_have_attribute("data-state", "open", timeout=LIVE)  # synced
    expect(mine.locator(".tick")).to_have_attribute("data-status", "read")


@pytest.mark.browser
@pytest.mark.postgres
@pytest.mark.redis
def test_the_simulator_phone_catches_up_after_its_socket_was_closed(new_page, demo):
    """The phone's socket is the shared ReconnectingSocket; it has no replay, so coming back it
    reloads the thread: a reply sent while it was closed shows, once."""
    inbox = new_page()
    login(inbox, demo.agent)
    inbox.locator(".conv-item", has_text="Maria Silva").click()
    expect(inbox.locator("#conv-title")).to_have_text("Maria Silva")

    phone = new_page(viewport={"width": 900, "height": 800})
    phone.goto("/simulator/phone/")
    phone.locator("#new-wa-id").fill(demo.maria.contact.wa_id)
    phone.locator("#new-name").fill("Maria Silva")
    phone.get_by_role("button", name="Use").click()
    expect(phone.locator("#conn")).to_have_attribute("data-state", "open", timeout=LIVE)
    phone.get_by_label("Message").fill("Tem novidade?")
    phone.get_by_role("button", name="Send").click()
    expect(inbox.locator(".msg-in", has_text="Tem novidade?")).to_be_visible(timeout=LIVE)

    phone.evaluate("pytakePhone.socket.close()")
    expect(phone.locator("#conn")).to_have_attribute("data-state", "offline")
    inbox.get_by_role("textbox", name="Message").fill("Enviado com o telefone desligado")
    inbox.get_by_role("textbox", name="Message").press("Enter")
    expect(inbox.locator(".msg-out", has_text="Enviado com o telefone desligado")).to_have_attribute(
        "data-status", re.compile("^(sent|delivered|read)$"), timeout=LIVE
    )
    expect(phone.locator("#thread", has_text="Enviado com o telefone desligado")).to_have_count(0)

    phone.evaluate("pytakePhone.socket.reconnect()")
    expect(phone.locator("#conn")).to_have_class(re.compile(r"\blive\b"), timeout=LIVE)
    expect(phone.locator(".bubble", has_text="Enviado com o telefone desligado")).to_have_count(1, timeout=LIVE)
    expect(phone.locator(".bubble", has_text="Tem novidade?")).to_have_count(1)


@pytest.mark.postgres
@pytest.mark.redis
def test_the_simulator_phone_keeps_a_customer_chosen_while_its_list_loads(new_page, demo):
    """ "Use" clicked before the page's customer list has loaded: the list arriving afterwards
    must not switch the phone to its first customer (the phone-catch-up test above once sent its
    message as another customer that way)."""
    phone = new_page(viewport={"width": 900, "height": 800})
    held = []
    phone.route("**/api/contacts*", lambda route: held.append(route))  # the list waits until released
    with phone.expect_request("**/api/contacts*"):
        phone.goto("/simulator/phone/")
    phone.locator("#new-wa-id").fill("5511987654321")
    phone.locator("#new-name").fill("Cliente Novo")
    phone.get_by_role("button", name="Use").click()
    expect(phone.locator("#who")).to_have_text("Cliente Novo (+5511987654321)")
    (request,) = held
    request.continue_()
    expect(phone.locator("#contact option")).to_have_count(4, timeout=LIVE)  # the three, and the new one
    expect(phone.locator("#who")).to_have_text("Cliente Novo (+5511987654321)")
    expect(phone.locator("#contact")).to_have_value("5511987654321")
    assert phone.evaluate("pytakePhone.socket.options.url").endswith("wa_id=5511987654321")


@pytest.mark.once  # an environment of its own
def test_production_collects_the_widget_and_phone_modules_with_their_import(production_static):
    """With the manifest storage the pages load hashed module names; the relative import of
    ../pytake/realtime.js resolves because the unhashed copies are collected too."""
    data_dir, env = production_static
    static = data_dir / "static"
    manifest = json.loads((static / "staticfiles.json").read_text())["paths"]
    for name in ("webchat/widget.js", "simulator/phone.js"):
        hashed = static / manifest[name]
        assert hashed.exists(), name
        assert 'from "../pytake/realtime.js"' in hashed.read_text()
    assert (static / "pytake" / "realtime.js").exists()
    script = (
        "import django; django.setup()\n"
        "from django.template.loader import render_to_string\n"
        "print(render_to_string('webchat/chat.html', {'tenant': {'slug': 's', 'name': 'S'}}))\n"
        "print(render_to_string('simulator/phone.html', {'accounts': [], 'accounts_json': []}))\n"
    )
    pages = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "pytake.settings"},
        check=True,
        timeout=60,
        capture_output=True,
        text=True,
    ).stdout
    assert f'<script type="module" src="/static/{manifest["webchat/widget.js"]}">' in pages
    assert f'<script type="module" src="/static/{manifest["simulator/phone.js"]}">' in pages


@pytest.mark.browser
@pytest.mark.postgres
@pytest.mark.redis
def test_a_supervisor_announces_from_the_inbox_and_an_agent_sees_it_live(new_page, demo):
    sofia, alex = new_page(), new_page()
    login(sofia, demo.supervisor)
    login(alex, demo.agent)
    expect(alex.locator("#broadcast-form")).to_be_hidden()  # agents cannot announce

    announce = sofia.get_by_role("button", name="Announce")
    announce.click()  # empty: refused in the page, nothing sent
    expect(sofia.locator("#broadcast-result")).to_have_text("Write the announcement first.")
    sofia.get_by_label("Announce to the team").fill("Reunião às 17h")
    announce.click()
    expect(sofia.locator("#broadcast-result")).to_have_text("Sent to the team.")
    expect(sofia.get_by_label("Announce to the team")).to_have_value("")
    expect(alex.locator("#broadcast")).to_contain_text("Sofia Supervisor: Reunião às 17h", timeout=LIVE)
    expect(sofia.locator("#broadcast")).to_contain_text("Sofia Supervisor: Reunião às 17h", timeout=LIVE)
    assert AuditEntry.objects.filter(action=AuditAction.BROADCAST).count() == 1
    assert_not_reloaded(alex)
