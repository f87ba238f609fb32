"""What the Cloud API simulator remembers: the simulated phones' messages, the files they
uploaded, and the failures armed for its next Graph API calls. These tables exist only where the
simulator is installed (``PYTAKE_SIMULATOR``).

Each model names its manager: the type checker reads the settings with the simulator off, where
its plugin does not know these models.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


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

    objects: models.Manager[SimulatedMessage] = models.Manager()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["phone_number_id", "wa_id", "created_at"], name="sim_message_thread_idx")]

    def __str__(self) -> str:
        return f"{SimDirection(self.direction).label} {self.wa_id} {self.type}"


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

    objects: models.Manager[SimulatedMedia] = models.Manager()

    def __str__(self) -> str:
        return f"media {self.media_id}"


class FaultKind(models.TextChoices):
    SERVER_ERROR = "server_error", "HTTP 500"
    RATE_LIMIT = "rate_limit", "HTTP 429 (code 130429)"
    OUTSIDE_WINDOW = "outside_window", "Code 131047 (re-engagement: outside the 24-hour window), as a failed status"
    MARKETING_LIMIT = "marketing_limit", "Code 131049 (per-user marketing limit), as a failed status"
    UNDELIVERABLE = "undeliverable", "Code 131026 (message undeliverable), as a failed status"
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

    objects: models.Manager[SimulatorFault] = models.Manager()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} x{self.remaining}"


class SimulatedTemplate(models.Model):
    """A message template of a business account (WABA), as Meta keeps it: served by the
    templates endpoint, checked on send, its status changed by an operator on the phone page
    (which sends ``message_template_status_update``). Seeded per account on first use."""

    business_account_id = models.CharField(max_length=64)
    meta_id = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=512)
    language = models.CharField(max_length=16)
    category = models.CharField(max_length=32, default="UTILITY")
    status = models.CharField(max_length=32, default="APPROVED")
    parameter_format = models.CharField(max_length=16, default="POSITIONAL")
    components = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects: models.Manager[SimulatedTemplate] = models.Manager()

    class Meta:
        ordering = ["name", "language", "id"]
        constraints = [
            models.UniqueConstraint(fields=["business_account_id", "name", "language"], name="sim_template_unique")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.language}) {self.status}"
