"""Shapes of the agent's toolbox (labels, saved replies, search, mentions, the contact panel),
shared by the REST API and the real-time events."""

from __future__ import annotations

from rest_framework import serializers

from conversations.models import (
    Contact,
    ContactAttributeDefinition,
    ContactNote,
    Conversation,
    ConversationMention,
    Label,
    SavedReply,
    SavedReplyScope,
)
from conversations.serializers import ContactSerializer, MessageSerializer, ModelSerializer, UserBriefSerializer
from conversations.toolbox_models import COLOUR


class LabelSerializer(ModelSerializer):
    colour = serializers.CharField(max_length=7, validators=[COLOUR], required=False, default="#6b7280")

    class Meta:
        model = Label
        fields = ["id", "name", "colour", "description", "created_at"]
        read_only_fields = ["id", "created_at"]
        # Uniqueness (case-insensitive) is the service's to check: it answers Conflict.
        validators: list[object] = []


class ConversationPatchSerializer(serializers.Serializer):
    labels = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        max_length=50,
        help_text="The conversation's label ids, all of them (an empty list removes every label).",
    )


class SavedReplySerializer(ModelSerializer):
    scope = serializers.ChoiceField(
        choices=SavedReplyScope.choices,
        default=SavedReplyScope.PERSONAL,
        help_text="tenant: everyone's (supervisors and admins manage them); personal: only yours.",
    )
    owner = UserBriefSerializer(read_only=True, allow_null=True)

    class Meta:
        model = SavedReply
        fields = ["id", "scope", "short_code", "content", "owner", "created_at", "updated_at"]
        read_only_fields = ["id", "owner", "created_at", "updated_at"]
        validators: list[object] = []


class SavedReplyUpdateSerializer(serializers.Serializer):
    short_code = serializers.RegexField(r"^[\w-]{1,32}$", required=False)
    content = serializers.CharField(max_length=4096, required=False)


class SavedReplyFilterSerializer(serializers.Serializer):
    scope = serializers.ChoiceField(choices=SavedReplyScope.choices, required=False)
    search = serializers.CharField(required=False, max_length=100, help_text="Part of the short code or text.")


class RenderQuerySerializer(serializers.Serializer):
    conversation_id = serializers.IntegerField(min_value=1)


class RenderedSerializer(serializers.Serializer):
    text = serializers.CharField()


class AttributeDefinitionSerializer(ModelSerializer):
    class Meta:
        model = ContactAttributeDefinition
        fields = ["id", "key", "label", "type", "options", "created_at"]
        read_only_fields = ["id", "created_at"]
        validators: list[object] = []


class NotificationSerializer(ModelSerializer):
    kind = serializers.SerializerMethodField()
    author = UserBriefSerializer(read_only=True, allow_null=True)
    text = serializers.SerializerMethodField(help_text="The note that mentioned you.")

    class Meta:
        model = ConversationMention
        fields = ["id", "kind", "conversation_id", "message_id", "author", "text", "created_at", "read_at"]
        read_only_fields = fields

    def get_kind(self, obj: ConversationMention) -> str:
        return "mention"

    def get_text(self, obj: ConversationMention) -> str:
        return obj.message.text


class SearchQuerySerializer(serializers.Serializer):
    q = serializers.CharField(max_length=200, trim_whitespace=True, help_text="Words to find.")
    limit = serializers.IntegerField(required=False, min_value=1, max_value=100, default=20)


class ContactBriefSerializer(ModelSerializer):
    display_name = serializers.CharField(read_only=True)

    class Meta:
        model = Contact
        fields = ["id", "display_name", "phone"]
        read_only_fields = fields


class SearchConversationSerializer(ModelSerializer):
    contact = ContactBriefSerializer(read_only=True)

    class Meta:
        model = Conversation
        fields = ["id", "status", "channel", "assignee_id", "contact"]
        read_only_fields = fields


class MessageHitSerializer(serializers.Serializer):
    message = MessageSerializer()
    conversation = SearchConversationSerializer(source="message.conversation")
    rank = serializers.FloatField(help_text="Higher is better (PostgreSQL's ts_rank; 0 on SQLite).")
    highlight = serializers.CharField(
        help_text="HTML-safe: the text escaped, matched words in <mark>…</mark>, nothing else."
    )


class ContactHitSerializer(ContactSerializer):
    latest_conversation_id = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="The newest conversation of theirs you may open."
    )

    class Meta(ContactSerializer.Meta):
        fields = [*ContactSerializer.Meta.fields, "latest_conversation_id"]
        read_only_fields = fields


class SearchResultSerializer(serializers.Serializer):
    messages = MessageHitSerializer(many=True)
    contacts = ContactHitSerializer(many=True)


class NoteCreateSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=4096, trim_whitespace=True)
    mentions = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        default=list,
        max_length=50,
        help_text="Ids of teammates to notify, besides those named @name in the text.",
    )


class NotificationFilterSerializer(serializers.Serializer):
    unread = serializers.BooleanField(required=False, default=False)


class UnreadCountSerializer(serializers.Serializer):
    unread = serializers.IntegerField()


class ReadCountSerializer(serializers.Serializer):
    marked = serializers.IntegerField(help_text="How many became read.")
    unread = serializers.IntegerField()


class ContactUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    custom_attributes = serializers.DictField(
        required=False,
        help_text="Values by field key (GET /api/contact-attributes/), merged into the stored ones; null clears one.",
    )


class ContactNoteSerializer(ModelSerializer):
    author = UserBriefSerializer(read_only=True, allow_null=True)

    class Meta:
        model = ContactNote
        fields = ["id", "contact_id", "author", "text", "created_at"]
        read_only_fields = ["id", "contact_id", "author", "created_at"]


class ContactMergeSerializer(serializers.Serializer):
    merge_id = serializers.IntegerField(min_value=1, help_text="The contact merged into this one, then deleted.")


class ContactImportSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="CSV, UTF-8, a header row: name, phone, wa_id and contact field keys.")


class ContactImportResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
