"""The rules bot's data, per tenant and editable in Django admin: settings and intents.

An intent has example phrases (one per line) and an answer. Special kinds hold the bot's fixed
texts per language: the greeting, the hand-off request ("talk to a human"), the fallback, the
out-of-hours notice and the queue-position notice.
"""

from __future__ import annotations

from typing import Any

from django.db import models

from conversations.models import Tenant


class Language(models.TextChoices):
    PORTUGUESE = "pt", "Português"
    ENGLISH = "en", "English"


class BotEngineKind(models.TextChoices):
    RULES = "rules", "Rules"
    LLM = "llm", "LLM (OpenAI-compatible endpoint), falling back to rules"


def default_business_hours() -> dict[str, Any]:
    week = {day: [["09:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
    return {**week, "sat": [["09:00", "13:00"]], "sun": []}


class BotSettings(models.Model):
    """How a tenant's bot behaves. A tenant without a row gets the defaults below."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="bot_settings")
    enabled = models.BooleanField(default=True, help_text="Off: every inbound message goes straight to the queue.")
    engine = models.CharField(max_length=16, choices=BotEngineKind.choices, default=BotEngineKind.RULES)
    default_language = models.CharField(max_length=8, choices=Language.choices, default=Language.PORTUGUESE)
    timezone = models.CharField(max_length=64, default="America/Sao_Paulo")
    business_hours = models.JSONField(
        default=default_business_hours,
        blank=True,
        help_text='Per weekday (mon…sun) a list of ["HH:MM", "HH:MM"] intervals; empty object: always open.',
    )
    confidence_threshold = models.FloatField(default=0.6, help_text="Below this, an intent does not match.")
    fallback_limit = models.PositiveSmallIntegerField(
        default=2, help_text="Consecutive fallback answers after which the bot hands over to a human."
    )
    negative_sentiment_threshold = models.FloatField(
        default=-0.5, help_text="Sentiment (-1…1) at or below which the bot hands over to a human."
    )

    class Meta:
        db_table = "conversations_botsettings"  # created when the bot lived in conversations
        verbose_name = "bot settings"
        verbose_name_plural = "bot settings"

    def __str__(self) -> str:
        return f"Bot of {self.tenant}"


class IntentKind(models.TextChoices):
    INTENT = "intent", "Intent (examples → answer)"
    GREETING = "greeting", "Greeting"
    HANDOFF = "handoff", "Hand-off request (talk to a human)"
    FALLBACK = "fallback", "Fallback (nothing matched)"
    OUT_OF_HOURS = "out_of_hours", "Out of business hours notice"
    QUEUED = "queued", "Queue notice ({position}, {minutes})"


class BotIntent(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="bot_intents")
    kind = models.CharField(max_length=16, choices=IntentKind.choices, default=IntentKind.INTENT)
    name = models.SlugField(max_length=64, help_text="Stable id of the intent, stored on every bot answer.")
    language = models.CharField(max_length=8, choices=Language.choices, default=Language.PORTUGUESE)
    examples = models.TextField(blank=True, help_text="Example phrases, one per line.")
    answer = models.TextField(help_text="What the bot says.")
    quick_replies = models.TextField(blank=True, help_text="Buttons offered with the answer, one per line (max 3).")
    is_active = models.BooleanField(default=True)
    order = models.PositiveIntegerField(default=0, help_text="Lower first when two intents score the same.")

    class Meta:
        db_table = "conversations_botintent"
        ordering = ["tenant", "order", "name", "language"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "kind", "name", "language"], name="bot_intent_unique_per_tenant")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.language})"

    @property
    def example_list(self) -> list[str]:
        return [line.strip() for line in self.examples.splitlines() if line.strip()]

    @property
    def quick_reply_list(self) -> list[str]:
        return [line.strip() for line in self.quick_replies.splitlines() if line.strip()][:3]
