"""REST endpoints of the real-time layer: live connection figures, and announcements."""

from asgiref.sync import async_to_sync
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from conversations.models import User
from conversations.permissions import IsSupervisor, IsTenantAdmin
from conversations.serializers import TextSerializer
from realtime.broadcast import broadcast_send
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


class BroadcastView(APIView):
    """``POST /api/broadcast/``: a supervisor's announcement to every staff member of the tenant
    (the durable ``broadcast`` event)."""

    permission_classes = [IsSupervisor]

    @extend_schema(
        request=TextSerializer,
        responses={201: inline_serializer("Broadcast", {"event_id": serializers.IntegerField()})},
    )
    def post(self, request: Request) -> Response:
        body = TextSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        user = request.user
        assert isinstance(user, User)
        event = broadcast_send(user=user, text=body.validated_data["text"])
        return Response({"event_id": event.seq}, status=status.HTTP_201_CREATED)
