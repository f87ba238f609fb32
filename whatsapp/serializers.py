"""REST shapes of WhatsApp's message templates."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from whatsapp.models import MessageTemplate, TemplateStatus
from whatsapp.templates import template_slots, template_usable


class TemplateSerializer(serializers.ModelSerializer[MessageTemplate]):
    numbers = serializers.SerializerMethodField(help_text="Ids of the tenant's WhatsApp numbers that can send it.")
    slots = serializers.SerializerMethodField(
        help_text='What a send fills: {"header": {"format", "parameters"} | null, "body": [names], '
        '"buttons": [{"index", "type", "text"}]}'
    )
    usable = serializers.SerializerMethodField(help_text="Approved: it can be sent now.")

    class Meta:
        model = MessageTemplate
        fields = [
            "id",
            "business_account_id",
            "numbers",
            "name",
            "language",
            "category",
            "status",
            "quality",
            "reason",
            "parameter_format",
            "components",
            "slots",
            "usable",
            "synced_at",
        ]
        read_only_fields = fields

    def get_numbers(self, obj: MessageTemplate) -> list[int]:
        by_waba: dict[str, list[int]] = self.context.get("numbers_by_waba", {})
        return by_waba.get(obj.business_account_id, [])

    def get_slots(self, obj: MessageTemplate) -> dict[str, Any]:
        return template_slots(obj)

    def get_usable(self, obj: MessageTemplate) -> bool:
        return template_usable(obj)


class TemplateFilterSerializer(serializers.Serializer):
    number = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1, help_text="A number's id.")
    status = serializers.ChoiceField(choices=TemplateStatus.choices, required=False)
    language = serializers.CharField(required=False, max_length=16)
    search = serializers.CharField(required=False, max_length=100, help_text="Part of the template's name.")


class TemplateSyncResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    removed = serializers.IntegerField()
