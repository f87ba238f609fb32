from asgiref.sync import async_to_sync
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from conversations.models import User
from conversations.permissions import IsTenantAdmin
from realtime.models import Event
from realtime.presence import registry
from realtime.replay import tenant_last_event_id


class RealtimeStatsView(APIView):
    """Live connections of the caller's tenant (by role), joined conversations, peak, events."""

    permission_classes = [IsTenantAdmin]

    @extend_schema(
        responses=inline_serializer(
            "RealtimeStats",
            {
                "connections": serializers.IntegerField(),
                "connections_by_role": serializers.DictField(child=serializers.IntegerField()),
                "users_online": serializers.IntegerField(),
                "joined_conversations": serializers.IntegerField(),
                "peak_connections": serializers.IntegerField(),
                "events_published": serializers.IntegerField(),
                "events_retained": serializers.IntegerField(),
            },
        )
    )
    def get(self, request: Request) -> Response:
        user = request.user
        assert isinstance(user, User) and user.tenant_id is not None
        stats = dict(async_to_sync(registry().tenant_stats)(user.tenant_id))
        stats["events_published"] = tenant_last_event_id(user.tenant_id)
        stats["events_retained"] = Event.objects.filter(tenant_id=user.tenant_id).count()
        return Response(stats)
