"""Web-chat sessions: a customer opens the widget, gets a token for one conversation, and reads
its state (status, agent, queue position, history) through the one audience rule."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from rest_framework_simplejwt.exceptions import TokenError

from conversations.access import customer_conversation, messages_visible_to_customer
from conversations.models import Channel, Contact, Conversation, ConversationStatus, Tenant
from conversations.serializers import CustomerMessageSerializer
from flow import queue
from pytake.errors import ErrorCode, InvalidInput, NotFound
from realtime.tokens import WebchatToken
from webchat.auth import WebchatCustomer, webchat_customer_from_token


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
    invalid = InvalidInput("The web-chat session is invalid or expired.", code=ErrorCode.INVALID_SESSION)
    try:
        customer = webchat_customer_from_token(session)
    except TokenError:
        raise invalid from None
    conversation = (
        customer_conversation(conversation_id=customer.conversation_id)
        .select_related("contact")
        .filter(tenant=tenant, contact_id=customer.contact_id)
        .first()
    )
    if conversation is None:
        raise invalid
    return conversation


def webchat_state(*, customer: WebchatCustomer) -> dict[str, Any]:
    """What the widget needs on (re)connecting: status, agent, queue position and history."""
    conversation = (
        customer_conversation(conversation_id=customer.conversation_id)
        .select_related("assignee")
        .filter(tenant_id=customer.tenant_id)
        .first()
    )
    if conversation is None:
        raise NotFound("Conversation not found.")
    entry = queue.queue_position(conversation=conversation) if conversation.queued_at else None
    history = list(
        messages_visible_to_customer(conversation=conversation)
        .select_related("sender", "attachment", "reply_to")
        .order_by("-id")[:100]
    )[::-1]
    return {
        "conversation_id": conversation.pk,
        "status": conversation.status,
        "agent": {"name": conversation.assignee.get_full_name()} if conversation.assignee else None,
        "queue": (
            {"position": entry.position, "estimated_wait_seconds": entry.estimated_wait_seconds} if entry else None
        ),
        "messages": CustomerMessageSerializer(history, many=True).data,
    }
