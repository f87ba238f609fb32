"""Shapes of the service flow's REST answers: staff with their load and presence, assignment."""

from __future__ import annotations

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
