"""Web-chat customers: anonymous, with a short-lived token for one conversation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request
from rest_framework_simplejwt.exceptions import TokenError

from pytake.errors import ErrorCode
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

            raise AuthenticationFailed(
                "The web-chat session is invalid or expired.", code=ErrorCode.INVALID_SESSION
            ) from None

    def authenticate_header(self, request: Request) -> str:
        return "Bearer"


class WebchatTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    """Documents the web-chat token in the OpenAPI schema."""

    target_class = "webchat.auth.WebchatTokenAuthentication"
    name = "webchatToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "The token from POST /api/webchat/sessions/."}
