"""The web-chat channel: anonymous customers with a short-lived token for one conversation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request
from rest_framework_simplejwt.exceptions import TokenError

from conversations.models import Channel, Contact, Conversation, ConversationStatus, Tenant
from pytake.errors import InvalidInput, NotFound
from realtime.tokens import WebchatToken


@dataclass(frozen=True)
class WebchatCustomer:
    """``request.user`` for a web-chat token: the one conversation it may use, nothing else."""

    conversation_id: int
    tenant_id: int
    contact_id: int
    is_authenticated: bool = True
    is_active: bool = True

    @property
    def pk(self) -> str:
        """The throttles' key for this customer (never a user id)."""
        return f"webchat-{self.conversation_id}"


def webchat_customer_from_token(raw: str) -> WebchatCustomer:
    """Validate a web-chat token (signature, expiry, type). Raises ``TokenError``."""
    token = WebchatToken(raw)  # type: ignore[arg-type]  # simplejwt's stubs miss the str form
    return WebchatCustomer(
        conversation_id=int(token["conversation_id"]),
        tenant_id=int(token["tenant_id"]),
        contact_id=int(token["contact_id"]),
    )


class WebchatTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer <web-chat token>``. Only used on the web-chat endpoints; staff
    endpoints use simplejwt, which refuses a web-chat token (its type is not ``access``)."""

    def authenticate(self, request: Request) -> tuple[WebchatCustomer, str] | None:
        header = get_authorization_header(request).split()
        if len(header) != 2 or header[0].lower() != b"bearer":
            return None
        raw = header[1].decode("latin-1")
        try:
            return webchat_customer_from_token(raw), raw
        except TokenError:
            from rest_framework.exceptions import AuthenticationFailed

            raise AuthenticationFailed("The web-chat session is invalid or expired.", code="invalid_session") from None

    def authenticate_header(self, request: Request) -> str:
        return "Bearer"


def webchat_session_start(*, tenant_slug: str, name: str, session: str | None = None) -> tuple[Conversation, str]:
    """A customer opens the widget: continue their conversation (``session``: a token they hold)
    or start a new one. Returns the conversation and a fresh token for it.

    An unknown or inactive tenant is ``NotFound``; a session token that is invalid, expired or of
    another tenant is ``InvalidInput`` ``invalid_session`` (the widget then starts afresh).
    """
    tenant = Tenant.objects.filter(slug=tenant_slug, is_active=True).first()
    if tenant is None:
        raise NotFound("No web chat with that name.")
    if session:
        conversation = _continued(tenant, session)
        return conversation, str(WebchatToken.for_conversation(conversation))
    with transaction.atomic():
        contact = Contact.objects.create(tenant=tenant, name=name)
        conversation = Conversation.objects.create(
            tenant=tenant, contact=contact, channel=Channel.WEBCHAT, status=ConversationStatus.OPEN
        )
    return conversation, str(WebchatToken.for_conversation(conversation))


def _continued(tenant: Tenant, session: str) -> Conversation:
    invalid = InvalidInput("The web-chat session is invalid or expired.", code="invalid_session")
    try:
        customer = webchat_customer_from_token(session)
    except TokenError:
        raise invalid from None
    conversation = (
        Conversation.objects.select_related("contact")
        .filter(pk=customer.conversation_id, tenant=tenant, channel=Channel.WEBCHAT, contact_id=customer.contact_id)
        .first()
    )
    if conversation is None:
        raise invalid
    return conversation


def webchat_state(*, customer: WebchatCustomer) -> dict[str, Any]:
    """What the widget needs on (re)connecting: status, agent, queue position and history."""
    from conversations import queue
    from conversations.serializers import MessageSerializer

    conversation = (
        Conversation.objects.select_related("assignee")
        .filter(pk=customer.conversation_id, tenant_id=customer.tenant_id, channel=Channel.WEBCHAT)
        .first()
    )
    if conversation is None:
        raise NotFound("Conversation not found.")
    entry = queue.queue_position(conversation=conversation) if conversation.queued_at else None
    history = list(
        conversation.messages.filter(internal=False).select_related("sender").order_by("-created_at", "-id")[:100]
    )[::-1]
    return {
        "conversation_id": conversation.pk,
        "status": conversation.status,
        "agent": {"name": conversation.assignee.get_full_name()} if conversation.assignee else None,
        "queue": (
            {"position": entry.position, "estimated_wait_seconds": entry.estimated_wait_seconds} if entry else None
        ),
        "messages": MessageSerializer(history, many=True).data,
    }


class WebchatTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    """Documents the web-chat token in the OpenAPI schema."""

    target_class = "conversations.webchat.WebchatTokenAuthentication"
    name = "webchatToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "The token from POST /api/webchat/sessions/."}
