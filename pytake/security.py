"""Security events written to the log (logger ``pytake.security``), one JSON line each."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("pytake.security")


def admin_login_locked_out(
    sender: Any, request: Any, username: str | None, ip_address: str | None, **kwargs: Any
) -> None:
    """django-axes locked the admin login for an account or an address (also a row in the
    admin's Axes pages)."""
    log.warning("admin login locked out", extra={"username": username or "", "client_address": ip_address or ""})


def connect_signals() -> None:
    from axes.signals import user_locked_out

    user_locked_out.connect(admin_login_locked_out, dispatch_uid="pytake.security.locked_out")
