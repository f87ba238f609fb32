"""Django admin for the agent's toolbox: operators look after labels, saved replies, contact
fields and notes of any tenant, and read mentions. Deleting a label goes through
``labels.label_remove``, so its conversations lose it and are announced."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from conversations.labels import label_remove
from conversations.models import ContactAttributeDefinition, ContactNote, ConversationMention, Label, SavedReply


@admin.register(Label)
class LabelAdmin(admin.ModelAdmin[Label]):
    list_display = ["name", "colour", "tenant", "created_at"]
    list_filter = ["tenant"]
    search_fields = ["name"]
    list_select_related = ["tenant"]

    def delete_model(self, request: HttpRequest, obj: Label) -> None:
        label_remove(label=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Label]) -> None:
        for label in queryset:
            label_remove(label=label)


@admin.register(SavedReply)
class SavedReplyAdmin(admin.ModelAdmin[SavedReply]):
    list_display = ["short_code", "tenant", "owner", "updated_at"]
    list_filter = ["tenant"]
    search_fields = ["short_code", "content"]
    list_select_related = ["tenant", "owner"]
    raw_id_fields = ["owner", "created_by"]


@admin.register(ContactAttributeDefinition)
class ContactAttributeDefinitionAdmin(admin.ModelAdmin[ContactAttributeDefinition]):
    list_display = ["key", "label", "type", "tenant"]
    list_filter = ["tenant", "type"]
    search_fields = ["key", "label"]


@admin.register(ContactNote)
class ContactNoteAdmin(admin.ModelAdmin[ContactNote]):
    list_display = ["contact", "author", "created_at"]
    list_filter = ["tenant"]
    search_fields = ["text"]
    raw_id_fields = ["contact", "author"]


@admin.register(ConversationMention)
class ConversationMentionAdmin(admin.ModelAdmin[ConversationMention]):
    list_display = ["user", "conversation", "author", "created_at", "read_at"]
    list_filter = ["tenant"]
    raw_id_fields = ["conversation", "message", "user", "author"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ConversationMention | None = None) -> bool:
        return False
