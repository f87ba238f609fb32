"""Shapes of the service flow's REST answers: staff with their load and presence, assignment."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from conversations.models import User
from conversations.serializers import ConversationSerializer, ModelSerializer
from realtime.presence import presence_status


class AgentSerializer(ModelSerializer):
    name = serializers.CharField(source="get_full_name", read_only=True)
    presence = serializers.SerializerMethodField(help_text="online, away or offline (no open socket).")
    open_conversations = serializers.IntegerField(
        read_only=True, default=0, help_text="Assigned conversations that are open or pending (the agent's load)."
    )

    class Meta:
        model = User
        fields = [
            "id",
            "name",
            "email",
            "role",
            "availability",
            "presence",
            "max_open_conversations",
            "open_conversations",
        ]

    def get_presence(self, obj: User) -> str:
        return presence_status(user=obj, online=obj.pk in self.context.get("online", set()))


class AssignSerializer(serializers.Serializer):
    assignee_id = serializers.IntegerField(
        allow_null=True, help_text="A staff member of the tenant; null returns it to the queue."
    )


class QueueEntrySerializer(serializers.Serializer):
    position = serializers.IntegerField()
    waiting_seconds = serializers.IntegerField()
    estimated_wait_seconds = serializers.IntegerField()
    conversation = ConversationSerializer()


class TransferSerializer(serializers.Serializer):
    assignee_id = serializers.IntegerField(
        allow_null=True, help_text="A staff member of the tenant; null returns it to the queue."
    )
    note = serializers.CharField(
        max_length=4096, required=False, allow_blank=True, default="", help_text="Kept as an internal note."
    )


class SnoozeSerializer(serializers.Serializer):
    until = serializers.DateTimeField(help_text="When it returns to open (at most 90 days away).")


class BulkSerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.IntegerField(min_value=1), min_length=1, max_length=100)
    action = serializers.ChoiceField(choices=["assign", "label", "resolve"])
    assignee_id = serializers.IntegerField(
        required=False, allow_null=True, help_text="assign: a staff member of the tenant, or null for the queue."
    )
    add_labels = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, default=list)
    remove_labels = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, default=list)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["action"] == "assign" and "assignee_id" not in attrs:
            raise serializers.ValidationError({"assignee_id": ["Required to assign."]})
        if attrs["action"] == "label" and not (attrs["add_labels"] or attrs["remove_labels"]):
            raise serializers.ValidationError({"add_labels": ["Add or remove at least one label."]})
        return attrs


class BulkResultSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    ok = serializers.BooleanField()
    code = serializers.CharField(help_text="The error code when not ok (not_found, invalid_transition…).")
    message = serializers.CharField()


class BulkAnswerSerializer(serializers.Serializer):
    succeeded = serializers.IntegerField()
    failed = serializers.IntegerField()
    results = BulkResultSerializer(many=True)
