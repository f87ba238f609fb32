"""Admin: webhook deliveries (with the dead letters and a "reprocess" action), status receipts and
message templates (with a "sync now" action)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from whatsapp import tasks, templates
from whatsapp.client import GraphError
from whatsapp.models import MessageTemplate, StatusReceipt, WebhookEvent


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin[WebhookEvent]):
    list_display = [
        "id",
        "tenant",
        "account",
        "business_account_id",
        "status",
        "attempts",
        "received_at",
        "processed_at",
    ]
    list_filter = ["status", "tenant"]
    search_fields = ["body", "last_error"]
    list_select_related = ["tenant", "account"]
    readonly_fields = [
        "tenant",
        "account",
        "business_account_id",
        "body",
        "status",
        "attempts",
        "last_error",
        "received_at",
        "processed_at",
    ]
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


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin[MessageTemplate]):
    list_display = ["name", "language", "category", "status", "quality", "tenant", "business_account_id", "synced_at"]
    list_filter = ["status", "category", "quality", "language", "tenant"]
    search_fields = ["name", "business_account_id", "meta_id"]
    list_select_related = ["tenant"]
    readonly_fields = [f.name for f in MessageTemplate._meta.fields]
    actions = ["sync_now"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # templates are made and reviewed at Meta; PyTake mirrors them

    @admin.action(description="Sync now from Meta (the selected templates' tenants)")
    def sync_now(self, request: HttpRequest, queryset: QuerySet[MessageTemplate]) -> None:
        for tenant_id in sorted(set(queryset.values_list("tenant_id", flat=True))):
            try:
                result = templates.templates_sync_tenant(tenant_id=tenant_id)
            except GraphError as exc:
                self.message_user(request, f"Tenant {tenant_id}: Meta refused the list ({exc}).", messages.ERROR)
                continue
            self.message_user(
                request,
                f"Tenant {tenant_id}: {result.created} new, {result.updated} changed, {result.removed} gone.",
                messages.SUCCESS,
            )
