"""One error family for the whole API: every error is JSON ``{code, message, extra}``.

Services raise ``ApplicationError`` subclasses; the DRF exception handler below renders them and
DRF's own exceptions (validation, authentication, throttling) in the same shape.
"""

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class ApplicationError(Exception):
    """A failure a client can act on. ``code`` is stable; ``message`` is for people."""

    code = "error"
    status = 400
    message = "The request could not be completed."

    def __init__(self, message: str | None = None, *, code: str | None = None, extra: dict[str, Any] | None = None):
        self.message = message or self.message
        self.code = code or self.code
        self.extra = extra or {}
        super().__init__(self.message)


class NotFound(ApplicationError):
    code = "not_found"
    status = 404
    message = "Not found."


class Conflict(ApplicationError):
    code = "conflict"
    status = 409
    message = "The request conflicts with the current state."


class InvalidInput(ApplicationError):
    code = "invalid"
    status = 400
    message = "Invalid input."


class Forbidden(ApplicationError):
    code = "forbidden"
    status = 403
    message = "You are not allowed to do this."


def error_body(code: str, message: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "extra": extra or {}}


_DRF_CODES: dict[type[Exception], str] = {
    drf_exceptions.NotAuthenticated: "not_authenticated",
    drf_exceptions.AuthenticationFailed: "authentication_failed",
    drf_exceptions.PermissionDenied: "forbidden",
    drf_exceptions.NotFound: "not_found",
    drf_exceptions.MethodNotAllowed: "method_not_allowed",
    drf_exceptions.NotAcceptable: "not_acceptable",
    drf_exceptions.UnsupportedMediaType: "unsupported_media_type",
    drf_exceptions.Throttled: "throttled",
    drf_exceptions.ParseError: "parse_error",
}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        return Response(error_body(exc.code, exc.message, exc.extra), status=exc.status)
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf_exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    assert isinstance(exc, drf_exceptions.APIException)
    if isinstance(exc, drf_exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        response.data = error_body("invalid", "Invalid input.", {"fields": fields})
        return response
    detail = exc.detail
    message = str(detail.get("detail", detail)) if isinstance(detail, dict) else str(detail)
    codes = exc.get_codes()
    if isinstance(codes, str):
        code = codes
    elif isinstance(detail, dict) and "code" in detail:
        code = str(detail["code"])  # simplejwt's InvalidToken: "token_not_valid"
    else:
        code = _DRF_CODES.get(type(exc), "error")
    extra: dict[str, Any] = {}
    wait = getattr(exc, "wait", None)
    if isinstance(exc, drf_exceptions.Throttled) and wait is not None:
        extra["retry_after"] = int(wait)
    response.data = error_body(code, message, extra)
    return response
