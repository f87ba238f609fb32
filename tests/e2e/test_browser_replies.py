"""Quotes and reactions in the inbox, in Chromium against a real server: a customer's WhatsApp
reply shows the message it quotes (a click jumps to it), a reaction appears on the message it
reacts to live and goes when removed, an agent replies to a message from its bubble, and a
web-chat customer replies to the agent's message from the widget."""

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from conversations import services as conversation_services
from conversations.models import Channel, Conversation, Direction, Message
from flow import assignment
from tests.browser import scenario
from tests.e2e.test_browser_inbox import LIVE, login, open_conversation, shot
from tests.e2e.test_browser_webchat import open_widget, widget_says
from whatsapp import inbound

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.redis]


@scenario.off_loop
def agents_message_sent(conversation) -> Message:
    """Maria's conversation's agent message, given the wamid WhatsApp gave it."""
    message = Message.objects.get(conversation=conversation, direction=Direction.OUTBOUND)
    Message.objects.filter(pk=message.pk).update(whatsapp_message_id="wamid.agent-answer")
    return message


@scenario.off_loop
def customer_replies(conversation, text: str, quoting: str) -> Message:
    message, _ = inbound.message_create_inbound(
        account=conversation.whatsapp_account,
        wa_id=conversation.contact.wa_id,
        profile_name="Maria Silva",
        wamid="wamid.customer-reply",
        message_type="text",
        content={"wa_type": "text", "text": text, "context": {"from": "15550783881", "id": quoting}},
        created_at=timezone.now(),
    )
    return message


@scenario.off_loop
def customer_reacts(conversation, emoji: str) -> None:
    inbound.message_react(
        account=conversation.whatsapp_account,
        target_wamid="wamid.agent-answer",
        emoji=emoji,
        at=timezone.now(),
        by="contact",
    )


@scenario.off_loop
def reply_to_of(text: str) -> int | None:
    found = Message.objects.filter(content__text=text).first()
    return found.reply_to_id if found else None


@scenario.off_loop
def customer_message_id() -> int:
    return Message.objects.get(whatsapp_message_id="wamid.customer-reply").pk


def test_quotes_and_reactions_in_the_inbox(new_page, demo):
    agents = agents_message_sent(demo.maria)
    page = new_page()
    login(page, demo.agent)
    open_conversation(page, "Maria Silva")

    # The customer replies to the agent's message: the quote is shown above the reply.
    customer_replies(demo.maria, "Obrigada, aguardo", quoting="wamid.agent-answer")
    reply = page.locator(".msg-in", has_text="Obrigada, aguardo")
    quote = reply.locator(".msg-quote")
    expect(quote).to_contain_text("Oi Maria, vou verificar.", timeout=LIVE)
    expect(quote).to_contain_text("You")
    # A click jumps to the quoted message and highlights it.
    quote.click()
    expect(page.locator(f'.msg[data-id="{agents.pk}"]')).to_have_class(re.compile(r"\bmsg-flash\b"))

    # A reaction appears on the message it reacts to, live, and goes when removed.
    customer_reacts(demo.maria, "👍")
    reactions = page.locator(f'.msg[data-id="{agents.pk}"] .msg-reaction')
    expect(reactions).to_have_text(["👍"], timeout=LIVE)
    assert page.locator(".msg", has_text="👍").count() == 1  # no bubble of its own
    shot(page, "inbox-replies")
    customer_reacts(demo.maria, "")
    expect(reactions).to_have_count(0, timeout=LIVE)

    # The agent replies to the customer's message from its bubble.
    reply.locator(".msg-reply").click()
    expect(page.locator("#reply-bar")).to_contain_text("Obrigada, aguardo")
    page.get_by_role("textbox", name="Message").fill("De nada!")
    page.get_by_role("textbox", name="Message").press("Enter")
    sent = page.locator(".msg-out", has_text="De nada!")
    expect(sent.locator(".msg-quote")).to_contain_text("Obrigada, aguardo")
    expect(page.locator("#reply-bar")).to_be_hidden()
    expect(sent).to_have_attribute("data-id", re.compile(r"^\d+$"), timeout=LIVE)  # the server's copy
    assert reply_to_of("De nada!") == customer_message_id()


def test_a_person_on_the_phone_page_replies_reacts_edits_and_deletes(new_page, demo):
    """The simulator's phone offers what a customer does on WhatsApp: the inbox shows each."""
    inbox = new_page()
    login(inbox, demo.agent)
    open_conversation(inbox, "Maria Silva")

    phone = new_page(viewport={"width": 900, "height": 800})
    phone.goto("/simulator/phone/")
    phone.locator("#new-wa-id").fill(demo.maria.contact.wa_id)
    phone.locator("#new-name").fill("Maria Silva")
    phone.get_by_role("button", name="Use").click()
    expect(phone.locator("#conn")).to_have_class(re.compile(r"\blive\b"), timeout=LIVE)
    phone.get_by_label("Message").fill("Qual o prazo?")
    phone.get_by_role("button", name="Send", exact=True).click()
    first = inbox.locator(".msg-in", has_text="Qual o prazo?")
    expect(first).to_have_attribute("data-id", re.compile(r"^\d+$"), timeout=LIVE)
    asked = inbox.locator(f'.msg[data-id="{first.get_attribute("data-id")}"]')  # whatever its text becomes

    # Edit it, then delete it: the inbox shows the new text, then the deleted marker.
    mine = phone.locator(".bubble.mine", has_text="Qual o prazo?")
    mine.get_by_role("button", name="Edit").click()
    phone.get_by_label("Message").fill("Qual o prazo de entrega?")
    phone.get_by_role("button", name="Send", exact=True).click()
    expect(asked.locator(".msg-text")).to_have_text("Qual o prazo de entrega?", timeout=LIVE)
    expect(asked.locator(".msg-edited")).to_be_visible()
    mine.get_by_role("button", name="Delete for everyone").click()
    expect(asked.locator(".msg-text")).to_contain_text("deleted", timeout=LIVE)
    asked.get_by_role("button", name="Show").click()
    expect(asked.locator(".msg-text")).to_have_text("Qual o prazo de entrega?")

    # The agent answers; on the phone, the customer reacts to the answer and replies to it.
    inbox.get_by_role("textbox", name="Message").fill("Em 2 dias úteis")
    inbox.get_by_role("textbox", name="Message").press("Enter")
    answer = inbox.locator(".msg-out", has_text="Em 2 dias úteis")
    theirs = phone.locator(".bubble", has_text="Em 2 dias úteis")
    theirs.get_by_role("button", name="React 👍").click()
    expect(answer.locator(".msg-reaction")).to_have_text(["👍"], timeout=LIVE)
    theirs.get_by_role("button", name="Reply").click()
    phone.get_by_label("Message").fill("Obrigada!")
    phone.get_by_role("button", name="Send", exact=True).click()
    thanks = inbox.locator(".msg-in", has_text="Obrigada!")
    expect(thanks.locator(".msg-quote")).to_contain_text("Em 2 dias úteis", timeout=LIVE)


@scenario.off_loop
def staff_replies_to(conversation_id: int, text: str, quoting: str, user) -> None:
    quoted = Message.objects.get(conversation_id=conversation_id, content__text=quoting)
    conversation_services.message_create_outbound_text(
        user=user, conversation_id=conversation_id, text=text, reply_to=quoted.pk
    )


@scenario.off_loop
def webchat_conversation_of(name: str) -> int:
    return Conversation.objects.get(channel=Channel.WEBCHAT, contact__name=name).pk


def test_the_widget_shows_the_message_an_agent_replied_to(new_page, demo):
    scenario.webchat_bot(demo.tenant)
    widget = open_widget(new_page, demo, "Ana Costa")
    widget_says(widget, "Vocês entregam no sábado?")
    mine = widget.locator("li.inbound", has_text="Vocês entregam no sábado?")
    expect(mine).to_have_attribute("data-id", re.compile(r"^\d+$"), timeout=LIVE)
    staff_replies_to(
        webchat_conversation_of("Ana Costa"), "Sim, até as 13h", "Vocês entregam no sábado?", demo.supervisor
    )
    reply = widget.locator("li.outbound", has_text="Sim, até as 13h")
    quote = reply.locator(".msg-quote")
    expect(quote).to_contain_text("Vocês entregam no sábado?", timeout=LIVE)
    expect(quote).to_contain_text("You")  # the customer's own message
    quote.click()
    expect(mine).to_have_class(re.compile(r"\bmsg-flash\b"))


@scenario.off_loop
def hand_to(conversation_id: int, agent) -> None:
    conversation = Conversation.objects.get(pk=conversation_id)
    assignment.conversation_assign(conversation=conversation, assignee=agent, actor=None)


def test_a_widget_customer_replies_to_the_agents_message_and_the_inbox_shows_the_quote(new_page, demo):
    scenario.webchat_bot(demo.tenant)
    widget = open_widget(new_page, demo, "Bia Rocha")
    widget.set_viewport_size({"width": 390, "height": 844})  # a phone
    widget_says(widget, "Meu pedido não chegou")
    first = widget.locator("li.inbound", has_text="Meu pedido não chegou")
    expect(first).to_have_attribute("data-id", re.compile(r"^\d+$"), timeout=LIVE)
    hand_to(webchat_conversation_of("Bia Rocha"), demo.agent)

    inbox = new_page()
    login(inbox, demo.agent)
    open_conversation(inbox, "Bia Rocha")
    inbox.get_by_role("textbox", name="Message").fill("Qual o número do pedido?")
    inbox.get_by_role("textbox", name="Message").press("Enter")

    # The customer replies to it from its bubble: a click or the keyboard opens the bar above the
    # text box; × and Escape close it.
    asked = widget.locator("li.outbound", has_text="Qual o número do pedido?")
    expect(asked).to_have_attribute("data-id", re.compile(r"^\d+$"), timeout=LIVE)
    reply = asked.get_by_role("button", name="Reply", exact=True)
    bar = widget.locator("#reply-bar")
    reply.click()
    expect(bar).to_be_visible()
    expect(bar).to_contain_text("Qual o número do pedido?")
    expect(widget.locator("#text")).to_be_focused()
    bar.get_by_role("button", name="Cancel reply").click()
    expect(bar).to_be_hidden()
    reply.press("Enter")
    expect(bar).to_be_visible()
    widget.keyboard.press("Escape")
    expect(bar).to_be_hidden()
    reply.press("Space")
    expect(bar).to_contain_text("Qual o número do pedido?")
    # At phone width the bar and its × fit, and nothing scrolls sideways.
    for box in (bar.bounding_box(), bar.get_by_role("button", name="Cancel reply").bounding_box()):
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, box
    assert widget.evaluate("document.documentElement.scrollWidth") <= 390

    widget_says(widget, "Pedido 4521")
    expect(bar).to_be_hidden()
    sent = widget.locator("li.inbound", has_text="Pedido 4521")
    expect(sent.locator(".msg-quote")).to_contain_text("Qual o número do pedido?")
    expect(sent).to_have_attribute("data-id", re.compile(r"^\d+$"), timeout=LIVE)  # the server's copy
    expect(sent.locator(".msg-quote")).to_contain_text("Qual o número do pedido?")
    expect(sent.locator(".msg-quote-who")).to_have_text("Demo Store")  # the business, not "Customer"

    # The agent sees the quote live above the customer's message, theirs reading as "You".
    quote = inbox.locator(".msg-in", has_text="Pedido 4521").locator(".msg-quote")
    expect(quote).to_contain_text("Qual o número do pedido?", timeout=LIVE)
    expect(quote).to_contain_text("You")
    assert reply_to_of("Pedido 4521") == int(asked.get_attribute("data-id"))
