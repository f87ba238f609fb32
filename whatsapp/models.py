"""Webhook deliveries, status receipts, and the state of the built-in Cloud API simulator."""

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


class SimDirection(models.TextChoices):
    TO_BUSINESS = "to_business", "Customer → business"
    TO_CUSTOMER = "to_customer", "Business → customer"


class SimulatedMessage(models.Model):
    """What the simulated customer phone shows: messages it sent and messages the business sent it."""

    phone_number_id = models.CharField(max_length=64)
    wa_id = models.CharField(max_length=32)
    direction = models.CharField(max_length=16, choices=SimDirection.choices)
    wamid = models.CharField(max_length=128, unique=True)
    type = models.CharField(max_length=32)
    body = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, default="sent")
    callback_data = models.CharField(max_length=512, blank=True)  # biz_opaque_callback_data, echoed in statuses
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["phone_number_id", "wa_id", "created_at"], name="wa_sim_thread_idx")]

    def __str__(self) -> str:
        return f"{self.get_direction_display()} {self.wa_id} {self.type}"


class SimulatedMedia(models.Model):
    """A file the simulated phone uploaded; served by the simulator's media endpoints."""

    media_id = models.CharField(max_length=64, unique=True)
    phone_number_id = models.CharField(max_length=64)
    file = models.FileField(upload_to="simulator/")
    mime_type = models.CharField(max_length=128)
    sha256 = models.CharField(max_length=64)
    file_size = models.PositiveIntegerField()
    filename = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"media {self.media_id}"


class FaultKind(models.TextChoices):
    SERVER_ERROR = "server_error", "HTTP 500"
    RATE_LIMIT = "rate_limit", "HTTP 429 (code 130429)"
    OUTSIDE_WINDOW = "outside_window", "Code 131047 (re-engagement: outside the 24-hour window)"
    ANSWER_LOST = "answer_lost", "Sent, but answered only after the client's timeout"


class SimulatorFault(models.Model):
    """Forces the simulator's next ``remaining`` send requests to fail (for tests and demos).

    Blank ``phone_number_id`` / ``wa_id`` match any. Kept in the database so that a test process
    can arm it for a simulator running in another process.
    """

    kind = models.CharField(max_length=32, choices=FaultKind.choices)
    phone_number_id = models.CharField(max_length=64, blank=True)
    wa_id = models.CharField(max_length=32, blank=True)
    remaining = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} x{self.remaining}"
