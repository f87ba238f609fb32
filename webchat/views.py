"""The web chat's HTTP side: the public session endpoint, the customer's conversation, the page."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from conversations import services
from conversations.models import MessageType, Tenant
from conversations.serializers import MAX_ID, CustomerMessageSerializer
from conversations.views import refuse_oversized_body
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
                "messages": CustomerMessageSerializer(many=True),
            },
        )
    )
    def get(self, request: Request) -> Response:
        customer = request.user
        assert isinstance(customer, WebchatCustomer)
        return Response(webchat_state(customer=customer))


# What a web-chat customer may attach: photos and documents.
CUSTOMER_KINDS = frozenset({MessageType.IMAGE, MessageType.DOCUMENT})


class WebchatFileSerializer(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=True)
    text = serializers.CharField(max_length=1024, required=False, allow_blank=True, help_text="The caption.")
    client_id = serializers.CharField(max_length=64, required=False, allow_blank=False)
    reply_to = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_ID,
        help_text="Id of a message of this conversation to reply to (quoted): one the customer sees, "
        "not deleted. Any other id is a 400 and nothing is stored.",
    )


class WebchatFileView(APIView):
    """``POST /api/webchat/messages/`` (multipart, the web-chat token): the customer sends a photo
    (JPEG, PNG) or a document (PDF, text, Office), with an optional caption, optionally quoting a
    message (``reply_to``); 201 with the message, 200 for a ``client_id`` already stored. Text
    goes over the socket."""

    authentication_classes = [WebchatTokenAuthentication]
    permission_classes = [IsWebchatCustomer]
    parser_classes = [MultiPartParser]

    @extend_schema(request={"multipart/form-data": WebchatFileSerializer}, responses={201: CustomerMessageSerializer})
    def post(self, request: Request) -> Response:
        customer = request.user
        assert isinstance(customer, WebchatCustomer)
        refuse_oversized_body(request)
        body = WebchatFileSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        upload = body.validated_data["file"]
        checked = services.media_upload_read(
            upload=upload, filename=upload.name or "", declared_type=upload.content_type or "", kinds=CUSTOMER_KINDS
        )
        message, created = services.message_create_webchat_media(
            conversation_id=customer.conversation_id,
            upload=checked,
            caption=body.validated_data.get("text", ""),
            client_id=body.validated_data.get("client_id"),
            reply_to=body.validated_data.get("reply_to"),
        )
        return Response(
            CustomerMessageSerializer(message).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


def webchat_page(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    """The customer's chat page, ``/chat/<tenant slug>/``."""
    tenant = Tenant.objects.filter(slug=tenant_slug, is_active=True).first()
    if tenant is None:
        raise Http404("No web chat here.")
    return render(request, "webchat/chat.html", {"tenant": tenant})
