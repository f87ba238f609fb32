"""Meta's webhook payloads → plain values PyTake stores. Pure functions, no database.

Every kind of inbound message maps to a PyTake message type and a ``content`` dict; a kind
PyTake does not know is kept whole as ``unsupported``, never dropped. ``content["wa_type"]`` is
always Meta's own type name and ``content["raw"]`` the message exactly as received.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from conversations.models import MessageStatus, MessageType, SenderType

MEDIA_KINDS = {"image", "audio", "video", "document", "sticker"}

# Meta status name → PyTake status. "played" (a voice message was listened to) implies read.
STATUS_MAP: dict[str, str] = {
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "read": MessageStatus.READ,
    "played": MessageStatus.READ,
    "failed": MessageStatus.FAILED,
}


class PayloadError(ValueError):
    """The body is JSON but not a WhatsApp Business Account webhook."""


@dataclass
class InboundMessage:
    phone_number_id: str
    wa_id: str
    profile_name: str
    wamid: str
    timestamp: dt.datetime
    message_type: str
    sender_type: str
    content: dict[str, Any]


@dataclass
class StatusUpdate:
    phone_number_id: str
    wamid: str
    raw_status: str
    status: str | None  # None: a status PyTake does not know (kept, not applied)
    timestamp: dt.datetime
    recipient_id: str
    errors: list[dict[str, Any]] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    callback_data: str = ""  # biz_opaque_callback_data, as sent with the message

    @property
    def error_code(self) -> int | None:
        code = self.errors[0].get("code") if self.errors else None
        return code if isinstance(code, int) else None

    @property
    def error_title(self) -> str:
        if not self.errors:
            return ""
        first = self.errors[0]
        return str(first.get("title") or first.get("message") or "")


def parse_timestamp(value: Any) -> dt.datetime:
    """Meta sends Unix seconds as a string. A missing or bad one falls back to now."""
    try:
        return dt.datetime.fromtimestamp(int(str(value)), tz=dt.UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return dt.datetime.now(tz=dt.UTC)


def phone_number_ids(payload: Any) -> set[str]:
    """Every ``metadata.phone_number_id`` named in the payload (used to find the signing account)."""
    if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
        raise PayloadError("Not a WhatsApp Business Account webhook (object must be whatsapp_business_account).")
    entries = payload.get("entry")
    if not isinstance(entries, list):
        raise PayloadError("The webhook has no entry list.")
    found: set[str] = set()
    for _field, value in _changes(payload):
        metadata = value.get("metadata")
        if isinstance(metadata, dict) and metadata.get("phone_number_id"):
            found.add(str(metadata["phone_number_id"]))
    return found


def _changes(payload: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for entry in _list(payload.get("entry")):
        if not isinstance(entry, dict):
            continue
        for change in _list(entry.get("changes")):
            if isinstance(change, dict) and isinstance(change.get("value"), dict):
                yield str(change.get("field", "")), change["value"]


def iter_updates(payload: dict[str, Any]) -> Iterator[InboundMessage | StatusUpdate]:
    """Every message and every status of every change of every entry, in payload order."""
    for field_name, value in _changes(payload):
        if field_name != "messages":
            continue  # account_update, templates, …: acknowledged, nothing to store
        phone_number_id = str(_dict(value.get("metadata")).get("phone_number_id", ""))
        names: dict[str, str] = {}
        for contact in _list(value.get("contacts")):
            if isinstance(contact, dict) and contact.get("wa_id"):
                names[str(contact["wa_id"])] = str(_dict(contact.get("profile")).get("name", ""))
        for message in _list(value.get("messages")):
            if isinstance(message, dict) and message.get("id") and message.get("from"):
                yield parse_message(phone_number_id, message, names.get(str(message["from"]), ""))
        for status in _list(value.get("statuses")):
            if isinstance(status, dict) and status.get("id") and status.get("status"):
                yield parse_status(phone_number_id, status)


def parse_status(phone_number_id: str, status: dict[str, Any]) -> StatusUpdate:
    raw_status = str(status["status"])
    errors = [e for e in _list(status.get("errors")) if isinstance(e, dict)]
    return StatusUpdate(
        phone_number_id=phone_number_id,
        wamid=str(status["id"]),
        raw_status=raw_status,
        status=STATUS_MAP.get(raw_status),
        timestamp=parse_timestamp(status.get("timestamp")),
        recipient_id=str(status.get("recipient_id", "")),
        errors=errors,
        raw=status,
        callback_data=str(status.get("biz_opaque_callback_data") or ""),
    )


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    """A list from the payload, or none: Meta's shape is not a promise (found by hypothesis)."""
    return value if isinstance(value, list) else []


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def parse_message(phone_number_id: str, message: dict[str, Any], profile_name: str) -> InboundMessage:
    wa_type = str(message.get("type", "unknown"))
    found = message.get(wa_type)
    body: dict[str, Any] = found if isinstance(found, dict) else {}
    content: dict[str, Any] = {"wa_type": wa_type}
    message_type: str = MessageType.UNSUPPORTED
    sender_type: str = SenderType.CONTACT

    if wa_type == "text":
        message_type = MessageType.TEXT
        content["text"] = _text(body.get("body"))
    elif wa_type in MEDIA_KINDS:
        message_type = wa_type
        content["media"] = {
            "id": str(body.get("id", "")),
            "mime_type": _text(body.get("mime_type")),
            "sha256": _text(body.get("sha256")),
            "filename": _text(body.get("filename")),
            "animated": bool(body.get("animated", False)),
            "voice": bool(body.get("voice", False)),
        }
        if _text(body.get("caption")):
            content["caption"] = body["caption"]
    elif wa_type == "location":
        message_type = MessageType.LOCATION
        content["location"] = {k: body.get(k) for k in ("latitude", "longitude", "name", "address", "url") if k in body}
        content["text"] = " — ".join(p for p in (_text(body.get("name")), _text(body.get("address"))) if p)
    elif wa_type == "contacts":
        message_type = MessageType.CONTACTS
        cards = [c for c in _list(message.get("contacts")) if isinstance(c, dict)]
        content["contacts"] = cards
        names = [_text((c.get("name") or {}).get("formatted_name")) for c in cards if isinstance(c.get("name"), dict)]
        content["text"] = ", ".join(n for n in names if n)
    elif wa_type == "interactive":
        message_type = MessageType.INTERACTIVE
        kind = _text(body.get("type"))
        found_reply = body.get(kind)
        reply: dict[str, Any] = found_reply if isinstance(found_reply, dict) else {}
        content["reply"] = {"type": kind, **reply}
        content["text"] = _text(reply.get("title"))
    elif wa_type == "button":
        # A tap on a quick-reply button of a template message.
        message_type = MessageType.INTERACTIVE
        content["reply"] = {"type": "button", "payload": _text(body.get("payload")), "title": _text(body.get("text"))}
        content["text"] = _text(body.get("text"))
    elif wa_type == "reaction":
        message_type = MessageType.REACTION
        content["reaction"] = {"message_id": _text(body.get("message_id")), "emoji": _text(body.get("emoji"))}
        content["text"] = _text(body.get("emoji"))  # empty emoji: the customer removed the reaction
    elif wa_type == "order":
        items = [i for i in _list(body.get("product_items")) if isinstance(i, dict)]
        content["order"] = body
        content["text"] = f"Order: {len(items)} item(s)" + (f" — {body['text']}" if _text(body.get("text")) else "")
    elif wa_type == "system":
        message_type = MessageType.TEXT
        sender_type = SenderType.SYSTEM
        content["text"] = _text(body.get("body"))
        content["system"] = body
    else:  # "unsupported", "unknown", and any type Meta adds later
        content["errors"] = message.get("errors") or []
        content["text"] = ""

    if isinstance(message.get("context"), dict):
        content["context"] = message["context"]
    if isinstance(message.get("referral"), dict):
        content["referral"] = message["referral"]
    content["raw"] = message
    return InboundMessage(
        phone_number_id=phone_number_id,
        wa_id=str(message["from"]),
        profile_name=profile_name,
        wamid=str(message["id"]),
        timestamp=parse_timestamp(message.get("timestamp")),
        message_type=message_type,
        sender_type=sender_type,
        content=content,
    )
