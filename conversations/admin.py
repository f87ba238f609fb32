"""Django admin for operators: tenants, staff, WhatsApp numbers, contacts and the audit trail
(conversations, with their assignment actions, are in ``flow.admin``)."""

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.http import HttpRequest

from conversations.models import AuditEntry, Contact, Tenant, User, WhatsAppAccount


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
            "sending_blocked_at",
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
    list_display = [
        "display_phone_number",
        "phone_number_id",
        "tenant",
        "is_active",
        "sending_blocked_at",
        "messaging_limit",
        "quality_event",
        "name_status",
        "account_status",
        "created_at",
    ]
    list_filter = ["tenant", "is_active", ("sending_blocked_at", admin.EmptyFieldListFilter)]
    search_fields = ["display_phone_number", "phone_number_id", "name"]
    # What Meta's account webhooks said (whatsapp.account_events): Meta's to change, not ours.
    readonly_fields = [
        "sending_blocked_code",
        "sending_blocked_reason",
        "messaging_limit",
        "quality_event",
        "name_status",
        "requested_name",
        "name_rejection_reason",
        "account_status",
        "account_status_detail",
        "last_account_event_at",
    ]
    actions = ["resume_sending"]

    @admin.action(description="Resume sending (the cause is fixed): the waiting messages are sent")
    def resume_sending(self, request: Any, queryset: Any) -> None:
        resumed = 0
        for account in queryset.filter(sending_blocked_at__isnull=False):
            account.sending_blocked_at = None
            account.save()  # the WhatsApp app sends the waiting messages (whatsapp.account_health)
            resumed += 1
        self.message_user(request, f"{resumed} number(s) sending again.")


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin[Contact]):
    list_display = ["display_name", "wa_id", "wa_user_id", "phone", "marketing_opt_out", "tenant", "created_at"]
    list_filter = ["tenant", "marketing_opt_out"]
    search_fields = ["name", "profile_name", "wa_id", "wa_user_id", "wa_username", "phone"]
    list_select_related = ["tenant"]


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


from conversations import toolbox_admin  # noqa: E402, F401  (registers the toolbox's models)
