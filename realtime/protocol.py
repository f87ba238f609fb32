"""The socket's edge: its close codes (docs/realtime-protocol.md), the Origin check, and the
per-socket rate limit."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.http.request import split_domain_port, validate_host

CLOSE_AUTH = 4001
CLOSE_FORBIDDEN = 4003
CLOSE_HEARTBEAT = 4008
CLOSE_TOO_MANY_CONNECTIONS = 4009
CLOSE_RATE_LIMITED = 4029
CLOSE_TOO_LARGE = 1009
CLOSE_RESTART = 1012


class TokenBucket:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.capacity = rate, float(burst)
        self.tokens, self.stamp = float(burst), time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


def origin_allowed(scope: dict[str, Any]) -> bool:
    """A browser's Origin must name one of our hosts. No Origin (a non-browser client) is fine:
    the token is what authenticates it."""
    origin = next((v for k, v in scope.get("headers", []) if k == b"origin"), None)
    if origin is None:
        return True
    text = origin.decode("latin-1")
    if text in settings.PYTAKE_WS_ALLOWED_ORIGINS:
        return True
    host = text.split("://", 1)[-1]
    domain, _port = split_domain_port(host)
    return bool(domain) and validate_host(domain, settings.ALLOWED_HOSTS)
