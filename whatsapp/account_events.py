"""What Meta's account webhooks say of the tenant's numbers: the business account's standing
(violations, restrictions, disabling), a number's quality and messaging limit, its display-name
review. Each is stored on the numbers it concerns and told to the tenant's admins as an
``account.alert``; only Meta disabling the account stops sending (the number's messages wait,
as for an account-wide send error, until an admin clears the block)."""

from __future__ import annotations

import logging
import re
from typing import Any

from django.db import transaction
from django.utils import timezone

from conversations.models import WhatsAppAccount
from whatsapp import account_health, account_webhooks
from whatsapp.account_webhooks import AccountChange

logger = logging.getLogger(__name__)

# account_update events that say nothing an admin of the inbox acts on (partners, pricing,
# the business's country): kept as the stored delivery only.
_ACCOUNT_EVENTS_SHOWN = frozenset(
    {"ACCOUNT_VIOLATION", "ACCOUNT_RESTRICTION", "DISABLED_UPDATE", "ACCOUNT_BANNED", "ACCOUNT_DELETED"}
)
# Ban states of DISABLED_UPDATE, and events, after which the account cannot send at all.
_SENDING_DISABLED_EVENTS = frozenset({"ACCOUNT_BANNED", "ACCOUNT_DELETED"})
_SENDING_DISABLED_BAN_STATES = frozenset({"DISABLE"})


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _digits(number: str) -> str:
    return re.sub(r"\D", "", number)


def _numbers(change: AccountChange, *, named: Any = None) -> list[WhatsAppAccount]:
    """The tenant's numbers of the change's business account, locked; only the one Meta names
    when it names one (by its display number, compared digit by digit)."""
    rows = list(
        WhatsAppAccount.objects.select_for_update()
        .filter(tenant_id=change.tenant_id, business_account_id=change.business_account_id)
        .order_by("pk")
    )
    wanted = _digits(_text(named))
    if wanted:
        rows = [row for row in rows if _digits(row.display_phone_number) == wanted]
        if not rows:
            logger.info("WhatsApp %s names number %s, not one of this tenant's", change.field, wanted)
    return rows


def _store_and_alert(rows: list[WhatsAppAccount], fields: dict[str, Any], title: str) -> None:
    now = timezone.now()
    for row in rows:
        for name, value in fields.items():
            setattr(row, name, value)
        row.last_account_event_at = now
        row.save(update_fields=[*fields, "last_account_event_at"])
        account_health.account_alert(row, title=title)


def _account_update_summary(value: dict[str, Any]) -> tuple[str, str, bool]:
    """``(status, detail, sending disabled)`` of an account_update event."""
    event = _text(value.get("event")).upper()
    if event == "ACCOUNT_VIOLATION":
        info = value.get("violation_info")
        kind = _text(info.get("violation_type")) if isinstance(info, dict) else ""
        return event, kind or "policy violation", False
    if event == "ACCOUNT_RESTRICTION":
        restrictions = value.get("restriction_info")
        parts = []
        for item in restrictions if isinstance(restrictions, list) else []:
            if isinstance(item, dict) and item.get("restriction_type"):
                until = _text(item.get("expiration"))
                parts.append(_text(item["restriction_type"]) + (f" until {until}" if until else ""))
        return event, ", ".join(parts) or "restricted", False
    if event == "DISABLED_UPDATE":
        info = value.get("ban_info")
        state = _text(info.get("waba_ban_state")).upper() if isinstance(info, dict) else ""
        date = _text(info.get("waba_ban_date")) if isinstance(info, dict) else ""
        return f"{event} {state}".strip(), date, state in _SENDING_DISABLED_BAN_STATES
    return event, "", event in _SENDING_DISABLED_EVENTS


_ACCOUNT_TITLES = {
    "ACCOUNT_VIOLATION": "WhatsApp reports a policy violation by the business account",
    "ACCOUNT_RESTRICTION": "WhatsApp restricted the business account",
    "DISABLED_UPDATE DISABLE": "WhatsApp disabled the business account: it cannot send",
    "DISABLED_UPDATE SCHEDULE_FOR_DISABLE": "WhatsApp will disable the business account",
    "DISABLED_UPDATE REINSTATE": "WhatsApp reinstated the business account",
    "ACCOUNT_BANNED": "WhatsApp banned the business account: it cannot send",
    "ACCOUNT_DELETED": "The WhatsApp business account was deleted: it cannot send",
}


def account_updated(change: AccountChange) -> None:
    """``account_update``: a violation, a restriction, disabling (or its reinstatement), a ban."""
    event = _text(change.value.get("event")).upper()
    if event not in _ACCOUNT_EVENTS_SHOWN:
        return
    status, detail, disabled = _account_update_summary(change.value)
    title = _ACCOUNT_TITLES.get(status, f"WhatsApp business account: {status}")
    if detail:
        title = f"{title} ({detail})"
    with transaction.atomic():
        rows = _numbers(change)
        fields = {"account_status": status[:64], "account_status_detail": detail[:255]}
        if not disabled:
            _store_and_alert(rows, fields, title)
            return
        now = timezone.now()
        for row in rows:
            WhatsAppAccount.objects.filter(pk=row.pk).update(**fields, last_account_event_at=now)
            if not account_health.account_sending_block(account_id=row.pk, code=None, title=title):
                row.refresh_from_db()
                account_health.account_alert(row, title=title)  # already stopped: still told


def number_quality_updated(change: AccountChange) -> None:
    """``phone_number_quality_update``: the number was flagged for low quality (or no longer),
    or its messaging limit went up or down."""
    value = change.value
    event = _text(value.get("event")).upper()
    limit = _text(value.get("current_limit") or value.get("max_daily_conversations_per_business")).upper()
    with transaction.atomic():
        rows = _numbers(change, named=value.get("display_phone_number"))
        fields: dict[str, Any] = {"quality_event": event[:32]}
        if limit:
            fields["messaging_limit"] = limit[:32]
        title = {
            "FLAGGED": "WhatsApp flagged the number for low quality: its messaging limit may go down",
            "UNFLAGGED": "WhatsApp no longer flags the number for low quality",
            "UPGRADE": "WhatsApp raised the number's messaging limit",
            "DOWNGRADE": "WhatsApp lowered the number's messaging limit",
        }.get(event, f"WhatsApp quality update: {event or 'unknown'}")
        if limit:
            title = f"{title} (limit {limit})"
        _store_and_alert(rows, fields, title)


def number_name_updated(change: AccountChange) -> None:
    """``phone_number_name_update``: Meta's review of the number's display name."""
    value = change.value
    decision = _text(value.get("decision")).upper()
    name = _text(value.get("requested_verified_name"))
    reason = _text(value.get("rejection_reason"))
    reason = "" if reason.upper() in {"NONE", "NULL"} else reason
    with transaction.atomic():
        rows = _numbers(change, named=value.get("display_phone_number"))
        fields = {"name_status": decision[:16], "requested_name": name[:200], "name_rejection_reason": reason[:64]}
        title = {
            "APPROVED": f"WhatsApp approved the display name “{name}”",
            "REJECTED": f"WhatsApp rejected the display name “{name}”",
            "DEFERRED": f"WhatsApp deferred its decision on the display name “{name}”",
            "PENDING": f"WhatsApp is still reviewing the display name “{name}”",
        }.get(decision, f"WhatsApp display name “{name}”: {decision or 'unknown'}")
        if reason:
            title = f"{title} ({reason})"
        _store_and_alert(rows, fields, title)


account_webhooks.register("account_update", account_updated)
account_webhooks.register("phone_number_quality_update", number_quality_updated)
account_webhooks.register("phone_number_name_update", number_name_updated)
