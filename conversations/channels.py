"""The channel port: what the domain asks of a channel, and the registry that picks one.

A conversation's ``channel`` (``Channel.WHATSAPP``, ``Channel.WEBCHAT``) names the backend that
carries its messages. Each channel app implements ``ChannelBackend`` and registers it from its
``AppConfig.ready()`` (``whatsapp.channel``, ``webchat.channel``); the domain never imports a
channel. A new channel (Instagram, Telegram, e-mail) is one new app that registers a backend.
Tests register a fake backend with ``register`` instead of patching a module.

Message types travel through the same ``send``: text, media and templates are messages whose
``type`` and ``content`` the channel renders in its own format.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Protocol

from conversations.models import Conversation, Direction, Message, MessageStatus, User
from pytake.errors import ErrorCode, InvalidInput
from pytake.transactions import on_commit_robust

log = logging.getLogger(__name__)


class ChannelBackend(Protocol):
    def send(self, *, message_id: int) -> None:
        """Deliver a committed outbound message (``pending``): queue it, and move its status on
        (``sent``, then ``delivered`` / ``read`` / ``failed``) as the channel learns them."""

    def check_outbound(self, *, conversation: Conversation, message_type: str) -> None:
        """Raise ``pytake.errors.ApplicationError`` when the channel refuses a message of this type
        now (WhatsApp's 24-hour window: only a template outside it). Called under the
        conversation's lock before the message is stored."""

    def reply_window_closes_at(self, *, conversation: Conversation) -> datetime | None:
        """When free-form replies stop being accepted (None: no such limit, or already closed)."""

    def mark_read(self, *, conversation: Conversation, messages: list[Message]) -> None:
        """Tell the customer their ``messages`` were read (the newest one is enough on WhatsApp).
        Called after commit."""

    def typing(self, *, conversation_id: int) -> None:
        """Show the customer that an agent is typing (best effort)."""

    def fetch_media(self, *, message_id: int) -> None:
        """Fetch an inbound message's media into storage (queued)."""

    def template_prepare(self, *, conversation: Conversation, template: Any) -> dict[str, Any]:
        """The ``content`` of a template message (``{"name", "language", "parameters"}``),
        checked against the channel's templates before anything is stored or sent: raise
        ``pytake.errors.ApplicationError`` naming what is wrong. Called under the conversation's lock."""

    def conversation_start(self, *, user: User, phone: str, name: str, number_id: int | None) -> Conversation:
        """The conversation in which ``user`` writes first to the customer at ``phone``: the
        contact's existing one on that number, or a new one, given to ``user`` when nobody
        has it. Called inside the caller's transaction; raise ``ApplicationError`` for bad input."""


_backends: dict[str, ChannelBackend] = {}


def register(name: str, backend: ChannelBackend) -> None:
    """Make ``backend`` carry the conversations whose ``channel`` is ``name``."""
    _backends[name] = backend


def backend_for(channel: str) -> ChannelBackend | None:
    backend = _backends.get(channel)
    if backend is None:
        log.warning("No backend is registered for channel %r", channel)
    return backend


def dispatch(message: Message) -> None:
    """Send a saved, committed outbound message through its conversation's channel."""
    if message.direction != Direction.OUTBOUND or message.internal or message.status != MessageStatus.PENDING:
        return
    backend = backend_for(message.conversation.channel)
    if backend is not None:
        backend.send(message_id=message.pk)


def dispatch_on_commit(message: Message) -> None:
    """``dispatch`` once the current transaction commits (at once outside one)."""
    on_commit_robust(dispatch, message)


def check_outbound(*, conversation: Conversation, message_type: str) -> None:
    backend = backend_for(conversation.channel)
    if backend is not None:
        backend.check_outbound(conversation=conversation, message_type=message_type)


def typing(*, conversation: Conversation) -> None:
    backend = backend_for(conversation.channel)
    if backend is not None:
        backend.typing(conversation_id=conversation.pk)


def reply_window_closes_at(*, conversation: Conversation) -> datetime | None:
    backend = _backends.get(conversation.channel)  # quietly None for a channel not installed here
    return None if backend is None else backend.reply_window_closes_at(conversation=conversation)


def _backend_or_refuse(channel: str) -> ChannelBackend:
    backend = _backends.get(channel)
    if backend is None:
        raise InvalidInput(f"No channel {channel!r} is installed here.", code=ErrorCode.INVALID)
    return backend


def template_prepare(*, conversation: Conversation, template: Any) -> dict[str, Any]:
    return _backend_or_refuse(conversation.channel).template_prepare(conversation=conversation, template=template)


def conversation_start(*, channel: str, user: User, phone: str, name: str, number_id: int | None) -> Conversation:
    return _backend_or_refuse(channel).conversation_start(user=user, phone=phone, name=name, number_id=number_id)
