"""Structured logs: who and which request, on every line.

A context (request id, tenant, user) lives in a ``ContextVar``; ``ContextFilter`` copies it onto
every record, so any ``logger.info(...)`` inside a request, a WebSocket connection or a Celery
task carries it without passing it around. ``RequestContextMiddleware`` opens the context for an
HTTP request (honouring a sane ``X-Request-ID`` from the proxy, else generating one, and echoing
it in the response); the WebSocket consumer calls ``bind(...)`` once it knows the user; Celery
tasks get their task id as request id (``connect_celery_signals``).

Production (``DJANGO_DEBUG`` off) writes one JSON object per line; development writes readable
text. ``LOG_FORMAT=json|text`` overrides. Never log secrets or message bodies at INFO: ``extra``
keys that name a secret are always redacted, keys that hold a body are dropped above DEBUG.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import Any

from django.utils.functional import LazyObject, empty

_context: ContextVar[dict[str, Any] | None] = ContextVar("pytake_log_context", default=None)

REQUEST_ID_HEADER = "X-Request-ID"
# Accept a proxy's id only if it is short and harmless to echo into logs and headers.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

# ``extra`` keys whose values never reach a log line, and keys holding customer text, which only
# reach DEBUG lines.
SECRET_KEYS = frozenset({"password", "token", "access", "refresh", "authorization", "secret", "signature", "cookie"})
BODY_KEYS = frozenset({"text", "body", "payload", "caption", "content"})

_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "request_id",
    "tenant_id",
    "user_id",
}

access_logger = logging.getLogger("pytake.request")


def new_request_id() -> str:
    return uuid.uuid4().hex


def bind(**fields: Any) -> Token[dict[str, Any] | None]:
    """Add fields (``request_id``, ``tenant_id``, ``user_id``...) to the current context.

    Returns a token for ``reset``. A consumer calls it in ``connect`` once the user is known:
    ``bind(request_id=new_request_id(), tenant_id=user.tenant_id, user_id=user.pk)``; the
    connection's task keeps that context until it ends.
    """
    current = dict(_context.get() or {})
    current.update(fields)
    return _context.set(current)


def reset(token: Token[dict[str, Any] | None]) -> None:
    _context.reset(token)


def current_context() -> dict[str, Any]:
    """request_id, tenant_id and user_id as a log line would show them (None when unknown)."""
    ctx = _context.get() or {}
    tenant_id, user_id = ctx.get("tenant_id"), ctx.get("user_id")
    request = ctx.get("request")
    if user_id is None and request is not None:
        user = _authenticated_user(request)
        if user is not None:
            user_id, tenant_id = user.pk, getattr(user, "tenant_id", None)
    return {"request_id": ctx.get("request_id"), "tenant_id": tenant_id, "user_id": user_id}


def _authenticated_user(request: Any) -> Any:
    """The request's user if authentication has already happened, without triggering it.

    Django's middleware puts a lazy user on the request; DRF replaces it with the authenticated
    one (JWT) when the view authenticates. Evaluating a lazy user here would query the database
    from inside a log call, so an unevaluated one counts as unknown.
    """
    user = request.__dict__.get("user")
    if isinstance(user, LazyObject):
        wrapped = user.__dict__.get("_wrapped", empty)
        user = None if wrapped is empty else wrapped
    if user is not None and getattr(user, "is_authenticated", False):
        return user
    return None


class ContextFilter(logging.Filter):
    """Puts request_id, tenant_id and user_id on every record (attach it to the handlers)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in current_context().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key, value in record.__dict__.items():
        if key in _RECORD_ATTRS or key.startswith("_"):
            continue
        if key.lower() in SECRET_KEYS:
            fields[key] = "[redacted]"
        elif key.lower() in BODY_KEYS and record.levelno > logging.DEBUG:
            continue
        else:
            fields[key] = value
    return fields


class JSONFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, the context, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
            "tenant_id": getattr(record, "tenant_id", None),
            "user_id": getattr(record, "user_id", None),
        }
        line.update(_extras(record))
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    """Readable development lines, with the context in brackets and extras at the end."""

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s %(levelname)-7s %(name)s [%(request_id)s t=%(tenant_id)s u=%(user_id)s] %(message)s"
        )

    def format(self, record: logging.LogRecord) -> str:
        for key in ("request_id", "tenant_id", "user_id"):
            if getattr(record, key, None) is None:
                setattr(record, key, "-")
        text = super().format(record)
        extras = _extras(record)
        if extras:
            text += " " + " ".join(f"{key}={value}" for key, value in extras.items())
        return text


# Query parameters that carry a secret: Meta's webhook verify token, a socket's ``?token=``.
_SECRET_QUERY = re.compile(r"((?:hub\.verify_token|token)=)[^&\s\"']*", re.IGNORECASE)


class RedactQueryFilter(logging.Filter):
    """Secrets in a logged URL's query string become ``[redacted]``, whichever logger wrote the
    line: the development server's request lines (``django.channels.server``) hold the whole
    URL, including ``?hub.verify_token=`` of Meta's webhook handshake."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "token=" in message.lower():
            record.msg, record.args = _SECRET_QUERY.sub(r"\1[redacted]", message), None
        return True


def logging_config(*, json_lines: bool, level: str) -> dict[str, Any]:
    """The ``LOGGING`` dict for settings."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "context": {"()": "pytake.logging.ContextFilter"},
            "redact": {"()": "pytake.logging.RedactQueryFilter"},
        },
        "formatters": {
            "json": {"()": "pytake.logging.JSONFormatter"},
            "text": {"()": "pytake.logging.TextFormatter"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json" if json_lines else "text",
                "filters": ["context", "redact"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.channels.server": {"level": "WARNING"},
            # uvicorn logs every WebSocket accept and close at INFO: per-socket noise.
            "uvicorn.error": {"level": "WARNING"},
            # Our access line replaces Django's per-request warnings for 4xx.
            "django.request": {"level": "ERROR"},
            "httpx": {"level": "WARNING"},  # one INFO line per Graph API call is noise
        },
    }


class RequestContextMiddleware:
    """Opens the log context of one HTTP request and writes its access line.

    The access line holds method, path (no query string: it may carry a token), route, status
    and duration; never headers or bodies.
    """

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else new_request_id()
        request.request_id = request_id
        token = _context.set({"request_id": request_id, "request": request})
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response[REQUEST_ID_HEADER] = request_id
            match = getattr(request, "resolver_match", None)
            if not (
                match is not None and match.route in {"healthz", "readyz", "metrics"} and response.status_code < 400
            ):
                access_logger.info(
                    "%s %s %s",
                    request.method,
                    request.path,
                    response.status_code,
                    extra={
                        "method": request.method,
                        "path": request.path,
                        "route": match.route if match is not None else None,
                        "status": response.status_code,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    },
                )
            return response
        finally:
            _context.reset(token)


def connect_celery_signals() -> None:
    """Give each Celery task run a log context: its task id as request id, and the task name."""
    from celery import signals

    tokens: dict[str, Token[dict[str, Any] | None]] = {}

    def on_prerun(task_id: str | None = None, task: Any = None, **_: Any) -> None:
        if task_id:
            tokens[task_id] = _context.set({"request_id": task_id, "task": getattr(task, "name", None)})

    def on_postrun(task_id: str | None = None, **_: Any) -> None:
        token = tokens.pop(task_id or "", None)
        if token is not None:
            try:
                _context.reset(token)
            except ValueError:  # reset from another context (thread pools): just clear it
                _context.set(None)

    signals.task_prerun.connect(on_prerun, weak=False, dispatch_uid="pytake.logging.prerun")
    signals.task_postrun.connect(on_postrun, weak=False, dispatch_uid="pytake.logging.postrun")
