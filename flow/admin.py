"""Django admin of conversations, with the operators' actions that move them (resolve, reopen,
assign), which go through the same services as the inbox."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from conversations.audit import audit_record
from conversations.models import AuditAction, Conversation, Message, User
from flow import assignment
from pytake.errors import ApplicationError


class MessageInline(admin.TabularInline[Message, Conversation]):
    """Read-only history: operators look, they do not rewrite what a customer said."""

    model = Message
    fields = ("created_at", "direction", "sender_type", "sender", "type", "text", "status", "error_code")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["id"]
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class AssignActionForm(ActionForm):
    assignee = forms.ModelChoiceField(
        queryset=User.objects.filter(is_active=True, tenant__isnull=False).select_related("tenant"),
        required=False,
        label="Assign to",
        help_text="Used by the 'assign' action; empty returns the conversations to the queue.",
    )


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin[Conversation]):
    list_display = ["id", "contact", "tenant", "channel", "status", "assignee", "unread_count", "last_message_at"]
    list_filter = ["tenant", "status", "channel", ("assignee", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["contact__name", "contact__profile_name", "contact__wa_id", "contact__phone"]
    list_select_related = ["contact", "tenant", "assignee"]
    readonly_fields = (
        "tenant",
        "contact",
        "channel",
        "whatsapp_account",
        "status",
        "assignee",
        "queued_at",
        "last_message_at",
        "last_message_preview",
        "unread_count",
        "last_customer_message_at",
        "resolved_at",
        "created_at",
        "updated_at",
    )
    inlines = [MessageInline]
    action_form = AssignActionForm
    actions = ["resolve", "reopen", "assign"]
    date_hierarchy = "last_message_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def _each(self, request: HttpRequest, queryset: QuerySet[Conversation], verb: str, action: str, fn: Any) -> None:
        """Apply ``fn`` to each conversation in its own transaction, with the operator in the audit trail."""
        done = 0
        operator = request.user
        for conversation in queryset.order_by("pk"):
            try:
                with transaction.atomic():
                    before = {"status": conversation.status, "assignee": conversation.assignee_id}
                    changed = fn(conversation)
                    if isinstance(operator, User):
                        audit_record(
                            tenant_id=conversation.tenant_id,
                            actor=operator,
                            action=action,
                            conversation=changed,
                            data={
                                "before": before,
                                "after": {"status": changed.status, "assignee": changed.assignee_id},
                            },
                            via="admin",
                        )
                done += 1
            except ApplicationError as exc:
                self.message_user(request, f"#{conversation.pk}: {exc.message}", messages.WARNING)
        self.message_user(request, f"{verb} {done} conversation(s).", messages.SUCCESS)

    @admin.action(description="Resolve selected conversations")
    def resolve(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> None:
        self._each(
            request,
            queryset,
            "Resolved",
            AuditAction.RESOLVE,
            lambda c: assignment.conversation_resolve(conversation=c, actor=None),
        )

    @admin.action(description="Reopen selected conversations")
    def reopen(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> None:
        self._each(
            request,
            queryset,
            "Reopened",
            AuditAction.REOPEN,
            lambda c: assignment.conversation_reopen(conversation=c, actor=None),
        )

    @admin.action(description="Assign selected conversations (choose the agent beside the action)")
    def assign(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> None:
        chosen = request.POST.get("assignee") or None
        assignee = User.objects.filter(pk=chosen, is_active=True).first() if chosen and chosen.isdigit() else None
        self._each(
            request,
            queryset,
            "Assigned" if assignee else "Unassigned",
            AuditAction.ASSIGN if assignee else AuditAction.UNASSIGN,
            lambda c: assignment.conversation_assign(conversation=c, assignee=assignee, actor=None),
        )
