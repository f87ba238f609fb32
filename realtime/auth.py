"""JWT authentication for WebSockets: resolves who is connecting before the consumer runs.

The token comes from the subprotocol pair ``["bearer", <token>]`` or ``?token=``. Staff present a
simplejwt access token; web-chat customers a ``WebchatToken`` scoped to one conversation. The
result is put in ``scope["principal"]`` (or ``scope["auth_error"]``); the consumer closes with
4001 on an error, after accepting, because a refused handshake reaches a browser as a bare HTTP
error with no code it can read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from django.contrib.auth.models import AnonymousUser
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken, UntypedToken

from conversations.models import Conversation, User
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
    user = JWTAuthentication().get_user(access)  # checks is_active and revocation
    assert isinstance(user, User)
    if user.tenant_id is None:
        raise AuthenticationFailed("This user belongs to no tenant.")
    user = User.objects.select_related("tenant").get(pk=user.pk)
    if user.tenant is None or user.tenant_id is None or not user.tenant.is_active:
        raise AuthenticationFailed("The tenant is not active.")
    return Principal(
        tenant_id=user.tenant_id,
        user=user,
        expires_at=datetime.fromtimestamp(access["exp"], tz=UTC),
    )


class JWTAuthMiddleware:
    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        scope = dict(scope)
        try:
            # Not thread-sensitive: token checks of many connecting sockets run in parallel threads
            # instead of queueing on the one thread that Channels uses by default.
            principal = await database_sync_to_async(resolve_principal, thread_sensitive=False)(token_from_scope(scope))
        except AuthenticationFailed as exc:
            scope["auth_error"] = str(exc.detail)
            scope["user"] = AnonymousUser()
        else:
            scope["principal"] = principal
            scope["user"] = principal.user or AnonymousUser()
        return await self.inner(scope, receive, send)
