"""The rules engine: intents with example phrases, matched with accents, case and typos forgiven."""

from __future__ import annotations

from dataclasses import dataclass

from flow.bot.defaults import DEFAULT_INTENTS
from flow.bot.engine import BotAnswer, BotContext
from flow.bot.handoff import handoff_language
from flow.bot.models import BotIntent, IntentKind
from flow.bot.text import phrase_score, sentiment, tokens

MATCHABLE = (IntentKind.INTENT, IntentKind.GREETING, IntentKind.HANDOFF)


@dataclass(frozen=True)
class Match:
    name: str
    kind: str
    language: str
    answer: str
    quick_replies: list[str]
    score: float
    order: int


def _candidates(context: BotContext) -> list[Match]:
    """Every matchable intent of the tenant. The built-in hand-off phrases always count: a customer
    who asks for a human must get one even if an operator deleted the hand-off intents."""
    found = [
        Match(i.name, i.kind, i.language, i.answer, i.quick_reply_list, 0.0, i.order)
        for i in context.intents
        if i.kind in MATCHABLE and i.is_active
    ]
    tenant_handoff_languages = {m.language for m in found if m.kind == IntentKind.HANDOFF}
    for default in DEFAULT_INTENTS:
        if default.kind == IntentKind.HANDOFF and default.language not in tenant_handoff_languages:
            found.append(Match(default.name, default.kind, default.language, default.answer, [], 0.0, 10_000))
    return found


def _examples(context: BotContext, match: Match) -> list[str]:
    for intent in context.intents:
        if (intent.name, intent.kind, intent.language) == (match.name, match.kind, match.language):
            return intent.example_list
    for default in DEFAULT_INTENTS:
        if (default.name, default.kind, default.language) == (match.name, match.kind, match.language):
            return list(default.examples)
    return []


def _handoff_match(language: str, context: BotContext) -> Match:
    """The hand-off intent of ``language``: the tenant's own, else any of the tenant's, else built in."""
    handoffs = [c for c in _candidates(context) if c.kind == IntentKind.HANDOFF]
    same = [c for c in handoffs if c.language == language]
    return min(same or handoffs, key=lambda c: c.order)


def best_match(text: str, context: BotContext) -> tuple[Match | None, float]:
    """The best-scoring intent and its score (None below the tenant's confidence threshold).
    A request for a human (``flow.bot.handoff``) wins outright: no intent that shares a word
    with it ("pedido", "order") may keep the customer from one. A greeting wins only when nothing
    else in the message is understood."""
    handoff = handoff_language(text)
    if handoff is not None:
        return _handoff_match(handoff, context), 1.0
    words = tokens(text)
    best: Match | None = None
    best_score = 0.0
    best_asked: tuple[Match | None, float] = (None, 0.0)  # the best that is not a greeting
    for candidate in _candidates(context):
        score = max((phrase_score(words, example) for example in _examples(context, candidate)), default=0.0)
        if candidate.kind != IntentKind.GREETING and score > best_asked[1]:
            best_asked = (candidate, score)
        # Ties: the hand-off wins (never keep a customer from a human), then the operator's order.
        if score > best_score or (
            best is not None
            and score == best_score
            and (candidate.kind == IntentKind.HANDOFF, -candidate.order)
            > (best.kind == IntentKind.HANDOFF, -best.order)
        ):
            best, best_score = candidate, score
    threshold = context.settings.confidence_threshold
    asked, asked_score = best_asked
    if best is not None and best.kind == IntentKind.GREETING and asked is not None and asked_score >= threshold:
        best, best_score = asked, asked_score  # "Oi, qual o prazo de entrega?": the answer, not the hello
    if best is None or best_score < threshold:
        return None, best_score
    return best, best_score


class RulesEngine:
    name = "rules"

    def answer(self, *, text: str, context: BotContext) -> BotAnswer:
        mood = sentiment(text)
        match, score = best_match(text, context)
        if match is None:
            # The first thing a customer says, if not understood, is met with the greeting.
            kind = IntentKind.GREETING if context.first_message else IntentKind.FALLBACK
            reply, buttons = context.special(kind, context.language)
            return BotAnswer(
                text=reply,
                intent=kind,
                kind=kind,
                confidence=score,
                sentiment=mood,
                language=context.language,
                engine=self.name,
                quick_replies=buttons,
            )
        reply, buttons = match.answer, list(match.quick_replies)
        if match.kind == IntentKind.HANDOFF and not context.is_open():
            reply, buttons = context.special(IntentKind.OUT_OF_HOURS, match.language)
        return BotAnswer(
            text=reply,
            intent=match.name,
            kind=match.kind,
            confidence=score,
            sentiment=mood,
            language=match.language,
            engine=self.name,
            quick_replies=buttons,
        )


__all__ = ["BotIntent", "RulesEngine", "best_match"]
