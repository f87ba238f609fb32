"""The agent's toolbox: labels, saved replies, mentions, contact notes and custom attributes.

Kept apart from ``conversations.models`` (which re-exports these classes, so Django finds them
with the app's models) and referring to it by name only, so that this module imports nothing of
the app. Design notes, compared with Chatwoot, which solves the same problems:

- **Labels** are tenant-defined (name, colour), as Chatwoot's account labels; unlike Chatwoot's
  free-text tags (``acts_as_taggable``), a conversation points at a label row, so renaming a label
  renames it everywhere and a typo cannot create a new one.
- **Saved replies** are Chatwoot's canned responses (``short_code`` + ``content``), with a scope
  Chatwoot lacks: ``tenant`` (managed by supervisors and admins) or ``personal`` (one agent's own).
  Variables use Chatwoot's ``{{contact.name}}`` syntax; unknown ones are refused when saved.
- **Mentions** are Chatwoot's ``Mention`` rows, doubling as the mentioned user's notification (read
  or not), and they grant a read-only look at the conversation (``conversations.access``).
- **Custom attributes**: definitions per tenant, values on the contact (a JSON object keyed by the
  definition's key), as Chatwoot's ``custom_attribute_definitions`` + ``contacts.custom_attributes``;
  values are validated against the definition's type when written.
"""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

COLOUR = RegexValidator(r"^#[0-9a-fA-F]{6}$", "A colour is #RRGGBB.")
KEY = RegexValidator(r"^[a-z][a-z0-9_]{0,47}$", "Lower-case letters, digits and _, starting with a letter.")
SHORT_CODE = RegexValidator(r"^[\w-]{1,32}$", "Letters, digits, _ and -, at most 32.")


class Label(models.Model):
    """A tenant's label for conversations. Supervisors and admins define them; agents put them on
    the conversations they may see."""

    tenant = models.ForeignKey("conversations.Tenant", on_delete=models.CASCADE, related_name="labels")
    name = models.CharField(max_length=64)
    colour = models.CharField(max_length=7, default="#6b7280", validators=[COLOUR])
    description = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    conversations = models.ManyToManyField(  # type: ignore[var-annotated]
        "conversations.Conversation", through="ConversationLabel", related_name="labels"
    )

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint("tenant", Lower("name"), name="label_unique_name_per_tenant")]

    def __str__(self) -> str:
        return self.name


class ConversationLabel(models.Model):
    conversation = models.ForeignKey("conversations.Conversation", on_delete=models.CASCADE, related_name="+")
    label = models.ForeignKey(Label, on_delete=models.CASCADE, related_name="+")
    added_by = models.ForeignKey(
        "conversations.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["conversation", "label"], name="conversation_label_unique")]
        # The inbox's label filter reads from the label to its conversations.
        indexes = [models.Index(fields=["label", "conversation"], name="conv_label_by_label_idx")]

    def __str__(self) -> str:
        return f"label {self.label_id} on #{self.conversation_id}"


class SavedReplyScope(models.TextChoices):
    TENANT = "tenant", "Everyone in the tenant"
    PERSONAL = "personal", "Only its owner"


class SavedReply(models.Model):
    """A canned response: ``short_code`` picks it in the composer, ``content`` may hold variables
    (``conversations.saved_replies.VARIABLES``). ``owner`` is null for the tenant's own."""

    tenant = models.ForeignKey("conversations.Tenant", on_delete=models.CASCADE, related_name="+")
    owner = models.ForeignKey(
        "conversations.User", on_delete=models.CASCADE, null=True, blank=True, related_name="saved_replies"
    )
    short_code = models.CharField(max_length=32, validators=[SHORT_CODE])
    content = models.TextField(max_length=4096)
    created_by = models.ForeignKey(
        "conversations.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["short_code", "id"]
        verbose_name_plural = "saved replies"
        constraints = [
            models.UniqueConstraint(
                "tenant", Lower("short_code"), condition=Q(owner__isnull=True), name="saved_reply_unique_tenant_code"
            ),
            models.UniqueConstraint(
                "owner", Lower("short_code"), condition=Q(owner__isnull=False), name="saved_reply_unique_personal_code"
            ),
        ]

    def __str__(self) -> str:
        return f"/{self.short_code}"

    @property
    def scope(self) -> str:
        return SavedReplyScope.TENANT if self.owner_id is None else SavedReplyScope.PERSONAL


class ConversationMention(models.Model):
    """``@name`` in an internal note: the mentioned user is notified (this row is the notification;
    ``read_at`` null means unread) and may read the conversation even when it is not theirs."""

    tenant = models.ForeignKey("conversations.Tenant", on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey("conversations.Conversation", on_delete=models.CASCADE, related_name="mentions")
    message = models.ForeignKey("conversations.Message", on_delete=models.CASCADE, related_name="mentions")
    user = models.ForeignKey("conversations.User", on_delete=models.CASCADE, related_name="mentions")
    author = models.ForeignKey("conversations.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["message", "user"], name="mention_unique_per_note")]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="mention_user_recent_idx"),
            models.Index(fields=["user", "conversation"], name="mention_user_conv_idx"),
        ]

    def __str__(self) -> str:
        return f"@{self.user_id} in #{self.conversation_id}"


class AttributeType(models.TextChoices):
    TEXT = "text", "Text"
    NUMBER = "number", "Number"
    DATE = "date", "Date"
    LIST = "list", "One of a list"


class ContactAttributeDefinition(models.Model):
    """A custom field of the tenant's contacts. Admins define them; values live in
    ``Contact.custom_attributes`` under ``key``."""

    tenant = models.ForeignKey("conversations.Tenant", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=48, validators=[KEY])
    label = models.CharField(max_length=100)
    type = models.CharField(max_length=16, choices=AttributeType.choices)
    options = models.JSONField(default=list, blank=True, help_text="The allowed values of a list.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["label", "id"]
        constraints = [models.UniqueConstraint(fields=["tenant", "key"], name="contact_attribute_unique_key")]

    def __str__(self) -> str:
        return self.key


class ContactNote(models.Model):
    """A note about a contact (not about one conversation): staff only."""

    tenant = models.ForeignKey("conversations.Tenant", on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey("conversations.Contact", on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey("conversations.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    text = models.TextField(max_length=4096)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["contact", "-created_at"], name="contact_note_recent_idx")]

    def __str__(self) -> str:
        return f"note #{self.pk} on contact {self.contact_id}"
