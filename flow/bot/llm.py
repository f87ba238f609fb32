"""An engine that asks an OpenAI-compatible chat endpoint (``POST {url}/chat/completions``).

Configured by ``PYTAKE_BOT_LLM_URL``, ``PYTAKE_BOT_LLM_MODEL``, ``PYTAKE_BOT_LLM_API_KEY`` and
``PYTAKE_BOT_LLM_TIMEOUT``. Any failure (timeout, connection error, non-2xx, an answer that is not
the expected shape) falls back to the rules engine, so the customer always gets a reply.
An explicit request for a human is decided by the rules first: no model call is needed for it.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx

from conversations import interactive
from flow.bot.engine import BotAnswer, BotContext
from flow.bot.models import IntentKind
from flow.bot.rules import RulesEngine
from flow.bot.text import sentiment

log = logging.getLogger(__name__)

SYSTEM_PROMPT = """You are the customer-service assistant of {tenant}. Answer briefly, in the customer's language
({languages}). Use only these facts:
{facts}
Reply with a JSON object only: {{"answer": str, "intent": str (one of: {intents}, or "other"),
"confidence": number 0-1, "sentiment": number -1 (angry) to 1 (happy), "quick_replies": [up to 3 short strings],
"handoff": true if the customer wants or needs a human agent}}."""


class LLMEngine:
    name = "llm"

    def __init__(self, *, url: str, model: str, api_key: str, timeout: float, fallback: RulesEngine | None = None):
        self.url = url.rstrip("/") + "/chat/completions"
        self.model = model
        self.api_key = api_key
        self.timeout = timeout
        self.fallback = fallback or RulesEngine()

    def answer(self, *, text: str, context: BotContext) -> BotAnswer:
        rules = self.fallback.answer(text=text, context=context)
        if rules.kind == IntentKind.HANDOFF:
            return rules
        try:
            reply = self._ask(text, context)
        except (httpx.HTTPError, ValueError, KeyError, TypeError, IndexError) as exc:
            log.warning("LLM bot engine failed (%s: %s); answering with the rules engine", type(exc).__name__, exc)
            rules.engine = "rules-fallback"
            return rules
        return reply

    def _ask(self, text: str, context: BotContext) -> BotAnswer:
        intents = [i for i in context.intents if i.kind == IntentKind.INTENT and i.is_active]
        facts = "\n".join(f"- {i.name}: {i.answer}" for i in intents) or "- (none)"
        system = SYSTEM_PROMPT.format(
            tenant=context.settings.tenant.name,
            languages=", ".join(sorted({i.language for i in context.intents} or {context.language})),
            facts=facts,
            intents=", ".join(sorted({i.name for i in intents})) or "other",
        )
        payload = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": system},
                *context.history[-10:],
                {"role": "user", "content": text},
            ],
            "temperature": 0.2,
        }
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        response = httpx.post(self.url, json=payload, headers=headers, timeout=self.timeout)
        response.raise_for_status()
        content = response.json()["choices"][0]["message"]["content"]
        if not isinstance(content, str) or not content.strip():
            raise ValueError("empty completion")
        return self._parse(content, text, context)

    def _parse(self, content: str, text: str, context: BotContext) -> BotAnswer:
        data: dict[str, Any]
        try:
            parsed = json.loads(content.strip().removeprefix("```json").removesuffix("```"))
            data = parsed if isinstance(parsed, dict) else {"answer": content}
        except json.JSONDecodeError:
            data = {"answer": content}  # a model that ignored the format still answered
        answer = str(data.get("answer") or "").strip()
        if not answer:
            raise ValueError("completion without an answer")
        handoff = bool(data.get("handoff"))
        mood = _number(data.get("sentiment"), sentiment(text), -1.0, 1.0)
        # A title the phone would cut is left out, not cut ("Horário de funcionam"); so are extras.
        offered = [str(b).strip() for b in data.get("quick_replies") or [] if str(b).strip()]
        buttons = interactive.usable_buttons(body=answer, buttons=offered)
        return BotAnswer(
            text=answer,
            intent="handoff" if handoff else str(data.get("intent") or "other")[:64],
            kind=IntentKind.HANDOFF if handoff else IntentKind.INTENT,
            confidence=_number(data.get("confidence"), 0.5, 0.0, 1.0),
            sentiment=mood,
            language=context.language,
            engine=self.name,
            quick_replies=buttons,
        )


def _number(value: object, default: float, low: float, high: float) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default
    return max(low, min(high, number))
