"""Tenants, staff, contacts, conversations and messages.

Every row that a user can see belongs to exactly one tenant; every query that serves a user goes
through ``conversations.selectors``, which scopes it.
"""

from __future__ import annotations

import mimetypes
import uuid
from typing import Any, ClassVar

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models import Q
from django.utils import timezone

from pytake.crypto import EncryptedTextField


class TrackedFieldsMixin:
    """Remembers the values of ``tracked_fields`` as loaded or last saved, so that a ``post_save``
    handler can tell what changed (``instance.previous("status")``) without another query."""

    tracked_fields: tuple[str, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._remember()

    def _remember(self) -> None:
        # Only loaded values: reading a deferred field here would query (and recurse) from __init__.
        loaded = self.__dict__
        self._previous = (
            {name: loaded[name] for name in self.tracked_fields if name in loaded} if loaded.get("id") else {}
        )

    def previous(self, name: str) -> Any:
        """The value of ``name`` when the row was loaded or last saved (None for a new row)."""
        return self._previous.get(name)

    def changed(self, name: str) -> bool:
        return name in self._previous and self._previous[name] != getattr(self, name)

    def mark_saved(self) -> None:
        """Called by the publish path after post_save handlers ran."""
        self._remember()


class Tenant(models.Model):
    """An organisation using PyTake. Nothing crosses from one tenant to another."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=64, unique=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    SUPERVISOR = "supervisor", "Supervisor"
    AGENT = "agent", "Agent"


class Availability(models.TextChoices):
    AVAILABLE = "available", "Available"
    AWAY = "away", "Away"


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields: Any) -> User:
        if not email:
            raise ValueError("Users must have an email address.")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields: Any) -> User:
        fields.setdefault("is_staff", True)
        fields.setdefault("is_superuser", True)
        fields.setdefault("role", Role.ADMIN)
        return self.create_user(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    """A person working in the inbox. Logs in with email; belongs to one tenant (operators may not)."""

    email = models.EmailField(unique=True)
    name = models.CharField(max_length=150, blank=True)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="users", null=True, blank=True)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.AGENT)
    availability = models.CharField(max_length=16, choices=Availability.choices, default=Availability.AVAILABLE)
    max_open_conversations = models.PositiveIntegerField(default=10, help_text="Capacity used by automatic assignment.")
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="Can log into Django admin.")
    date_joined = models.DateTimeField(default=timezone.now)

    objects: ClassVar[UserManager] = UserManager()  # type: ignore[assignment]

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        ordering = ["email"]
        indexes = [models.Index(fields=["tenant", "role"])]

    def __str__(self) -> str:
        return self.email

    @property
    def is_supervisor(self) -> bool:
        """Supervisors and admins see and manage the whole tenant."""
        return self.role in (Role.ADMIN, Role.SUPERVISOR)

    def get_full_name(self) -> str:
        return self.name or self.email

    def get_short_name(self) -> str:
        return self.name or self.email


class WhatsAppAccount(models.Model):
    """A WhatsApp Business phone number of a tenant, with the Meta app credentials behind it."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="whatsapp_accounts")
    name = models.CharField(max_length=200, blank=True)
    phone_number_id = models.CharField(max_length=64, unique=True)
    display_phone_number = models.CharField(max_length=32)
    business_account_id = models.CharField(max_length=64, blank=True)
    # Encrypted at rest (pytake/crypto.py); never shown back by admin, never in the API.
    access_token = EncryptedTextField(blank=True)
    app_secret = EncryptedTextField()
    verify_token = EncryptedTextField(
        help_text="Meta's webhook verify token: the one set in the app's webhook settings."
    )
    is_active = models.BooleanField(default=True)
    # An error of the whole account (an expired token, a policy block) stops sending from this
    # number: messages wait, pending, until an admin fixes the cause and clears this.
    sending_blocked_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When WhatsApp refused this number's messages for an account-wide reason. "
        "Clear it once fixed (a new access token, an appeal): the waiting messages are sent then.",
    )
    sending_blocked_code = models.IntegerField(null=True, blank=True, help_text="Meta's error code (190, 368…).")
    sending_blocked_reason = models.CharField(
        max_length=255, blank=True, db_default="", help_text="Meta's error title."
    )
    # What Meta's account webhooks last said of the number and its business account (read-only:
    # Meta decides these; the number's admins are alerted of each change).
    quality_event = models.CharField(
        max_length=32,
        blank=True,
        db_default="",
        help_text="Meta's last quality or limit event (FLAGGED, UNFLAGGED, UPGRADE, DOWNGRADE…).",
    )
    messaging_limit = models.CharField(
        max_length=32, blank=True, db_default="", help_text="Meta's messaging limit tier (TIER_1K, TIER_10K…)."
    )
    name_status = models.CharField(
        max_length=16,
        blank=True,
        db_default="",
        help_text="Meta's decision on the display name (APPROVED, REJECTED, DEFERRED, PENDING).",
    )
    requested_name = models.CharField(
        max_length=200, blank=True, db_default="", help_text="The display name Meta reviewed."
    )
    name_rejection_reason = models.CharField(max_length=64, blank=True, db_default="")
    account_status = models.CharField(
        max_length=64,
        blank=True,
        db_default="",
        help_text="The business account's last restriction, violation or disabling event from Meta.",
    )
    account_status_detail = models.CharField(
        max_length=255, blank=True, db_default="", help_text="What Meta said of it (violation, restriction…)."
    )
    last_account_event_at = models.DateTimeField(
        null=True, blank=True, help_text="When Meta last told of a change to the number or its business account."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["tenant", "display_phone_number"]

    def __str__(self) -> str:
        return f"{self.display_phone_number} ({self.tenant})"


class Contact(models.Model):
    """A customer. WhatsApp contacts are known by their phone number (``wa_id``), by Meta's
    business-scoped user id (``wa_user_id``: a customer with a username may hide their number),
    or both; web-chat contacts have neither."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="contacts")
    wa_id = models.CharField(max_length=32, blank=True)
    wa_user_id = models.CharField(
        max_length=160,
        blank=True,
        db_default="",
        help_text="WhatsApp's business-scoped user id (BSUID, e.g. US.13491208655302741918).",
    )
    wa_username = models.CharField(
        max_length=64, blank=True, db_default="", help_text="The WhatsApp username, if the customer set one."
    )
    phone = models.CharField(max_length=32, blank=True)
    name = models.CharField(max_length=200, blank=True)
    profile_name = models.CharField(max_length=200, blank=True, help_text="Name from the WhatsApp profile.")
    custom_attributes = models.JSONField(
        default=dict,
        db_default={},  # rows inserted in SQL (bulk imports, the bench's seed) get {} too
        blank=True,
        help_text="Values of the tenant's custom fields, by key (ContactAttributeDefinition).",
    )
    marketing_opt_out = models.BooleanField(
        default=False,
        db_default=False,
        help_text="The customer asked WhatsApp to stop marketing messages from this business.",
    )
    marketing_opt_out_at = models.DateTimeField(
        null=True, blank=True, help_text="When the last marketing preference (stop or resume) was received."
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "wa_id"], condition=~Q(wa_id=""), name="contact_unique_wa_id_per_tenant"
            ),
            models.UniqueConstraint(
                fields=["tenant", "wa_user_id"],
                condition=~Q(wa_user_id=""),
                name="contact_unique_wa_user_id_per_tenant",
            ),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        return (
            self.name
            or self.profile_name
            or self.phone
            or self.wa_id
            or (f"@{self.wa_username}" if self.wa_username else "")
            or self.wa_user_id
            or f"Contact {self.pk}"
        )


def contact_opted_out_of_marketing(contact: Contact) -> bool:
    """Whether marketing messages (templates of the marketing category) must not go to ``contact``:
    the customer told WhatsApp to stop them and has not asked to resume."""
    return bool(contact.marketing_opt_out)


class Channel(models.TextChoices):
    WHATSAPP = "whatsapp", "WhatsApp"
    WEBCHAT = "webchat", "Web chat"


class ConversationStatus(models.TextChoices):
    OPEN = "open", "Open"
    PENDING = "pending", "Pending"
    SNOOZED = "snoozed", "Snoozed"
    RESOLVED = "resolved", "Resolved"


class Conversation(TrackedFieldsMixin, models.Model):
    """A thread between a contact and the tenant, on one channel."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="conversations")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="conversations")
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.WHATSAPP)
    whatsapp_account = models.ForeignKey(
        WhatsAppAccount, on_delete=models.PROTECT, null=True, blank=True, related_name="conversations"
    )
    status = models.CharField(max_length=16, choices=ConversationStatus.choices, default=ConversationStatus.OPEN)
    assignee = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="assigned_conversations"
    )
    queued_at = models.DateTimeField(null=True, blank=True, help_text="When it started waiting for a human.")
    last_message_at = models.DateTimeField(
        default=timezone.now, help_text="Orders the inbox; creation time until a message arrives."
    )
    last_message_preview = models.CharField(max_length=255, blank=True)
    unread_count = models.PositiveIntegerField(default=0)
    last_customer_message_at = models.DateTimeField(
        null=True, blank=True, help_text="Start of WhatsApp's 24-hour customer-service window."
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    snoozed_until = models.DateTimeField(
        null=True, blank=True, help_text="A snoozed conversation returns to open at this time (Celery beat)."
    )
    label_ids = models.JSONField(
        default=list,
        db_default=[],  # rows inserted in SQL (the bench's seed) get [] too
        blank=True,
        editable=False,
        help_text="Ids of its labels, sorted: a copy of its ConversationLabel rows kept by conversations.labels, "
        "so that the inbox and every conversation event carry them without a query.",
    )
    event_seq = models.PositiveBigIntegerField(
        default=0, editable=False, help_text="Sequence number of the conversation's last durable event."
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    # Fields whose previous value the publish path compares against (see TrackedFieldsMixin).
    tracked_fields = ("assignee_id", "status")

    class Meta:
        ordering = ["-last_message_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "status", "-last_message_at"], name="conv_inbox_idx"),
            models.Index(fields=["tenant", "assignee", "status"], name="conv_assignee_idx"),
            # An agent's conversations of any status, newest first: read in order, not sorted
            # (an agent with thousands of them sorted them all for each page: docs/benchmarks.md).
            models.Index(fields=["tenant", "assignee", "-last_message_at", "-id"], name="conv_assignee_recent_idx"),
            models.Index(fields=["tenant", "contact"], name="conv_contact_idx"),
            models.Index(fields=["snoozed_until"], condition=Q(status="snoozed"), name="conv_snoozed_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.contact} ({self.get_status_display()})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # ``event_seq`` is advanced only in SQL, by the event log under the row's lock
        # (realtime.events): saving a copy read before an event would write an older value back,
        # and the next event would reuse a seq.
        if not self._state.adding and kwargs.get("update_fields") is None and not kwargs.get("force_insert"):
            kwargs["update_fields"] = [
                field.attname
                for field in self._meta.concrete_fields
                if not field.primary_key and field.attname != "event_seq"
            ]
        super().save(*args, **kwargs)


class Direction(models.TextChoices):
    INBOUND = "inbound", "Inbound"
    OUTBOUND = "outbound", "Outbound"


class SenderType(models.TextChoices):
    CONTACT = "contact", "Contact"
    AGENT = "agent", "Agent"
    BOT = "bot", "Bot"
    SYSTEM = "system", "System"


class MessageType(models.TextChoices):
    TEXT = "text", "Text"
    IMAGE = "image", "Image"
    AUDIO = "audio", "Audio"
    VIDEO = "video", "Video"
    DOCUMENT = "document", "Document"
    STICKER = "sticker", "Sticker"
    LOCATION = "location", "Location"
    CONTACTS = "contacts", "Contacts"
    INTERACTIVE = "interactive", "Interactive"
    REACTION = "reaction", "Reaction"
    TEMPLATE = "template", "Template"
    UNSUPPORTED = "unsupported", "Unsupported"
    ORDER = "order", "Order"


class MessageStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    READ = "read", "Read"
    FAILED = "failed", "Failed"


class Message(TrackedFieldsMixin, models.Model):
    """One message of a conversation. ``content`` holds the type's payload (``{"text": …}`` for text)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    direction = models.CharField(max_length=16, choices=Direction.choices)
    sender_type = models.CharField(max_length=16, choices=SenderType.choices)
    sender = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    type = models.CharField(max_length=16, choices=MessageType.choices, default=MessageType.TEXT)
    content = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=MessageStatus.choices, default=MessageStatus.PENDING)
    error_code = models.IntegerField(null=True, blank=True)
    error_title = models.CharField(max_length=255, blank=True)
    whatsapp_account = models.ForeignKey(
        WhatsAppAccount, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    whatsapp_message_id = models.CharField(max_length=128, null=True, blank=True)
    client_id = models.CharField(max_length=64, null=True, blank=True)
    internal = models.BooleanField(default=False, help_text="An internal note: staff only, never sent to the customer.")
    created_at = models.DateTimeField(default=timezone.now, help_text="For inbound WhatsApp: Meta's timestamp.")
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    reply_to = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The message this one quotes (a WhatsApp reply's context, or an agent's reply).",
    )
    reactions = models.JSONField(
        default=list,
        db_default=[],
        blank=True,
        help_text='Reactions to this message, one per reactor: [{"emoji", "by", "at"}].',
    )
    edited_at = models.DateTimeField(
        null=True, blank=True, help_text="When the sender last edited it (earlier texts in content.edits)."
    )
    deleted_at = models.DateTimeField(
        null=True, blank=True, help_text="When the sender deleted it for everyone (its content is kept for the audit)."
    )

    tracked_fields = ("status",)

    class Meta:
        # The order a conversation shows: the order PyTake stored its messages in. Channels'
        # timestamps disagree (WhatsApp's have whole seconds), so ``created_at`` is not it.
        ordering = ["id"]
        indexes = [
            models.Index(fields=["conversation", "id"], name="msg_history_id_idx"),
            # The stale-send sweeper (whatsapp.requeue_stale_sends) runs every minute: only the
            # few outbound messages still pending are indexed, not the whole history.
            models.Index(
                fields=["created_at", "id"],
                condition=Q(status="pending", direction="outbound"),
                name="msg_pending_outbound_idx",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["whatsapp_account", "whatsapp_message_id"],
                condition=Q(whatsapp_message_id__isnull=False),
                name="message_unique_wamid_per_account",
            ),
            models.UniqueConstraint(
                fields=["conversation", "client_id"],
                condition=Q(client_id__isnull=False),
                name="message_unique_client_id_per_conversation",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_direction_display()} {self.type} #{self.pk}"

    def _content_string(self, key: str) -> str:
        value = self.content.get(key, "") if isinstance(self.content, dict) else ""
        return value if isinstance(value, str) else ""

    @property
    def text(self) -> str:
        return self._content_string("text")

    @property
    def caption(self) -> str:
        """A media message's caption ("" for none, and for other kinds)."""
        return self._content_string("caption")


class AuditAction(models.TextChoices):
    TAKE = "take", "Took a conversation"
    ASSIGN = "assign", "Assigned"
    TRANSFER = "transfer", "Transferred"
    UNASSIGN = "unassign", "Returned to the queue"
    RESOLVE = "resolve", "Resolved"
    REOPEN = "reopen", "Reopened"
    STATUS = "status", "Changed status"
    BROADCAST = "broadcast", "Broadcast"
    SNOOZE = "snooze", "Snoozed"
    MERGE = "merge", "Merged contacts"


class AuditEntry(models.Model):
    """Who did what to whom: every human assignment, transfer, status change and broadcast,
    from the API or Django admin. Written in the same transaction as the change."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    actor = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    actor_email = models.CharField(max_length=254, help_text="Kept when the user is deleted.")
    via = models.CharField(max_length=16, default="api", help_text="api, socket or admin")
    action = models.CharField(max_length=16, choices=AuditAction.choices)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.SET_NULL, null=True, blank=True, related_name="audit_entries"
    )
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "-created_at"], name="audit_tenant_idx")]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.actor_email} {self.action} #{self.conversation_id or '-'}"


class MediaStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # inbound: the channel's file is not in storage yet
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"  # the download failed: ``error`` says why; it can be retried


def attachment_path(instance: Attachment, filename: str) -> str:
    """Where a file lands in storage: by tenant and month, under a random name. The customer's
    or agent's file name is kept in ``Attachment.filename``, never in a storage path."""
    now = timezone.now()
    return f"media/{instance.tenant_id}/{now:%Y/%m}/{uuid.uuid4().hex}{_extension(instance.mime_type)}"


def _extension(mime_type: str) -> str:
    return mimetypes.guess_extension(mime_type.split(";")[0].strip()) or ".bin"


class Attachment(models.Model):
    """The file of a media message (image, video, audio, document, sticker), one per message.

    ``mime_type`` is what PyTake checked from the content's first bytes (``conversations.media``),
    never only what a client or the channel declared; it is the ``Content-Type`` the file is
    served with. Readable by whoever may read the message (``conversations.access``)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="attachment")
    file = models.FileField(upload_to=attachment_path, max_length=255, blank=True)
    mime_type = models.CharField(max_length=128, blank=True)
    filename = models.CharField(max_length=255, blank=True, help_text="The original file name, for downloads.")
    size = models.PositiveBigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True, help_text="Hex digest of the stored bytes.")
    status = models.CharField(max_length=16, choices=MediaStatus.choices, default=MediaStatus.PENDING)
    error = models.CharField(max_length=500, blank=True)
    voice = models.BooleanField(default=False, help_text="A voice note (WhatsApp's voice: true).")
    animated = models.BooleanField(default=False, help_text="An animated sticker.")
    remote_id = models.CharField(
        max_length=128, blank=True, help_text="The channel's id of the file (Meta's media id)."
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.mime_type or 'file'} of message #{self.message_id} ({self.status})"


# The agent's toolbox, in a module of its own (see its docstring); imported here so that Django
# registers its models with the app's.
from conversations.toolbox_models import (  # noqa: E402
    AttributeType,
    ContactAttributeDefinition,
    ContactNote,
    ConversationLabel,
    ConversationMention,
    Label,
    SavedReply,
    SavedReplyScope,
)

__all__ = [
    "AttributeType",
    "ContactAttributeDefinition",
    "ContactNote",
    "ConversationLabel",
    "ConversationMention",
    "Label",
    "SavedReply",
    "SavedReplyScope",
]
