"""The one shape of each object, shared by the REST API and real-time events."""

import copy
import inspect
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone
from rest_framework import ISO_8601, serializers
from rest_framework.fields import SkipField, is_simple_callable
from rest_framework.relations import PKOnlyObject
from rest_framework.settings import api_settings

from conversations import channels
from conversations.media import MEDIA_TYPES
from conversations.models import (
    Attachment,
    Channel,
    Contact,
    Conversation,
    ConversationStatus,
    MediaStatus,
    Message,
    Tenant,
    User,
)


class ModelSerializer(serializers.ModelSerializer):
    """DRF's ModelSerializer, building its fields once per class instead of once per serializer.

    DRF builds every field from the model's metadata each time a serializer is made: 16 % of a
    REST inbox page's CPU and 15 % of a webhook's in the worker (two events serialise the message
    and the conversation), measured with cProfile. These serializers' fields depend on neither
    the instance nor the request, so the fields built the first time are kept, unbound, and each
    serializer gets its own copies (a DRF field copies by re-running its constructor: far less
    than building it from the model).
    """

    _built_fields: dict[str, serializers.Field] | None = None

    def get_fields(self) -> dict[str, serializers.Field]:
        built = type(self).__dict__.get("_built_fields")  # this class's own, not a parent's
        if built is None:
            built = super().get_fields()
            type(self)._built_fields = built
        return copy.deepcopy(built)

    def to_representation(self, instance: Any) -> dict[str, Any]:
        """DRF's ``Serializer.to_representation``, reading a plain attribute directly.

        DRF walks ``_readable_fields`` (a generator) and reads each field through
        ``Field.get_attribute``, which checks every attribute for being callable on the way: a
        50-row inbox page made 1,150 such reads, and serialisation was half the page's CPU
        (2026-11-22, docs/benchmarks.md). Here the readable fields are listed once per serializer
        (a list serializer reuses one child for every row), and a field whose source is one
        attribute reads it with ``getattr``; a method taking no argument (``get_full_name``) is
        called directly once DRF's ``is_simple_callable``, which inspects its signature, has said
        so for that class; an ISO 8601 timestamp is formatted as DRF does, with the current time
        zone looked up once per object instead of once per field (commit 3936809). Anything else (a
        dotted or ``*`` source, an attribute that raises) goes DRF's way, so the result is the
        same (``test_serializers.py`` compares the two).
        """
        plan: list[tuple[serializers.Field, str, str | None, bool]] | None = self.__dict__.get("_read_plan")
        if plan is None:
            plan = [
                (
                    f,
                    str(f.field_name),
                    f.source_attrs[0] if len(f.source_attrs) == 1 else None,
                    _iso_datetime_field(f),
                )
                for f in self._readable_fields
            ]
            self._read_plan = plan
        zone = timezone.get_current_timezone()
        ret: dict[str, Any] = {}
        for field, name, attr, iso in plan:
            attribute: Any
            try:
                attribute = getattr(instance, attr) if attr is not None else None
                if attr is None:
                    attribute = field.get_attribute(instance)
                elif callable(attribute):  # not one plain attribute: a method taking no argument?
                    attribute = attribute() if _simple_method(instance, attr) else field.get_attribute(instance)
            except (AttributeError, KeyError, ValueError, TypeError):  # DRF knows what to do (or says why)
                try:
                    attribute = field.get_attribute(instance)
                except SkipField:
                    continue
            except SkipField:
                continue
            if attribute is None:
                ret[name] = None
            elif iso and isinstance(attribute, datetime) and attribute.utcoffset() is not None:
                text = attribute.astimezone(zone).isoformat()
                ret[name] = text[:-6] + "Z" if text.endswith("+00:00") else text
            else:
                check_for_none = attribute.pk if isinstance(attribute, PKOnlyObject) else attribute
                ret[name] = None if check_for_none is None else field.to_representation(attribute)
        return ret


_representers: dict[type[ModelSerializer], ModelSerializer] = {}


def representation(serializer_class: type[ModelSerializer], instance: Any) -> dict[str, Any]:
    """``serializer_class(instance).data`` without a serializer per object: every saved message
    and conversation becomes an event this way, and making a serializer copies all its fields
    (a few per cent of a webhook's time in the worker). One serializer per class serves every
    call: its ``to_representation`` keeps nothing between calls but its read plan."""
    serializer = _representers.get(serializer_class)
    if serializer is None:
        serializer = _representers[serializer_class] = serializer_class()
    return serializer.to_representation(instance)


_simple_methods: dict[tuple[type, str], bool] = {}


def _simple_method(instance: Any, attr: str) -> bool:
    """Whether ``instance.attr`` is a method DRF would call with no argument (decided once per
    class: DRF's ``is_simple_callable`` reads the method's signature every time)."""
    key = (type(instance), attr)
    known = _simple_methods.get(key)
    if known is None:
        method = getattr(instance, attr)
        known = _simple_methods[key] = inspect.ismethod(method) and is_simple_callable(method)
    return known


def _iso_datetime_field(field: serializers.Field) -> bool:
    """A DRF ``DateTimeField`` with the settings' ISO 8601 output and the current time zone:
    formatted directly in ``ModelSerializer.to_representation``."""
    return (
        type(field) is serializers.DateTimeField
        and settings.USE_TZ
        and "timezone" not in vars(field)
        and str(getattr(field, "format", api_settings.DATETIME_FORMAT) or "").lower() == ISO_8601
    )


class TenantSerializer(ModelSerializer):
    class Meta:
        model = Tenant
        fields = ["id", "name", "slug"]


class UserBriefSerializer(ModelSerializer):
    name = serializers.CharField(source="get_full_name", read_only=True)

    class Meta:
        model = User
        fields = ["id", "name", "role"]


class MeSerializer(ModelSerializer):
    tenant = TenantSerializer(read_only=True)

    class Meta:
        model = User
        fields = ["id", "email", "name", "role", "availability", "tenant"]
        read_only_fields = ["id", "email", "role", "tenant"]


class ContactSerializer(ModelSerializer):
    display_name = serializers.CharField(read_only=True)

    class Meta:
        model = Contact
        fields = [
            "id",
            "wa_id",
            "wa_user_id",
            "wa_username",
            "phone",
            "name",
            "profile_name",
            "display_name",
            "custom_attributes",
            "marketing_opt_out",
            "created_at",
        ]
        read_only_fields = [
            "id",
            "wa_id",
            "wa_user_id",
            "wa_username",
            "phone",
            "profile_name",
            "display_name",
            "custom_attributes",
            "marketing_opt_out",
            "created_at",
        ]


class ConversationSerializer(ModelSerializer):
    contact = ContactSerializer(read_only=True)
    assignee = UserBriefSerializer(read_only=True, allow_null=True)
    window_expires_at = serializers.SerializerMethodField(
        help_text="End of WhatsApp's 24-hour window for free-form replies (null: closed or not WhatsApp)."
    )
    number_id = serializers.IntegerField(
        source="whatsapp_account_id",
        read_only=True,
        allow_null=True,
        help_text="The WhatsApp number it is on (null: web chat): its templates are the ones to send.",
    )
    labels = serializers.ListField(
        source="label_ids",
        child=serializers.IntegerField(),
        read_only=True,
        help_text="Ids of its labels (GET /api/labels/ names and colours them).",
    )
    seq = serializers.IntegerField(
        source="event_seq",
        read_only=True,
        help_text=(
            "The conversation's event sequence number this copy reflects (the `seq` of its events): "
            "of two copies of one conversation, the one with the higher seq is the newer."
        ),
    )

    class Meta:
        model = Conversation
        fields = [
            "id",
            "seq",
            "channel",
            "status",
            "contact",
            "assignee",
            "queued_at",
            "last_message_at",
            "last_message_preview",
            "unread_count",
            "last_customer_message_at",
            "window_expires_at",
            "number_id",
            "created_at",
            "resolved_at",
            "snoozed_until",
            "labels",
        ]
        read_only_fields = fields

    def get_window_expires_at(self, obj: Conversation) -> datetime | None:
        return channels.reply_window_closes_at(conversation=obj)


class MessageSerializer(ModelSerializer):
    sender = UserBriefSerializer(read_only=True, allow_null=True)
    text = serializers.CharField(read_only=True)
    error = serializers.SerializerMethodField()
    media = serializers.SerializerMethodField(
        help_text=(
            "The file of an image, video, audio, document or sticker message (null for others): "
            "url (fetch with the same credentials; null until ready), mime_type (checked from the "
            "content), filename, size, caption, sha256, status (pending, ready, failed), error, "
            "voice (a voice note), animated (an animated sticker)."
        )
    )
    reply_to = serializers.SerializerMethodField(
        help_text=(
            "The message this one quotes (null for none): id, type, direction, sender_type, text "
            "(its text or caption), deleted (the sender deleted it)."
        )
    )
    reactions = serializers.SerializerMethodField(
        help_text='Reactions to this message, one per reactor: {"emoji", "by" ("contact" or "agent"), "at"}.'
    )

    class Meta:
        model = Message
        fields = [
            "id",
            "conversation_id",
            "direction",
            "sender_type",
            "sender",
            "type",
            "content",
            "text",
            "status",
            "error",
            "media",
            "client_id",
            "internal",
            "whatsapp_message_id",
            "created_at",
            "sent_at",
            "delivered_at",
            "read_at",
            "reply_to",
            "reactions",
            "edited_at",
            "deleted_at",
        ]
        read_only_fields = fields

    def get_reactions(self, obj: Message) -> list[dict[str, Any]]:
        # An empty emoji is a removed reaction, kept only to recognise a stale one delivered late.
        return [r for r in obj.reactions or [] if isinstance(r, dict) and r.get("emoji")]

    def get_reply_to(self, obj: Message) -> dict[str, Any] | None:
        return quoted_representation(obj.reply_to) if obj.reply_to_id else None

    def get_error(self, obj: Message) -> dict[str, Any] | None:
        if obj.error_code is None and not obj.error_title:
            return None
        return {"code": obj.error_code, "title": obj.error_title}

    def get_media(self, obj: Message) -> dict[str, Any] | None:
        return media_representation(obj)


def customer_view(data: dict[str, Any]) -> dict[str, Any]:
    """A message's representation as its web-chat customer sees it: without what only staff may
    read (what the bot understood, with its confidence and sentiment; the agent's user id and
    role: the customer sees the agent's name)."""
    view = dict(data)
    content = view.get("content")
    if isinstance(content, dict) and "bot" in content:
        view["content"] = {key: value for key, value in content.items() if key != "bot"}
    sender = view.get("sender")
    if isinstance(sender, dict):
        view["sender"] = {"name": sender.get("name", "")}
    return view


def quoted_representation(quoted: Message | None) -> dict[str, Any] | None:
    """A quoted message, in brief: enough to show it above the reply and to jump to it."""
    if quoted is None:
        return None
    return {
        "id": quoted.pk,
        "type": quoted.type,
        "direction": quoted.direction,
        "sender_type": quoted.sender_type,
        "text": quoted.text or quoted.caption,
        "deleted": quoted.deleted_at is not None,
    }


def media_representation(message: Message) -> dict[str, Any] | None:
    """The ``media`` object of a message: from its attachment (the history selects it along;
    a message of another type is never looked up)."""
    if message.type not in MEDIA_TYPES:
        return None
    try:
        attachment: Attachment | None = message.attachment
    except Attachment.DoesNotExist:
        attachment = None
    if attachment is None:
        return None
    ready = attachment.status == MediaStatus.READY and bool(attachment.file)
    return {
        "url": f"/api/messages/{message.pk}/media/" if ready else None,
        "mime_type": attachment.mime_type,
        "filename": attachment.filename,
        "size": attachment.size,
        "caption": message.caption,
        "sha256": attachment.sha256,
        "status": attachment.status,
        "error": attachment.error or None,
        "voice": attachment.voice,
        "animated": attachment.animated,
    }


class SenderNameSerializer(serializers.Serializer):
    name = serializers.CharField(read_only=True)


class CustomerMessageSerializer(MessageSerializer):
    """``MessageSerializer`` as a web-chat customer reads it (``customer_view``)."""

    sender = SenderNameSerializer(read_only=True, allow_null=True)  # type: ignore[assignment]

    def to_representation(self, instance: Message) -> dict[str, Any]:
        return customer_view(super().to_representation(instance))


class TemplateSpecSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=512)
    language = serializers.CharField(max_length=16, help_text="As Meta names it: en_US, pt_BR…")
    parameters = serializers.JSONField(
        required=False,
        default=dict,
        help_text='{"header": {"1": …} or {"link": "https://…"}, "body": {"1": …} or {"first_name": …}, '
        '"buttons": {"<index>": "url suffix or code"}}',
    )


class MessageCreateSerializer(serializers.Serializer):
    text = serializers.CharField(
        max_length=4096, trim_whitespace=True, required=False, help_text="Free text (inside the reply window)."
    )
    template = TemplateSpecSerializer(
        required=False, help_text="An approved message template instead of text (also outside the window)."
    )
    client_id = serializers.CharField(max_length=64, required=False, allow_blank=False)
    reply_to = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=2**63 - 1,
        help_text="Id of a message of the same conversation to reply to (quoted; WhatsApp's context.message_id).",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("text" in attrs) == ("template" in attrs):
            raise serializers.ValidationError({"text": ["Send either text or a template."]})
        return attrs


class ConversationStartSerializer(serializers.Serializer):
    channel = serializers.ChoiceField(choices=[Channel.WHATSAPP], default=Channel.WHATSAPP)
    number_id = serializers.IntegerField(
        required=False, min_value=1, max_value=2**63 - 1, help_text="The WhatsApp number to write from (if several)."
    )
    phone = serializers.CharField(max_length=40, help_text="The customer's number with its country code: +55…")
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    template = TemplateSpecSerializer()
    client_id = serializers.CharField(max_length=64, required=False, allow_blank=False)


class MediaMessageCreateSerializer(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=True, help_text="The file; its type is checked from its content.")
    text = serializers.CharField(
        max_length=1024, required=False, allow_blank=True, trim_whitespace=True, help_text="The caption."
    )
    client_id = serializers.CharField(max_length=64, required=False, allow_blank=False)


MAX_ID = 2**63 - 1  # the largest id a bigint column holds: beyond it, a query parameter is refused


class ConversationFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=ConversationStatus.choices, required=False)
    channel = serializers.ChoiceField(choices=Channel.choices, required=False)
    assignee = serializers.RegexField(r"^(me|\d{1,19})$", required=False, help_text='"me" or a user id.')
    unassigned = serializers.BooleanField(required=False, default=False)
    search = serializers.CharField(required=False, max_length=100)
    labels = serializers.RegexField(
        r"^\d+(,\d+)*$",
        required=False,
        help_text="Label ids, comma-separated: conversations with any of them.",
    )

    def validate_labels(self, value: str) -> list[int]:
        return sorted({int(part) for part in value.split(",")})

    def validate_assignee(self, value: str) -> str:
        if value != "me" and not 1 <= int(value) <= MAX_ID:
            raise serializers.ValidationError("Not a user id.")
        return value


class ContactFilterSerializer(serializers.Serializer):
    search = serializers.CharField(required=False, allow_blank=True, max_length=100)


class MessagePageSerializer(serializers.Serializer):
    before = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    after = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    around = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_ID,
        help_text="Open the history at this message (a search hit): it and its neighbours, oldest first.",
    )
    limit = serializers.IntegerField(required=False, min_value=1, max_value=200, default=50)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if sum(1 for key in ("before", "after", "around") if attrs.get(key)) > 1:
            raise serializers.ValidationError("Use one of before, after and around.")
        return attrs


class TextSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=4096, trim_whitespace=True)
