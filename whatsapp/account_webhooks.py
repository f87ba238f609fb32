"""Webhooks about a WhatsApp Business Account as a whole, not one of its numbers.

Meta sends template reviews, quality and category changes, account restrictions, number quality
and display-name decisions with the account's id (``entry[].id``, the WABA id) and no
``metadata.phone_number_id``. They are verified by the app secret of a number of that account,
stored raw like every delivery, answered 200, and applied here by a table of handlers keyed by
the change's ``field``. A field with no handler is kept (the stored delivery) and acknowledged:
Meta must not retry it, and acting on it later is one handler more.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

# The account-level fields Meta documents for the whatsapp_business_account object.
DOCUMENTED_FIELDS = frozenset(
    {
        "message_template_status_update",
        "message_template_quality_update",
        "message_template_components_update",
        "template_category_update",
        "account_update",
        "account_review_update",
        "phone_number_quality_update",
        "phone_number_name_update",
        "account_alerts",
        "business_capability_update",
        "security",
    }
)


@dataclass(frozen=True)
class AccountChange:
    """One ``changes[]`` item of an account-level delivery."""

    tenant_id: int
    business_account_id: str
    field: str
    value: dict[str, Any]


AccountHandler = Callable[[AccountChange], None]

_handlers: dict[str, AccountHandler] = {}


def register(field: str, handler: AccountHandler) -> None:
    """Make ``handler`` apply the changes of ``field`` (modules register at import, from ready())."""
    _handlers[field] = handler


def handler_for(field: str) -> AccountHandler | None:
    return _handlers.get(field)


def business_account_ids(payload: dict[str, Any]) -> set[str]:
    """The WABA ids (``entry[].id``) of the entries that carry an account-level change."""
    return {waba_id for waba_id, _field, _value in account_changes(payload)}


def account_changes(payload: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """``(waba id, field, value)`` of every change that names no phone number."""
    entries = payload.get("entry")
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or not entry.get("id"):
            continue
        changes = entry.get("changes")
        for change in changes if isinstance(changes, list) else []:
            if not isinstance(change, dict) or not isinstance(change.get("value"), dict):
                continue
            value = change["value"]
            metadata = value.get("metadata")
            if isinstance(metadata, dict) and metadata.get("phone_number_id"):
                continue  # a number's change: the message path's
            yield str(entry["id"]), str(change.get("field", "")), value


def changes_apply(*, tenant_id: int, business_account_ids: set[str], payload: dict[str, Any]) -> None:
    """Apply the account-level changes of a stored delivery for the tenant's own WABAs. Raises
    the first handler error after trying every change (the processing task retries; handlers
    are idempotent: they set values, they do not count)."""
    first_error: Exception | None = None
    for waba_id, field, value in account_changes(payload):
        if waba_id not in business_account_ids:
            continue
        handler = _handlers.get(field)
        if handler is None:
            if field not in DOCUMENTED_FIELDS:
                logger.info("WhatsApp account webhook field %r is not one Meta documents; kept", field)
            continue
        try:
            handler(AccountChange(tenant_id=tenant_id, business_account_id=waba_id, field=field, value=value))
        except Exception as exc:
            logger.exception("WhatsApp account webhook %s for %s failed", field, waba_id)
            first_error = first_error or exc
    if first_error is not None:
        raise first_error
