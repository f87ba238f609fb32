"""Meta's webhook payloads → plain values PyTake stores. Pure functions, no database.

Every kind of inbound message maps to a PyTake message type and a ``content`` dict; a kind
PyTake does not know is kept whole as ``unsupported``, never dropped. ``content["wa_type"]`` is
always Meta's own type name and ``content["raw"]`` the message exactly as received.
"""

from __future__ import annotations

import datetime as dt
import json
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
    """One message of a ``messages`` change (or, with ``echo``, of ``smb_message_echoes``: one the
    business sent from the WhatsApp Business app). The customer is named by ``wa_id`` (the phone
    number), ``user_id`` (Meta's business-scoped user id) or both: a customer with a username may
    hide their number, and then only ``user_id`` is sent."""

    phone_number_id: str
    wa_id: str
    profile_name: str
    wamid: str
    timestamp: dt.datetime
    message_type: str
    sender_type: str
    content: dict[str, Any]
    user_id: str = ""
    username: str = ""
    echo: bool = False
    group_id: str = ""  # a message in a WhatsApp group: not one-to-one, kept out of conversations

    @property
    def wa_type(self) -> str:
        return str(self.content.get("wa_type", ""))

    @property
    def target_wamid(self) -> str:
        """The message a reaction, edit or revoke is about (empty for any other kind)."""
        return str(self.content.get("target_wamid", ""))


@dataclass
class PreferenceUpdate:
    """A customer's marketing preference (``user_preferences``): ``stop`` or ``resume``."""

    phone_number_id: str
    wa_id: str
    user_id: str
    category: str
    value: str
    timestamp: dt.datetime
    raw: dict[str, Any] = field(default_factory=dict)


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


Update = InboundMessage | StatusUpdate | PreferenceUpdate


@dataclass
class _Sender:
    wa_id: str = ""
    user_id: str = ""
    name: str = ""
    username: str = ""


def _senders(value: dict[str, Any]) -> list[_Sender]:
    """The ``contacts`` of a change: who sent its messages, by phone number and/or user id."""
    found = []
    for contact in _list(value.get("contacts")):
        if isinstance(contact, dict):
            profile = _dict(contact.get("profile"))
            found.append(
                _Sender(
                    wa_id=_text(contact.get("wa_id")),
                    user_id=_text(contact.get("user_id")),
                    name=_text(profile.get("name")),
                    username=_text(profile.get("username")),
                )
            )
    return found


def _sender_of(message: dict[str, Any], senders: list[_Sender]) -> _Sender:
    """The sender of ``message``: its ``from`` (phone) and ``from_user_id`` (BSUID), completed
    from the change's ``contacts`` entry that names either (or the only entry, when one does)."""
    wa_id = _text(message.get("from"))
    user_id = _text(message.get("from_user_id"))
    match = next(
        (s for s in senders if (wa_id and s.wa_id == wa_id) or (user_id and s.user_id == user_id)),
        senders[0] if len(senders) == 1 and not (wa_id and senders[0].wa_id and senders[0].wa_id != wa_id) else None,
    )
    if match is None:
        return _Sender(wa_id=wa_id, user_id=user_id)
    return _Sender(
        wa_id=wa_id or match.wa_id, user_id=user_id or match.user_id, name=match.name, username=match.username
    )


def iter_updates(payload: dict[str, Any]) -> Iterator[Update]:
    """Every message, status and preference change of every change of every entry, in payload
    order. A message naming its sender by neither phone number nor user id has nobody to be filed
    under: it is skipped (the raw delivery is kept)."""
    for field_name, value in _changes(payload):
        phone_number_id = str(_dict(value.get("metadata")).get("phone_number_id", ""))
        if field_name == "messages":
            senders = _senders(value)
            for message in _list(value.get("messages")):
                if not isinstance(message, dict) or not message.get("id"):
                    continue
                sender = _sender_of(message, senders)
                if sender.wa_id or sender.user_id:
                    yield parse_message(phone_number_id, message, sender.name, sender=sender)
            for status in _list(value.get("statuses")):
                if isinstance(status, dict) and status.get("id") and status.get("status"):
                    yield parse_status(phone_number_id, status)
        elif field_name == "smb_message_echoes":
            for echo in _list(value.get("message_echoes")):
                if isinstance(echo, dict) and echo.get("id") and (echo.get("to") or echo.get("to_user_id")):
                    sender = _Sender(wa_id=_text(echo.get("to")), user_id=_text(echo.get("to_user_id")))
                    parsed = parse_message(phone_number_id, echo, "", sender=sender)
                    parsed.echo = True
                    yield parsed
        elif field_name == "user_preferences":
            for pref in _list(value.get("user_preferences")):
                if isinstance(pref, dict) and (pref.get("wa_id") or pref.get("user_id")):
                    yield PreferenceUpdate(
                        phone_number_id=phone_number_id,
                        wa_id=_text(pref.get("wa_id")),
                        user_id=_text(pref.get("user_id")),
                        category=_text(pref.get("category")),
                        value=_text(pref.get("value")),
                        timestamp=parse_timestamp(pref.get("timestamp")),
                        raw=pref,
                    )
        # Any other field (account_update, templates, …) is the business account's, not a message's.


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


def _order(body: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """An order's items and total (quantity × item_price, in its currency), and its one-line text."""
    items = []
    total = 0.0
    currencies = set()
    for item in _list(body.get("product_items")):
        if not isinstance(item, dict):
            continue
        try:
            quantity = int(item.get("quantity") or 0)
            price = float(item.get("item_price") or 0)
        except (TypeError, ValueError):
            quantity, price = 0, 0.0
        currency = _text(item.get("currency"))
        currencies.add(currency)
        total += quantity * price
        items.append(
            {
                "product_retailer_id": _text(item.get("product_retailer_id")),
                "quantity": quantity,
                "item_price": price,
                "currency": currency,
            }
        )
    currency = currencies.pop() if len(currencies) == 1 else ""
    order = {
        "catalog_id": _text(body.get("catalog_id")),
        "text": _text(body.get("text")),
        "items": items,
        "total": round(total, 2),
        "currency": currency,
    }
    text = f"Order: {len(items)} item(s), {order['total']:.2f} {currency}".rstrip()
    if order["text"]:
        text += f" — {order['text']}"
    return order, text


def _flow_fields(reply: dict[str, Any]) -> dict[str, Any]:
    """The fields a customer filled in a WhatsApp Flow (``nfm_reply.response_json``, a JSON string)."""
    raw = reply.get("response_json")
    try:
        found = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        found = None
    fields = found if isinstance(found, dict) else {}
    return {str(k): v for k, v in fields.items() if k != "flow_token"}


def _edited(body: dict[str, Any]) -> tuple[str, str]:
    """The new text of an ``edit`` (``edit.message`` is the message as it reads now) and its caption."""
    inner = _dict(body.get("message"))
    kind = _text(inner.get("type"))
    part = _dict(inner.get(kind)) if kind else {}
    text = _text(part.get("body")) or _text(_dict(inner.get("text")).get("body")) or _text(body.get("text"))
    return text, _text(part.get("caption"))


def parse_message(
    phone_number_id: str, message: dict[str, Any], profile_name: str, *, sender: _Sender | None = None
) -> InboundMessage:
    sender = sender or _Sender(wa_id=_text(message.get("from")), user_id=_text(message.get("from_user_id")))
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
        if kind == "nfm_reply":  # a WhatsApp Flow's answers
            content["flow"] = {"name": _text(reply.get("name")), "fields": _flow_fields(reply)}
            content["text"] = _text(reply.get("body")) or "Form sent"
    elif wa_type == "button":
        # A tap on a quick-reply button of a template message.
        message_type = MessageType.INTERACTIVE
        content["reply"] = {"type": "button", "payload": _text(body.get("payload")), "title": _text(body.get("text"))}
        content["text"] = _text(body.get("text"))
    elif wa_type == "reaction":
        message_type = MessageType.REACTION
        content["reaction"] = {"message_id": _text(body.get("message_id")), "emoji": _text(body.get("emoji"))}
        content["text"] = _text(body.get("emoji"))  # empty emoji: the customer removed the reaction
        content["target_wamid"] = _text(body.get("message_id"))
    elif wa_type == "order":
        message_type = MessageType.ORDER
        content["order"], content["text"] = _order(body)
    elif wa_type in ("edit", "revoke"):
        # Not messages of their own: they change the message they name (whatsapp.inbound).
        content["target_wamid"] = _text(body.get("original_message_id"))
        if wa_type == "edit":
            content["text"], caption = _edited(body)
            if caption:
                content["caption"] = caption
        else:
            content["text"] = ""
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
        wa_id=sender.wa_id,
        user_id=sender.user_id,
        username=sender.username,
        group_id=_text(message.get("group_id")),
        profile_name=profile_name,
        wamid=str(message["id"]),
        timestamp=parse_timestamp(message.get("timestamp")),
        message_type=message_type,
        sender_type=sender_type,
        content=content,
    )
