"""The bot: intent matching in both languages, escalation triggers, the LLM engine's fallback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.utils import timezone

from conversations import services
from conversations.models import Availability, Message, SenderType, User
from flow.bot.defaults import bot_seed_defaults
from flow.bot.engine import BotContext
from flow.bot.llm import LLMEngine
from flow.bot.models import BotEngineKind, BotIntent, BotSettings
from flow.bot.rules import RulesEngine
from flow.models import QueueTicket
from tests.flow_helpers import eager_celery, webchat_conversation  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]


@pytest.fixture
def bot(tenant: Any) -> BotSettings:
    bot_seed_defaults(tenant=tenant)
    settings_row = BotSettings.objects.get(tenant=tenant)
    settings_row.business_hours = {}  # always open, unless a test says otherwise
    settings_row.save()
    return settings_row


def context(bot: BotSettings, *, first: bool = False, language: str = "pt") -> BotContext:
    return BotContext(
        settings=bot,
        intents=list(BotIntent.objects.filter(tenant=bot.tenant)),
        language=language,
        first_message=first,
        now=timezone.now(),
    )


PHRASES = [
    # Portuguese: accents missing or extra, capitals, typos, extra words.
    ("Qual o horário de funcionamento?", "business_hours", "pt"),
    ("qual o HORARIO de funcionamento", "business_hours", "pt"),
    ("horaro de funcinamento", "business_hours", "pt"),
    ("Vocês abrem no sábado?", "business_hours", "pt"),
    ("ONDE ESTA MEU PEDIDO", "order_status", "pt"),
    ("meu pedido nao chegou ainda!!", "order_status", "pt"),
    ("aceita píx?", "payment", "pt"),
    ("oi, qual o prazo de entrega?", "delivery", "pt"),  # a greeting with a question: the answer
    ("quantos dias demora pra chegar?", "delivery", "pt"),
    ("quero falar com um atendente", "handoff", "pt"),
    ("falar com atendnte", "handoff", "pt"),
    ("Falar com atendente", "handoff", "pt"),
    ("Olá", "greeting", "pt"),
    ("bom dia!", "greeting", "pt"),
    ("muito obrigado", "thanks", "pt"),
    # English
    ("What are your opening hours?", "business_hours", "en"),
    ("opening hurs", "business_hours", "en"),
    ("Where is my order??", "order_status", "en"),
    ("wher is my ordr", "order_status", "en"),
    ("Do you accept credit card", "payment", "en"),
    ("hi, how long does shipping take?", "delivery", "en"),
    ("I want to TALK TO A HUMAN", "handoff", "en"),
    ("talk to a humann please", "handoff", "en"),
    ("Hello", "greeting", "en"),
    ("thank you!", "thanks", "en"),
]


@pytest.mark.parametrize(("phrase", "intent", "language"), PHRASES)
def test_rules_engine_matches_phrases_in_both_languages(bot, phrase, intent, language):
    answer = RulesEngine().answer(text=phrase, context=context(bot))
    assert (answer.intent, answer.language) == (intent, language), (phrase, answer)
    assert answer.confidence >= bot.confidence_threshold
    assert answer.text


@pytest.mark.parametrize("phrase", ["xyzzy plugh", "asdfgh", "o que é a vida", "blue elephants dancing"])
def test_unrelated_text_falls_back(bot, phrase):
    answer = RulesEngine().answer(text=phrase, context=context(bot))
    assert answer.intent == "fallback"
    assert answer.quick_replies  # the fallback offers buttons (one is the hand-off)


def test_first_message_not_understood_gets_the_greeting(bot):
    answer = RulesEngine().answer(text="xyzzy", context=context(bot, first=True))
    assert answer.kind == "greeting"


def test_answer_carries_quick_replies_and_an_edited_answer(bot):
    intent = BotIntent.objects.get(tenant=bot.tenant, name="business_hours", language="pt")
    intent.answer = "Abrimos às 8h."
    intent.save()
    answer = RulesEngine().answer(text="horário de funcionamento", context=context(bot))
    assert answer.text == "Abrimos às 8h."
    assert "Falar com atendente" in answer.quick_replies


def test_handoff_out_of_hours_says_so(bot):
    bot.business_hours = {day: [] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    bot.save()
    answer = RulesEngine().answer(text="falar com atendente", context=context(bot))
    assert answer.kind == "handoff"
    assert "fora do horário" in answer.text


# --- escalation through the flow ------------------------------------------------------------------


def say(conversation, text, capture):
    with capture(execute=True):
        message, _ = services.message_create_webchat(conversation_id=conversation.pk, text=text, client_id=None)
    conversation.refresh_from_db()
    return message


def bot_replies(conversation):
    return list(Message.objects.filter(conversation=conversation, sender_type=SenderType.BOT).order_by("id"))


@pytest.fixture
def nobody_online(tenant):
    """No agent available: escalated conversations stay in the queue."""
    User.objects.filter(tenant=tenant).update(availability=Availability.AWAY)


@pytest.mark.parametrize("text", ["falar com atendente", "Talk to a human", "quero falar com uma pessoa"])
def test_explicit_request_escalates(bot, tenant, nobody_online, django_capture_on_commit_callbacks, text):
    conversation = webchat_conversation(tenant)
    say(conversation, text, django_capture_on_commit_callbacks)
    assert conversation.queued_at is not None
    ticket = QueueTicket.objects.get(conversation=conversation)
    assert ticket.reason == "requested"
    reply = bot_replies(conversation)[-1]
    assert reply.content["bot"]["kind"] == "handoff"
    assert reply.status == "sent"  # web chat: the widget has it over the socket


def test_bot_answer_is_stored_with_metadata(bot, tenant, django_capture_on_commit_callbacks):
    conversation = webchat_conversation(tenant)
    say(conversation, "qual o horario de funcionamento", django_capture_on_commit_callbacks)
    (reply,) = bot_replies(conversation)
    meta = reply.content["bot"]
    assert meta["intent"] == "business_hours"
    assert meta["confidence"] >= 0.6
    assert meta["sentiment"] == 0.0
    assert meta["language"] == "pt"
    assert reply.content["quick_replies"]
    assert reply.direction == "outbound"
    assert conversation.queued_at is None
    assert conversation.last_message_preview.startswith("Funcionamos")


def test_repeated_fallback_escalates(bot, tenant, nobody_online, django_capture_on_commit_callbacks):
    conversation = webchat_conversation(tenant)
    say(conversation, "oi", django_capture_on_commit_callbacks)  # greeting, not a fallback
    say(conversation, "xyzzy plugh", django_capture_on_commit_callbacks)
    assert conversation.queued_at is None  # one fallback: the bot tries again
    say(conversation, "qwerty uiop", django_capture_on_commit_callbacks)
    assert conversation.queued_at is not None
    assert QueueTicket.objects.get(conversation=conversation).reason == "repeated_fallback"
    last = bot_replies(conversation)[-1]
    assert last.content["bot"]["escalation"] == "repeated_fallback"
    assert "atendente" in last.text  # tells the customer a human is coming


def test_negative_sentiment_escalates(bot, tenant, nobody_online, django_capture_on_commit_callbacks):
    conversation = webchat_conversation(tenant)
    say(conversation, "Isso é um absurdo, atendimento péssimo!", django_capture_on_commit_callbacks)
    assert QueueTicket.objects.get(conversation=conversation).reason == "negative_sentiment"
    assert bot_replies(conversation)[-1].content["bot"]["sentiment"] < 0


def test_bot_is_silent_once_an_agent_has_the_conversation(bot, tenant, agent, django_capture_on_commit_callbacks):
    conversation = webchat_conversation(tenant, assignee=agent)
    say(conversation, "qual o horario de funcionamento", django_capture_on_commit_callbacks)
    assert bot_replies(conversation) == []


def test_disabled_bot_queues_at_once(bot, tenant, nobody_online, django_capture_on_commit_callbacks):
    bot.enabled = False
    bot.save()
    conversation = webchat_conversation(tenant)
    say(conversation, "oi", django_capture_on_commit_callbacks)
    assert bot_replies(conversation) == []
    assert QueueTicket.objects.get(conversation=conversation).reason == "bot_disabled"


# --- the LLM engine against a local fake endpoint -------------------------------------------------


class FakeLLM(BaseHTTPRequestHandler):
    mode = "ok"
    release = threading.Event()
    requests: list[dict[str, Any]] = []
    quick_replies: list[str] = ["Talk to a human"]

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeLLM.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        if FakeLLM.mode == "slow":
            FakeLLM.release.wait(timeout=10)  # longer than the client's timeout; released at teardown
        if FakeLLM.mode == "error":
            self.send_response(500)
            self.end_headers()
            self.wfile.write(b'{"error": {"message": "boom"}}')
            return
        content = json.dumps(
            {
                "answer": "Our store opens at 9.",
                "intent": "business_hours",
                "confidence": 0.9,
                "sentiment": 0.2,
                "quick_replies": FakeLLM.quick_replies,
                "handoff": False,
            }
        )
        reply = json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def fake_llm() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeLLM)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FakeLLM.mode, FakeLLM.requests, FakeLLM.quick_replies = "ok", [], ["Talk to a human"]
    FakeLLM.release.clear()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    FakeLLM.release.set()
    server.shutdown()
    server.server_close()


def llm(url: str, timeout: float = 2.0) -> LLMEngine:
    return LLMEngine(url=url, model="fake-model", api_key="k-123", timeout=timeout)


def test_llm_engine_answers_from_the_endpoint(bot, fake_llm):
    answer = llm(fake_llm).answer(text="when do you open?", context=context(bot, language="en"))
    assert (answer.engine, answer.text, answer.intent) == ("llm", "Our store opens at 9.", "business_hours")
    assert answer.quick_replies == ["Talk to a human"]
    (request,) = FakeLLM.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["auth"] == "Bearer k-123"
    assert request["body"]["model"] == "fake-model"
    assert request["body"]["messages"][-1] == {"role": "user", "content": "when do you open?"}


def test_llm_buttons_the_phone_would_cut_are_left_out(bot, fake_llm):
    FakeLLM.quick_replies = ["Talk to a human", "See our opening hours now", "Track", "Pay", "More"]
    answer = llm(fake_llm).answer(text="when do you open?", context=context(bot, language="en"))
    assert answer.quick_replies == ["Talk to a human", "Track", "Pay"]  # none cut to 20 characters


def test_llm_engine_falls_back_to_rules_on_timeout(bot, fake_llm):
    FakeLLM.mode = "slow"
    answer = llm(fake_llm, timeout=0.3).answer(text="horario de funcionamento", context=context(bot))
    assert answer.engine == "rules-fallback"
    assert answer.intent == "business_hours"
    assert len(FakeLLM.requests) == 1


def test_llm_engine_falls_back_to_rules_on_500(bot, fake_llm):
    FakeLLM.mode = "error"
    answer = llm(fake_llm).answer(text="where is my order", context=context(bot, language="en"))
    assert answer.engine == "rules-fallback"
    assert answer.intent == "order_status"


def test_llm_engine_falls_back_when_unreachable(bot):
    answer = llm("http://127.0.0.1:9/v1", timeout=0.5).answer(text="oi", context=context(bot))
    assert answer.engine == "rules-fallback"


def test_explicit_handoff_never_needs_the_model(bot, fake_llm):
    answer = llm(fake_llm).answer(text="talk to a human", context=context(bot))
    assert answer.kind == "handoff"
    assert FakeLLM.requests == []


def test_tenant_with_llm_engine_uses_it_through_the_flow(
    bot, tenant, fake_llm, settings, django_capture_on_commit_callbacks
):
    settings.PYTAKE_BOT_LLM_URL = fake_llm
    bot.engine = BotEngineKind.LLM
    bot.save()
    conversation = webchat_conversation(tenant)
    say(conversation, "when do you open?", django_capture_on_commit_callbacks)
    (reply,) = bot_replies(conversation)
    assert reply.text == "Our store opens at 9."
    assert reply.content["bot"]["engine"] == "llm"
