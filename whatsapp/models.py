"""Webhook deliveries, status receipts and the message templates of each business account."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from conversations.models import Tenant, WhatsAppAccount


class WebhookEventStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    PROCESSED = "processed", "Processed"
    DEAD = "dead", "Dead letter"


class WebhookEvent(models.Model):
    """One verified POST from Meta, stored before anything is done with it, so nothing is lost.

    ``body`` is the raw request body exactly as signed; processing reads it again from here, so
    a dead-lettered delivery can be reprocessed after a fix.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    # Null for a delivery about the business account as a whole (template statuses, account
    # updates): it names no phone number, only the account (``business_account_id``).
    account = models.ForeignKey(
        WhatsAppAccount, on_delete=models.CASCADE, related_name="webhook_events", null=True, blank=True
    )
    business_account_id = models.CharField(
        max_length=64, blank=True, db_default="", help_text="The WABA id of an account-level delivery."
    )
    body = models.TextField()
    # sha256 of the body: a delivery replayed as it was (same body, so same signature) is the
    # same event, stored once (null on rows stored before it was kept).
    body_sha256 = models.CharField(max_length=64, null=True, blank=True, editable=False)
    status = models.CharField(max_length=16, choices=WebhookEventStatus.choices, default=WebhookEventStatus.RECEIVED)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["status", "received_at"], name="wa_event_status_idx")]
        constraints = [
            models.UniqueConstraint(fields=["account", "body_sha256"], name="wa_event_once_per_body"),
            models.UniqueConstraint(
                fields=["tenant", "business_account_id", "body_sha256"],
                condition=Q(account__isnull=True),
                name="wa_account_event_once_per_body",
            ),
        ]

    def __str__(self) -> str:
        return f"Webhook #{self.pk} ({self.get_status_display()})"


class StatusReceipt(models.Model):
    """One (message id, status) pair Meta told us about: the idempotency key of status callbacks.

    A receipt whose message is not known yet (Meta's ``sent`` callback can beat the API response
    that gives us the wamid) stays ``applied=False`` and is applied when the wamid is saved.
    """

    account = models.ForeignKey(WhatsAppAccount, on_delete=models.CASCADE, related_name="+")
    wamid = models.CharField(max_length=128)
    status = models.CharField(max_length=32, help_text="As Meta sent it (sent, delivered, read, played, failed…).")
    timestamp = models.DateTimeField()
    errors = models.JSONField(default=list, blank=True)
    raw = models.JSONField(default=dict, blank=True)
    applied = models.BooleanField(default=False)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["timestamp", "id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "wamid", "status"], name="wa_status_receipt_unique"),
        ]
        indexes = [models.Index(fields=["account", "wamid", "applied"], name="wa_receipt_pending_idx")]

    def __str__(self) -> str:
        return f"{self.wamid} {self.status}"


class TemplateStatus(models.TextChoices):
    """Meta's review states of a template (lowercased); ``deleted``: no longer listed by Meta."""

    APPROVED = "approved", "Approved"
    PENDING = "pending", "Pending review"
    REJECTED = "rejected", "Rejected"
    PAUSED = "paused", "Paused"
    DISABLED = "disabled", "Disabled"
    IN_APPEAL = "in_appeal", "In appeal"
    PENDING_DELETION = "pending_deletion", "Pending deletion"
    DELETED = "deleted", "Deleted"
    LIMIT_EXCEEDED = "limit_exceeded", "Limit exceeded"


class ParameterFormat(models.TextChoices):
    POSITIONAL = "positional", "Positional ({{1}})"
    NAMED = "named", "Named ({{first_name}})"


class MessageTemplate(models.Model):
    """A message template of a WhatsApp Business Account, as Meta last described it.

    Templates belong to the business account (WABA), which several of the tenant's numbers may
    share; ``whatsapp.templates`` keeps the rows in step with Meta (sync and status webhooks).
    ``components`` is Meta's JSON unchanged (HEADER, BODY, FOOTER, BUTTONS).
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    business_account_id = models.CharField(max_length=64)
    meta_id = models.CharField(max_length=64, blank=True)
    name = models.CharField(max_length=512)
    language = models.CharField(max_length=16)
    category = models.CharField(max_length=32, blank=True)
    status = models.CharField(max_length=32, choices=TemplateStatus.choices, default=TemplateStatus.PENDING)
    quality = models.CharField(
        max_length=16, blank=True, help_text="Meta's quality score: GREEN, YELLOW, RED, UNKNOWN."
    )
    reason = models.CharField(max_length=255, blank=True, help_text="Why Meta rejected, paused or disabled it.")
    components = models.JSONField(default=list, blank=True)
    parameter_format = models.CharField(
        max_length=16, choices=ParameterFormat.choices, default=ParameterFormat.POSITIONAL
    )
    synced_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "language", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "business_account_id", "name", "language"], name="wa_template_unique_per_waba"
            )
        ]
        indexes = [models.Index(fields=["tenant", "status", "name"], name="wa_template_list_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.language})"
