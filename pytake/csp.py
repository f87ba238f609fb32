"""Content-Security-Policy on every response.

The product's pages (inbox, web chat, the simulator's phone) load scripts and styles from their
own origin only and have no inline script or style (templates/, static/): a script injected into
a page through some future rendering bug would not run. The Django admin's inline styles are
allowed on its pages only; the API docs page (drf-spectacular's Swagger UI) starts its script
inline, so it gets a policy of its own. Media may come from another origin (an S3 store's
presigned links): the app that knows registers it (``register_media_origin``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse

HEADER = "Content-Security-Policy"
CDN = "https://cdn.jsdelivr.net"


# Where media links may point besides this server: functions answering an origin or None,
# registered from an app's ``ready()`` (conversations: the S3 store of message files).
_media_origins: list[Callable[[], str | None]] = []


def register_media_origin(origin: Callable[[], str | None]) -> None:
    if origin not in _media_origins:
        _media_origins.append(origin)


def _media_sources() -> str:
    return "".join(f" {o}" for o in (origin() for origin in _media_origins) if o)


def policy(request: HttpRequest) -> str:
    host = request.get_host()
    sockets = f"ws://{host} wss://{host}"  # 'self' covers ws(s): in current browsers; older ones need it said
    path = request.path
    if path.startswith("/api/docs/"):
        return (
            f"default-src 'self'; script-src 'self' 'unsafe-inline' {CDN}; style-src 'self' 'unsafe-inline' {CDN}; "
            f"img-src 'self' data: {CDN}; object-src 'none'; base-uri 'self'"
        )
    styles = "'self' 'unsafe-inline'" if path.startswith("/admin/") else "'self'"
    media = _media_sources()
    return (
        f"default-src 'self'; script-src 'self'; style-src {styles}; img-src 'self' data: blob:{media}; "
        f"media-src 'self' blob:{media}; connect-src 'self' {sockets}; object-src 'none'; base-uri 'self'; "
        "form-action 'self'"
    )


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if settings.PYTAKE_CSP_ENABLED and HEADER not in response:
            response[HEADER] = policy(request)
        return response
