"""Choosing the engine, building its context, and deciding when to hand over to a human."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone

from conversations.models import Conversation, Direction, Message, SenderType
from flow.bot.engine import BotAnswer, BotContext, BotEngine
from flow.bot.llm import LLMEngine
from flow.bot.models import BotEngineKind, BotIntent, BotSettings, IntentKind
from flow.bot.rules import RulesEngine

HISTORY_LENGTH = 10


def bot_settings_for(*, tenant_id: int) -> BotSettings:
    """The tenant's settings, or unsaved defaults when an operator never created them."""
    found = BotSettings.objects.select_related("tenant").filter(tenant_id=tenant_id).first()
    if found is None:
        found = BotSettings(tenant_id=tenant_id)
    return found


def engine_for(bot: BotSettings) -> BotEngine:
    url = getattr(settings, "PYTAKE_BOT_LLM_URL", "")
    if bot.engine == BotEngineKind.LLM and url:
        return LLMEngine(
            url=url,
            model=settings.PYTAKE_BOT_LLM_MODEL,
            api_key=settings.PYTAKE_BOT_LLM_API_KEY,
            timeout=settings.PYTAKE_BOT_LLM_TIMEOUT,
        )
    return RulesEngine()


def bot_context_for(*, conversation: Conversation, before: Message | None = None) -> BotContext:
    """The bot's view of ``conversation`` up to (not including) ``before``."""
    bot = bot_settings_for(tenant_id=conversation.tenant_id)
    intents = list(BotIntent.objects.filter(tenant_id=conversation.tenant_id, is_active=True))
    qs = Message.objects.filter(conversation=conversation, internal=False)
    if before is not None:
        qs = qs.filter(pk__lt=before.pk)
    # Messages are in the order they were stored (their id), as everywhere: WhatsApp's times are
    # whole seconds, so a customer's message and the bot's answer can share one.
    recent = list(qs.order_by("-id")[:HISTORY_LENGTH])[::-1]
    bot_messages = [m for m in recent if m.sender_type == SenderType.BOT]
    language = bot.default_language
    if bot_messages:
        language = (bot_messages[-1].content.get("bot") or {}).get("language") or language
    first = not Message.objects.filter(conversation=conversation, sender_type=SenderType.BOT).exists()
    history = [
        {"role": "user" if m.direction == Direction.INBOUND else "assistant", "content": m.text}
        for m in recent
        if m.text and m.sender_type in (SenderType.CONTACT, SenderType.BOT, SenderType.AGENT)
    ]
    return BotContext(
        settings=bot, intents=intents, language=language, first_message=first, now=timezone.now(), history=history
    )


def conversation_language(*, conversation: Conversation) -> str:
    """The language the bot speaks in ``conversation``: that of its latest answer, else the
    tenant's bot language. Everything said to the customer uses it."""
    latest = (
        Message.objects.filter(conversation=conversation, sender_type=SenderType.BOT)
        .order_by("-id")
        .values_list("content", flat=True)
        .first()
    )
    if isinstance(latest, dict):
        language = (latest.get("bot") or {}).get("language")
        if isinstance(language, str) and language:
            return language
    return bot_settings_for(tenant_id=conversation.tenant_id).default_language


def tenant_language(*, tenant_id: int) -> str:
    """The tenant's bot language: what its staff's history lines are stored in."""
    return bot_settings_for(tenant_id=tenant_id).default_language


def consecutive_fallbacks(*, conversation: Conversation) -> int:
    """How many of the bot's latest answers in a row were fallbacks."""
    count = 0
    answers = Message.objects.filter(conversation=conversation, sender_type=SenderType.BOT).order_by("-id")
    for message in answers[:20]:
        meta = message.content.get("bot") if isinstance(message.content, dict) else None
        if not meta or meta.get("kind") == IntentKind.QUEUED:
            continue  # queue notices are not answers
        if meta.get("kind") != IntentKind.FALLBACK:
            break
        count += 1
    return count


def escalation_reason(*, answer: BotAnswer, previous_fallbacks: int, bot: BotSettings) -> str | None:
    """Why this answer hands the conversation to a human, or None.

    ``requested``: the customer asked (in words or with the quick reply). ``negative_sentiment``:
    the customer is upset. ``repeated_fallback``: the bot failed to understand ``fallback_limit``
    times in a row (counting this answer).
    """
    if answer.kind == IntentKind.HANDOFF:
        return "requested"
    if answer.sentiment <= bot.negative_sentiment_threshold:
        return "negative_sentiment"
    if answer.kind == IntentKind.FALLBACK and previous_fallbacks + 1 >= max(1, bot.fallback_limit):
        return "repeated_fallback"
    return None
