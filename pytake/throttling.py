"""REST throttles that keep the API answering when the cache (Redis) is briefly away, and count
anonymous clients by the address the trusted proxies saw (``pytake.client_address``): DRF's own
reads the whole ``X-Forwarded-For``, which the client writes, so each forged value was a fresh
allowance.

Throttle counters live in the cache. If Redis restarts, refusing every request with a 500 would
turn a short cache outage into an outage of the inbox; the throttles fail open instead, and say
so in the log.
"""

import logging
from typing import Any

from redis.exceptions import RedisError
from rest_framework.request import Request
from rest_framework.throttling import ScopedRateThrottle, UserRateThrottle

from pytake.client_address import client_address

log = logging.getLogger(__name__)


class _FailOpen:
    def get_ident(self, request: Request) -> str:
        return client_address(request.META)

    def allow_request(self, request: Request, view: Any) -> bool:
        try:
            return bool(super().allow_request(request, view))  # type: ignore[misc]
        except (RedisError, OSError):
            log.warning("throttle cache unavailable: request allowed without a rate check", exc_info=True)
            return True


class UserThrottle(_FailOpen, UserRateThrottle):
    pass


class LoginThrottle(_FailOpen, ScopedRateThrottle):
    pass
