"""Sessions over REST: change the password, sign out one session, sign out everywhere."""

from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import RefreshToken

from accounts import services
from conversations.permissions import staff_user
from pytake.errors import ErrorCode, InvalidInput
from pytake.throttling import LoginThrottle


class PasswordChangeSerializer(serializers.Serializer):
    old_password = serializers.CharField(max_length=128, trim_whitespace=False)
    new_password = serializers.CharField(max_length=128, trim_whitespace=False)

    def validate_old_password(self, value: str) -> str:
        if not self.context["user"].check_password(value):
            raise serializers.ValidationError("The current password is not this one.")
        return value

    def validate_new_password(self, value: str) -> str:
        try:
            validate_password(value, user=self.context["user"])
        except DjangoValidationError as exc:
            raise serializers.ValidationError(list(exc.messages)) from None
        return value


class PasswordChangeView(APIView):
    """Change one's own password. Every earlier token is refused from then on and every open
    socket of the user closes (4001); the answer carries a new token pair to go on with."""

    throttle_scope = "login"
    throttle_classes = [LoginThrottle]

    @extend_schema(
        request=PasswordChangeSerializer,
        responses=inline_serializer(
            "TokenPair", {"access": serializers.CharField(), "refresh": serializers.CharField()}
        ),
    )
    def post(self, request: Request) -> Response:
        body = PasswordChangeSerializer(data=request.data, context={"user": staff_user(request)})
        body.is_valid(raise_exception=True)
        refresh = services.user_password_change(
            user=staff_user(request), new_password=body.validated_data["new_password"]
        )
        return Response({"access": str(refresh.access_token), "refresh": str(refresh)})


class RefreshSerializer(serializers.Serializer):
    refresh = serializers.CharField(max_length=4096)


class LogoutView(APIView):
    """Sign out this session: its refresh token is blacklisted. No access token is needed (it may
    have expired): holding the refresh token is what allows it."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    throttle_scope = "login"
    throttle_classes = [LoginThrottle]

    @extend_schema(request=RefreshSerializer, responses={204: None})
    def post(self, request: Request) -> Response:
        body = RefreshSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            refresh = RefreshToken(body.validated_data["refresh"])  # type: ignore[arg-type]
        except TokenError:
            raise InvalidInput(
                "Not a valid refresh token (expired, or signed out already).", code=ErrorCode.INVALID_TOKEN
            ) from None
        services.session_sign_out(refresh=refresh)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutEverywhereView(APIView):
    """Sign out every session of the caller: every token issued until now is refused (REST and
    WebSocket) and every open socket of theirs closes (4001), on every server process."""

    @extend_schema(request=None, responses={204: None})
    def post(self, request: Request) -> Response:
        services.user_sign_out_everywhere(user=staff_user(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
