"""The web chat's HTTP side: the public session endpoint, the customer's conversation, the page."""

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

from conversations.models import Tenant
from conversations.serializers import MessageSerializer
from pytake.throttling import _FailOpen
from webchat.auth import WebchatCustomer, WebchatTokenAuthentication
from webchat.sessions import webchat_session_start, webchat_state


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
