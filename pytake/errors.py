"""One error family for the whole API: every error is JSON ``{code, message, extra}``.

Services raise ``ApplicationError`` subclasses; the DRF exception handler below renders them and
DRF's own exceptions (validation, authentication, throttling) in the same shape.
"""

from enum import StrEnum
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class ErrorCode(StrEnum):
    """Every ``code`` the API, the webhook and the WebSocket answer with. Clients branch on these;
    they never change meaning once published."""

    # General
    ERROR = "error"  # nothing more specific applies
    INVALID = "invalid"  # a field or parameter is wrong: ``extra.fields`` names which
    NOT_FOUND = "not_found"  # missing, or not yours to see (the same answer for both)
    CONFLICT = "conflict"
    FORBIDDEN = "forbidden"
    BAD_REQUEST = "bad_request"
    # From DRF and simplejwt, in the same shape
    NOT_AUTHENTICATED = "not_authenticated"
    AUTHENTICATION_FAILED = "authentication_failed"
    TOKEN_NOT_VALID = "token_not_valid"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    NOT_ACCEPTABLE = "not_acceptable"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    THROTTLED = "throttled"  # ``extra.retry_after`` in seconds
    PARSE_ERROR = "parse_error"
    # Conversations and messages
    EMPTY_MESSAGE = "empty_message"
    MESSAGE_TOO_LONG = "message_too_long"
    INVALID_TYPE = "invalid_type"  # a message type that cannot be sent this way
    INVALID_TRANSITION = "invalid_transition"  # a status move the lifecycle does not allow
    OUTSIDE_WINDOW = "outside_window"  # WhatsApp's 24-hour window is closed: only a template
    # The agent's toolbox
    UNKNOWN_VARIABLE = "unknown_variable"  # a saved reply names a variable PyTake cannot fill
    INVALID_ATTRIBUTE = "invalid_attribute"  # a custom attribute unknown, or its value not of its type
    # Assignment
    INVALID_ASSIGNEE = "invalid_assignee"
    FORBIDDEN_ASSIGNMENT = "forbidden_assignment"  # agents take or hand back only
    ALREADY_ASSIGNED = "already_assigned"
    NOT_WAITING = "not_waiting"
    # Web chat
    INVALID_SESSION = "invalid_session"
    # WebSocket commands
    UNKNOWN_ACTION = "unknown_action"
    NOT_JOINED = "not_joined"
    TOO_MANY_JOINED = "too_many_joined"
    RATE_LIMITED = "rate_limited"
    # Meta's webhook
    VERIFICATION_FAILED = "verification_failed"
    UNKNOWN_ACCOUNT = "unknown_account"
    INVALID_SIGNATURE = "invalid_signature"
    INVALID_PAYLOAD = "invalid_payload"
    PAYLOAD_TOO_LARGE = "payload_too_large"


class ApplicationError(Exception):
    """A failure a client can act on. ``code`` is stable; ``message`` is for people."""

    code: ErrorCode = ErrorCode.ERROR
    status = 400
    message = "The request could not be completed."

    def __init__(
        self, message: str | None = None, *, code: ErrorCode | None = None, extra: dict[str, Any] | None = None
    ):
        self.message = message or self.message
        self.code = ErrorCode(code) if code else self.code  # an unlisted code fails where it is raised
        self.extra = extra or {}
        super().__init__(self.message)


class NotFound(ApplicationError):
    code = ErrorCode.NOT_FOUND
    status = 404
    message = "Not found."


class Conflict(ApplicationError):
    code = ErrorCode.CONFLICT
    status = 409
    message = "The request conflicts with the current state."


class InvalidInput(ApplicationError):
    code = ErrorCode.INVALID
    status = 400
    message = "Invalid input."


class Forbidden(ApplicationError):
    code = ErrorCode.FORBIDDEN
    status = 403
    message = "You are not allowed to do this."


def error_body(code: str, message: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "extra": extra or {}}


_DRF_CODES: dict[type[Exception], ErrorCode] = {
    drf_exceptions.NotAuthenticated: ErrorCode.NOT_AUTHENTICATED,
    drf_exceptions.AuthenticationFailed: ErrorCode.AUTHENTICATION_FAILED,
    drf_exceptions.PermissionDenied: ErrorCode.FORBIDDEN,
    drf_exceptions.NotFound: ErrorCode.NOT_FOUND,
    drf_exceptions.MethodNotAllowed: ErrorCode.METHOD_NOT_ALLOWED,
    drf_exceptions.NotAcceptable: ErrorCode.NOT_ACCEPTABLE,
    drf_exceptions.UnsupportedMediaType: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    drf_exceptions.Throttled: ErrorCode.THROTTLED,
    drf_exceptions.ParseError: ErrorCode.PARSE_ERROR,
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
        response.data = error_body(ErrorCode.INVALID, "Invalid input.", {"fields": fields})
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
