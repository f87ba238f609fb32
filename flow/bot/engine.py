"""The bot engine interface: every engine turns a customer's text into a ``BotAnswer``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flow.bot.models import BotIntent, BotSettings, IntentKind


@dataclass
class BotAnswer:
    """One bot reply and what the bot understood. ``kind`` is the ``IntentKind`` that answered
    (``handoff`` means the customer asked for a human)."""

    text: str
    intent: str
    kind: str
    confidence: float
    sentiment: float
    language: str
    engine: str
    quick_replies: list[str] = field(default_factory=list)

    def metadata(self) -> dict[str, Any]:
        """What is stored in the bot Message's ``content["bot"]``."""
        return {
            "intent": self.intent,
            "kind": self.kind,
            "confidence": round(self.confidence, 3),
            "sentiment": round(self.sentiment, 3),
            "language": self.language,
            "engine": self.engine,
        }


@dataclass
class BotContext:
    """What an engine knows besides the text. Built by the flow from the conversation."""

    settings: BotSettings
    intents: list[BotIntent]
    language: str  # the conversation's language so far (the tenant default at first)
    first_message: bool  # the bot has not spoken in this conversation yet
    now: datetime
    history: list[dict[str, str]] = field(default_factory=list)  # [{"role", "content"}], oldest first

    def is_open(self) -> bool:
        """Within the tenant's business hours (an empty table means always open)."""
        hours = self.settings.business_hours or {}
        if not hours:
            return True
        try:
            zone = ZoneInfo(self.settings.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            zone = ZoneInfo("UTC")
        local = self.now.astimezone(zone)
        day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[local.weekday()]
        clock = local.strftime("%H:%M")
        return any(start <= clock < end for start, end in hours.get(day, []))

    def special(self, kind: str, language: str) -> tuple[str, list[str]]:
        """The tenant's text (and buttons) of a special kind in ``language``, else a built-in one."""
        from flow.bot.defaults import default_text

        for intent in self.intents:
            if intent.kind == kind and intent.language == language:
                return intent.answer, intent.quick_reply_list
        for intent in self.intents:
            if intent.kind == kind:
                return intent.answer, intent.quick_reply_list
        built_in = default_text(kind, language)
        return built_in.answer, list(built_in.quick_replies)


class BotEngine(Protocol):
    name: str

    def answer(self, *, text: str, context: BotContext) -> BotAnswer: ...


__all__ = ["BotAnswer", "BotContext", "BotEngine", "IntentKind"]
