"""Admin: webhook deliveries (with the dead letters and a "reprocess" action) and status receipts."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from whatsapp import tasks
from whatsapp.models import StatusReceipt, WebhookEvent


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin[WebhookEvent]):
    list_display = ["id", "tenant", "account", "status", "attempts", "received_at", "processed_at"]
    list_filter = ["status", "tenant"]
    search_fields = ["body", "last_error"]
    list_select_related = ["tenant", "account"]
    readonly_fields = ["tenant", "account", "body", "status", "attempts", "last_error", "received_at", "processed_at"]
    actions = ["reprocess"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Reprocess the selected deliveries (dead letters and stuck ones)")
    def reprocess(self, request: HttpRequest, queryset: QuerySet[WebhookEvent]) -> None:
        count = tasks.webhook_event_reprocess(event_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{count} delivery(ies) queued again.", messages.SUCCESS)


@admin.register(StatusReceipt)
class StatusReceiptAdmin(admin.ModelAdmin[StatusReceipt]):
    list_display = ["wamid", "status", "timestamp", "applied", "account"]
    list_filter = ["status", "applied"]
    search_fields = ["wamid"]
    readonly_fields = ["account", "wamid", "status", "timestamp", "errors", "raw", "applied", "received_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
