"""Webhook deliveries and status receipts."""

from __future__ import annotations

from django.db import models
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
    account = models.ForeignKey(WhatsAppAccount, on_delete=models.CASCADE, related_name="webhook_events")
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
        constraints = [models.UniqueConstraint(fields=["account", "body_sha256"], name="wa_event_once_per_body")]

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
