"""Staff authentication for REST and WebSockets (kept apart from the views: DRF imports this
module while it loads its own views)."""

from typing import Any

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework_simplejwt.authentication import JWTAuthentication as BaseJWTAuthentication

from conversations.models import User


class _UsersWithTenant:
    """What simplejwt's ``get_user`` reads as its user model: the users with their tenant."""

    objects = User.objects.select_related("tenant")
    DoesNotExist = User.DoesNotExist


class JWTAuthentication(BaseJWTAuthentication):
    """simplejwt's checks (active user, token not revoked by a password change), reading the user
    with its tenant in the same query: every request's permission and every socket's token check
    then ask whether the tenant is active without a second one."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user_model = _UsersWithTenant  # type: ignore[assignment]


class JWTScheme(SimpleJWTScheme):
    """Documents this authentication in the OpenAPI schema as simplejwt's."""

    target_class = "conversations.authentication.JWTAuthentication"
