"""JWT login by email and password; the tokens carry the user's tenant and role."""

from typing import Any

from rest_framework_simplejwt.serializers import TokenObtainPairSerializer as BaseTokenObtainPairSerializer
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.views import TokenObtainPairView as BaseTokenObtainPairView

from conversations.models import User
from pytake.throttling import LoginThrottle


class TokenObtainPairSerializer(BaseTokenObtainPairSerializer):
    @classmethod
    def get_token(cls, user: User) -> RefreshToken:  # type: ignore[override]
        token = super().get_token(user)
        token["tenant_id"] = user.tenant_id
        token["role"] = user.role
        token["name"] = user.get_full_name()
        return token  # type: ignore[return-value]

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        attrs[self.username_field] = str(attrs.get(self.username_field, "")).strip().lower()
        return super().validate(attrs)


class TokenObtainPairView(BaseTokenObtainPairView):
    """Log in with ``{"email", "password"}``; throttled per client address."""

    throttle_scope = "login"
    throttle_classes = [LoginThrottle]
