"""Django admin for operators: tenants, staff, WhatsApp numbers, contacts and conversations."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from conversations import services
from conversations.audit import audit_record
from conversations.models import AuditAction, AuditEntry, Contact, Conversation, Message, Tenant, User, WhatsAppAccount
from pytake.errors import ApplicationError


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin[Tenant]):
    list_display = ["name", "slug", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "name", "tenant", "role", "availability", "is_active", "is_staff"]
    list_filter = ["tenant", "role", "availability", "is_active", "is_staff"]
    search_fields = ["email", "name"]
    list_select_related = ["tenant"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("name", "tenant", "role", "availability", "max_open_conversations")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "name", "tenant", "role", "password1", "password2")}),
    )


SECRETS = ("access_token", "app_secret", "verify_token")


class WhatsAppAccountForm(forms.ModelForm[WhatsAppAccount]):
    """Secrets are write-only here: blank keeps the stored value, and it is never shown back."""

    access_token = forms.CharField(widget=forms.PasswordInput(render_value=False), required=False)
    app_secret = forms.CharField(widget=forms.PasswordInput(render_value=False), required=False)
    verify_token = forms.CharField(widget=forms.PasswordInput(render_value=False), required=False)

    class Meta:
        model = WhatsAppAccount
        fields = [
            "tenant",
            "name",
            "phone_number_id",
            "display_phone_number",
            "business_account_id",
            "access_token",
            "app_secret",
            "verify_token",
            "is_active",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in SECRETS:  # whether one is stored, never what it is
            stored = bool(self.instance.pk and getattr(self.instance, field))
            self.fields[field].help_text = "Set; leave blank to keep it." if stored else "Not set."

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for field in SECRETS:
            if not data.get(field) and self.instance.pk:
                data[field] = getattr(self.instance, field)
        if not data.get("app_secret"):
            self.add_error("app_secret", "Required: the Meta app secret signs every webhook.")
        if not data.get("verify_token"):
            self.add_error("verify_token", "Required: Meta sends it when the webhook is subscribed.")
        return data


@admin.register(WhatsAppAccount)
class WhatsAppAccountAdmin(admin.ModelAdmin[WhatsAppAccount]):
    form = WhatsAppAccountForm
    list_display = ["display_phone_number", "phone_number_id", "tenant", "is_active", "created_at"]
    list_filter = ["tenant", "is_active"]
    search_fields = ["display_phone_number", "phone_number_id", "name"]


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin[Contact]):
    list_display = ["display_name", "wa_id", "phone", "tenant", "created_at"]
    list_filter = ["tenant"]
    search_fields = ["name", "profile_name", "wa_id", "phone"]
    list_select_related = ["tenant"]


class MessageInline(admin.TabularInline[Message, Conversation]):
    """Read-only history: operators look, they do not rewrite what a customer said."""

    model = Message
    fields = ("created_at", "direction", "sender_type", "sender", "type", "text", "status", "error_code")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["created_at", "id"]
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
            lambda c: services.conversation_resolve(conversation=c, actor=None),
        )

    @admin.action(description="Reopen selected conversations")
    def reopen(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> None:
        self._each(
            request,
            queryset,
            "Reopened",
            AuditAction.REOPEN,
            lambda c: services.conversation_reopen(conversation=c, actor=None),
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
            lambda c: services.conversation_assign(conversation=c, assignee=assignee, actor=None),
        )


from conversations.bot import admin as bot_admin  # noqa: E402, F401  (registers the bot's admin)


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin[AuditEntry]):
    """Read-only: the trail of who assigned, transferred, resolved, reopened and broadcast."""

    list_display = ["created_at", "tenant", "actor_email", "via", "action", "conversation"]
    list_filter = ["tenant", "action", "via"]
    search_fields = ["actor_email", "conversation__contact__name"]
    list_select_related = ["tenant", "conversation__contact"]
    date_hierarchy = "created_at"
    readonly_fields = ["created_at", "tenant", "actor", "actor_email", "via", "action", "conversation", "data"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
