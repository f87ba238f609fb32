"""Staff authentication for REST and WebSockets: ``conversations.authentication``'s (simplejwt's
checks, the user read with their tenant), and the user's sign-out everywhere (kept apart from
the views: DRF imports this module while it loads its own views)."""

from typing import Any

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework_simplejwt.exceptions import AuthenticationFailed
from rest_framework_simplejwt.tokens import Token

from conversations.authentication import JWTAuthentication as TenantJWTAuthentication
from conversations.models import User
from pytake.error_codes import ErrorCode


class _UsersWithTenant:
    """What simplejwt's ``get_user`` reads as its user model: the users with their tenant and
    their last sign-out everywhere, in one query."""

    objects = User.objects.select_related("tenant", "sign_out")
    DoesNotExist = User.DoesNotExist


def signed_out_after(user: User, token: Token) -> bool:
    """Whether the user signed out everywhere after ``token`` was issued (in the same second
    counts: a token's ``iat`` has whole seconds)."""
    sign_out = getattr(user, "sign_out", None)
    if sign_out is None:
        return False
    issued = token.get("iat")
    return not isinstance(issued, int | float) or issued <= int(sign_out.at.timestamp())


class JWTAuthentication(TenantJWTAuthentication):
    """simplejwt's checks (active user, token not revoked by a password change), then the sign-out
    everywhere, reading the user with their tenant and sign-out in one query."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user_model = _UsersWithTenant  # type: ignore[assignment]

    def get_user(self, validated_token: Token) -> User:  # type: ignore[override]
        user = super().get_user(validated_token)
        assert isinstance(user, User)
        if signed_out_after(user, validated_token):
            raise AuthenticationFailed("This session was signed out.", code=ErrorCode.SIGNED_OUT)
        return user


class JWTScheme(SimpleJWTScheme):
    """Documents this authentication in the OpenAPI schema as simplejwt's."""

    target_class = "accounts.authentication.JWTAuthentication"
