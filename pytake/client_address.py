"""The client's address, as the proxies this deployment trusts saw it.

``PYTAKE_TRUSTED_PROXIES`` is the number of reverse proxies in front of the ASGI server, each of
which adds the address it received the request from to ``X-Forwarded-For``. The shipped nginx is
one (deploy/nginx): it sets ``X-Forwarded-For`` to ``$remote_addr`` (the peer it saw), replacing
whatever the client sent. With N trusted proxies the client is the N-th entry from the right; the
entries left of it were written by the client and prove nothing. With 0 (the default: the server
is reached directly, as under ``make run``), the header is ignored and the peer address is the
client. A wrong N is a security bug either way: too high, and a client picks its own address by
sending the header (throttles and lockouts bypassed); too low, and every client shares the
proxy's address.

Every decision taken per client address goes through here: the REST throttles (login, web-chat
sessions, anonymous requests) and the admin login lockout (django-axes).
"""

from __future__ import annotations

from ipaddress import ip_address
from typing import Any

from django.conf import settings


def client_address(meta: dict[str, Any]) -> str:
    """The client's address from a request's ``META`` (see the module docstring)."""
    peer = str(meta.get("REMOTE_ADDR") or "")
    proxies = int(getattr(settings, "PYTAKE_TRUSTED_PROXIES", 0))
    if proxies <= 0:
        return peer
    hops = [hop.strip() for hop in str(meta.get("HTTP_X_FORWARDED_FOR") or "").split(",") if hop.strip()]
    if not hops:
        return peer
    candidate = hops[-min(proxies, len(hops))]
    try:
        return str(ip_address(candidate))
    except ValueError:  # not an address: a proxy that does not write the header as documented
        return peer


def client_address_of_request(request: Any) -> str:
    """``client_address`` for callers that hold a request (django-axes' ``AXES_CLIENT_IP_CALLABLE``)."""
    return client_address(request.META)


def login_username(request: Any, credentials: dict[str, Any] | None) -> str | None:
    """The account a login attempt names, lower-cased as logins are (``AXES_USERNAME_CALLABLE``):
    the admin's form calls it ``username``, the API's ``email``."""
    credentials = credentials or {}
    name = credentials.get("username") or credentials.get("email")
    if name is None and request is not None:
        name = request.POST.get("username")
    return str(name).strip().lower() if name else None
