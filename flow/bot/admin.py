"""Django admin for the bot: per-tenant settings and intents (examples, answers, quick replies)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from conversations import interactive
from conversations.models import Tenant
from flow.bot.defaults import bot_seed_defaults
from flow.bot.models import BotIntent, BotSettings
from flow.models import QueueTicket


@admin.register(BotSettings)
class BotSettingsAdmin(admin.ModelAdmin[BotSettings]):
    list_display = ["tenant", "enabled", "engine", "default_language", "timezone", "fallback_limit"]
    list_filter = ["enabled", "engine"]
    actions = ["load_defaults"]

    @admin.action(description="Load the default intents (Portuguese and English) the tenant lacks")
    def load_defaults(self, request: HttpRequest, queryset: QuerySet[BotSettings]) -> None:
        created = sum(bot_seed_defaults(tenant=Tenant.objects.get(pk=s.tenant_id)) for s in queryset)
        self.message_user(request, f"Created {created} intent(s).", messages.SUCCESS)


class BotIntentForm(forms.ModelForm[BotIntent]):
    """An intent's answer and buttons must fit WhatsApp's limits (``conversations.interactive``):
    a title over 20 characters would reach the customer cut."""

    class Meta:
        model = BotIntent
        fields = ["tenant", "kind", "name", "language", "examples", "answer", "quick_replies", "is_active", "order"]

    def clean(self) -> dict[str, object]:
        cleaned = super().clean() or {}
        answer = str(cleaned.get("answer") or "")
        lines = [line.strip() for line in str(cleaned.get("quick_replies") or "").splitlines() if line.strip()]
        for problem in interactive.reply_buttons_problems(body=answer, buttons=lines):
            field = "answer" if problem.field == "body" else "quick_replies"
            self.add_error(field, forms.ValidationError(problem.message, code=str(problem.code)))
        return cleaned


@admin.register(BotIntent)
class BotIntentAdmin(admin.ModelAdmin[BotIntent]):
    form = BotIntentForm
    list_display = ["name", "kind", "language", "tenant", "is_active", "order"]
    list_filter = ["tenant", "kind", "language", "is_active"]
    search_fields = ["name", "examples", "answer"]
    list_editable = ["is_active", "order"]
    list_select_related = ["tenant"]


@admin.register(QueueTicket)
class QueueTicketAdmin(admin.ModelAdmin[QueueTicket]):
    """Read-only history of stays in the queue (wait estimates come from it)."""

    list_display = [
        "conversation",
        "tenant",
        "reason",
        "outcome",
        "entered_at",
        "assigned_at",
        "assignee",
        "handled_until",
    ]
    list_filter = ["tenant", "outcome", "reason"]
    list_select_related = ["tenant", "assignee"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
