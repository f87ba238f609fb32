"""JWT authentication for WebSockets: resolves who is connecting before the consumer runs.

The token comes from the subprotocol pair ``["bearer", <token>]`` or ``?token=``. Staff present a
simplejwt access token; web-chat customers a ``WebchatToken`` scoped to one conversation. The
result is put in ``scope["principal"]`` (or ``scope["auth_error"]``); the consumer closes with
4001 on an error, after accepting, because a refused handshake reaches a browser as a bare HTTP
error with no code it can read.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from django.contrib.auth.models import AnonymousUser
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken, UntypedToken

from accounts.authentication import JWTAuthentication
from conversations.models import Conversation, User
from realtime.hub import hub
from realtime.tokens import WebchatToken


@dataclass(frozen=True)
class Principal:
    """Who is on the other end of a socket."""

    tenant_id: int
    expires_at: datetime
    user: User | None = None  # staff
    conversation_id: int | None = None  # web-chat customer

    # Cached: the hub asks these for every socket on every event (a principal never changes).
    @cached_property
    def is_customer(self) -> bool:
        return self.user is None

    @cached_property
    def user_id(self) -> int | None:
        return self.user.pk if self.user is not None else None

    @cached_property
    def is_supervisor(self) -> bool:
        return self.user is not None and self.user.is_supervisor

    @property
    def role(self) -> str:
        return self.user.role if self.user is not None else "customer"


def token_from_scope(scope: dict[str, Any]) -> str | None:
    protocols = list(scope.get("subprotocols") or [])
    if "bearer" in protocols:
        index = protocols.index("bearer")
        if index + 1 < len(protocols):
            return str(protocols[index + 1])
    query = parse_qs((scope.get("query_string") or b"").decode("latin-1"))
    values = query.get("token")
    return values[0] if values else None


def resolve_principal(raw_token: str | None) -> Principal:
    """The principal behind a token, or ``AuthenticationFailed`` (missing, malformed, expired,
    revoked, deactivated user, tenant gone)."""
    if not raw_token:
        raise AuthenticationFailed("No token.")
    try:
        token_type = UntypedToken(raw_token).get("token_type")  # type: ignore[arg-type]  # stubs: str is accepted
        if token_type == WebchatToken.token_type:
            webchat = WebchatToken(raw_token)  # type: ignore[arg-type]
            conversation = (
                Conversation.objects.filter(
                    pk=webchat["conversation_id"], tenant_id=webchat["tenant_id"], tenant__is_active=True
                )
                .only("pk", "tenant_id")
                .first()
            )
            if conversation is None:
                raise AuthenticationFailed("The conversation of this token no longer exists.")
            return Principal(
                tenant_id=conversation.tenant_id,
                conversation_id=conversation.pk,
                expires_at=datetime.fromtimestamp(webchat["exp"], tz=UTC),
            )
        access = AccessToken(raw_token)  # type: ignore[arg-type]
    except TokenError as exc:
        raise AuthenticationFailed(str(exc)) from exc
    user = JWTAuthentication().get_user(access)  # is_active, revocation, sign-out; with the tenant
    assert isinstance(user, User)
    if user.tenant_id is None:
        raise AuthenticationFailed("This user belongs to no tenant.")
    if user.tenant is None or not user.tenant.is_active:
        raise AuthenticationFailed("The tenant is not active.")
    return Principal(
        tenant_id=user.tenant_id,
        user=user,
        expires_at=datetime.fromtimestamp(access["exp"], tz=UTC),
    )


class _Gone:
    """Set once the client of a connecting socket has left (an ``asyncio.Event`` without the
    waiters' deque, 600 bytes a socket, that nothing here waits on)."""

    __slots__ = ("gone",)

    def __init__(self) -> None:
        self.gone = False

    def __call__(self, message: asyncio.Future[Any]) -> None:
        """The done callback of the receive that was pending while the token was checked."""
        if (
            not message.cancelled()
            and message.exception() is None
            and message.result().get("type") == "websocket.disconnect"
        ):
            self.gone = True


def client_gone(scope: dict[str, Any]) -> bool:
    """Whether the client of a connecting socket has already left (known before the consumer
    has read the ``websocket.disconnect``)."""
    gone = scope.get("client_gone")
    return gone is not None and gone.gone


class JWTAuthMiddleware:
    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        scope = dict(scope)
        # Where access changes stood before the token is read: the consumer checks again if one
        # may have come in between (``Hub.access_unchanged_since``).
        scope["access_mark"] = hub().access_mark()
        # Not thread-sensitive: token checks of many connecting sockets run in parallel threads
        # instead of queueing on the one thread that Channels uses by default.
        check = asyncio.ensure_future(
            database_sync_to_async(resolve_principal, thread_sensitive=False)(token_from_scope(scope))
        )
        received: list[Any] = []
        later: asyncio.Future[Any] | None = None
        if scope.get("type") == "websocket":
            # The handshake completes only once the consumer accepts, after this check: in a
            # connect storm the checks queue, daphne drops the handshakes that wait past
            # --websocket_connect_timeout (5 s), and those clients retry. A check still queued
            # for a client that is gone is dropped, not run: otherwise the queue fills with
            # work for dead sockets, each retry adds more, and none is served in time.
            try:
                received.append(await receive())  # websocket.connect
                later = asyncio.ensure_future(receive())
                await asyncio.wait({check, later}, return_when=asyncio.FIRST_COMPLETED)
            except BaseException:
                check.cancel()
                if later is not None:
                    later.cancel()
                raise
            if not check.done() and later.result().get("type") == "websocket.disconnect":
                check.cancel()
                # Refuse the handshake nobody waits for any more: an application that returns
                # without answering it is an error to the server (uvicorn logs one per socket).
                await send({"type": "websocket.close"})
                return None
            # Still unread when the consumer starts: it looks here before it registers the
            # socket, so that a client gone meanwhile is not counted against its user's cap.
            gone = scope["client_gone"] = _Gone()
            later.add_done_callback(gone)
        try:
            principal = await check
        except AuthenticationFailed as exc:
            scope["auth_error"] = str(exc.detail)
            scope["user"] = AnonymousUser()
        except BaseException:
            if later is not None:
                later.cancel()
            raise
        else:
            scope["principal"] = principal
            scope["user"] = principal.user or AnonymousUser()
        if later is None:
            return await self.inner(scope, receive, send)

        async def replay() -> Any:
            """The messages read here first, then the rest from the server."""
            nonlocal later
            if received:
                return received.pop(0)
            if later is not None:
                message, later = await later, None
                return message
            return await receive()

        try:
            return await self.inner(scope, replay, send)
        finally:
            if later is not None:
                later.cancel()
