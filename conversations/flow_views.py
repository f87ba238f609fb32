"""REST endpoints of the service flow: web-chat sessions, internal notes, queue, broadcast,
and the customer's web-chat page. Thin: validate, call a service or selector, serialise."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from conversations import queue, selectors, services
from conversations.models import Tenant, User
from conversations.permissions import IsSupervisor
from conversations.serializers import ConversationSerializer, MessageSerializer
from conversations.webchat import WebchatCustomer, WebchatTokenAuthentication, webchat_session_start, webchat_state
from pytake.throttling import _FailOpen


def _user(request: Request) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


class TextSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=4096, trim_whitespace=True)


class NoteCreateView(APIView):
    """``POST /api/conversations/{id}/notes/``: an internal note, seen by staff only."""

    @extend_schema(request=TextSerializer, responses={201: MessageSerializer})
    def post(self, request: Request, conversation_id: int) -> Response:
        # Visibility first: a conversation the caller may not see is a 404 whatever the body says.
        selectors.conversation_for_user(user=_user(request), conversation_id=conversation_id)
        body = TextSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        note = services.note_create(
            user=_user(request), conversation_id=conversation_id, text=body.validated_data["text"]
        )
        return Response(MessageSerializer(note).data, status=status.HTTP_201_CREATED)


class QueueEntrySerializer(serializers.Serializer):
    position = serializers.IntegerField()
    waiting_seconds = serializers.IntegerField()
    estimated_wait_seconds = serializers.IntegerField()
    conversation = ConversationSerializer()


class QueueView(APIView):
    """``GET /api/queue/``: the caller's tenant's waiting conversations, first in line first.
    Every staff member sees the queue (agents take from it)."""

    @extend_schema(
        responses=inline_serializer(
            "Queue", {"size": serializers.IntegerField(), "results": QueueEntrySerializer(many=True)}
        )
    )
    def get(self, request: Request) -> Response:
        tenant_id = _user(request).tenant_id
        assert tenant_id is not None
        entries = queue.queue_snapshot(tenant_id=tenant_id)
        rows = [
            {
                "position": e.position,
                "waiting_seconds": e.waiting_seconds,
                "estimated_wait_seconds": e.estimated_wait_seconds,
                "conversation": e.conversation,
            }
            for e in entries
        ]
        return Response({"size": len(rows), "results": QueueEntrySerializer(rows, many=True).data})


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
        event = services.broadcast_send(user=_user(request), text=body.validated_data["text"])
        return Response({"event_id": event.seq}, status=status.HTTP_201_CREATED)


# --- web chat -----------------------------------------------------------------------------------


class WebchatSessionThrottle(_FailOpen, AnonRateThrottle):
    """Per client address; fails open when the cache is away, like the other throttles."""

    scope = "webchat_session"


class WebchatSessionSerializer(serializers.Serializer):
    tenant = serializers.SlugField(max_length=64, help_text="The tenant's slug (the widget's address).")
    name = serializers.CharField(max_length=100, trim_whitespace=True, help_text="The customer's display name.")
    session = serializers.CharField(
        required=False, allow_blank=True, max_length=2048, help_text="A token held from before: continue that chat."
    )


class WebchatSessionView(APIView):
    """``POST /api/webchat/sessions/`` (public): a token for one new or continued web-chat
    conversation. Throttled per address (``PYTAKE_WEBCHAT_SESSION_THROTTLE``)."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_classes = [WebchatSessionThrottle]

    @extend_schema(
        request=WebchatSessionSerializer,
        responses={
            201: inline_serializer(
                "WebchatSession", {"token": serializers.CharField(), "conversation_id": serializers.IntegerField()}
            )
        },
    )
    def post(self, request: Request) -> Response:
        body = WebchatSessionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        conversation, token = webchat_session_start(
            tenant_slug=body.validated_data["tenant"],
            name=body.validated_data["name"],
            session=body.validated_data.get("session") or None,
        )
        return Response({"token": token, "conversation_id": conversation.pk}, status=status.HTTP_201_CREATED)


class IsWebchatCustomer(BasePermission):
    message = "A web-chat session token is required."

    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.user, WebchatCustomer)


class WebchatConversationView(APIView):
    """``GET /api/webchat/conversation/`` with the web-chat token: the customer's own conversation
    (status, agent, queue position, history without internal notes)."""

    authentication_classes = [WebchatTokenAuthentication]
    permission_classes = [IsWebchatCustomer]

    @extend_schema(
        responses=inline_serializer(
            "WebchatConversation",
            {
                "conversation_id": serializers.IntegerField(),
                "status": serializers.CharField(),
                "agent": inline_serializer("WebchatAgent", {"name": serializers.CharField()}, allow_null=True),
                "queue": inline_serializer(
                    "WebchatQueue",
                    {"position": serializers.IntegerField(), "estimated_wait_seconds": serializers.IntegerField()},
                    allow_null=True,
                ),
                "messages": MessageSerializer(many=True),
            },
        )
    )
    def get(self, request: Request) -> Response:
        customer = request.user
        assert isinstance(customer, WebchatCustomer)
        return Response(webchat_state(customer=customer))


def webchat_page(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    """The customer's chat page, ``/chat/<tenant slug>/``."""
    tenant = Tenant.objects.filter(slug=tenant_slug, is_active=True).first()
    if tenant is None:
        raise Http404("No web chat here.")
    return render(request, "webchat/chat.html", {"tenant": tenant})
