"""The built-in WhatsApp Cloud API simulator: Meta's side of the conversation, for development,
demos and tests, with no Meta account.

It answers the Graph API calls PyTake makes (send messages, mark read, typing indicator, media),
with Meta's response and error shapes, then calls PyTake's webhook with correctly signed status
callbacks (sent, delivered, read) from a background thread, never inside the request. The
"phone" page lets a person play the customer; what the customer sends reaches PyTake as a signed
webhook, exactly as Meta would deliver it.

It signs with the app secret stored on the WhatsAppAccount: it plays Meta, which knows it. It
must not be reachable in production: anyone who can reach it can write to any number as any
customer. So it is an app of its own, installed only when ``PYTAKE_SIMULATOR`` is on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from conversations.models import WhatsAppAccount
from pytake.scheduler import Scheduler
from realtime.events import send_to_groups
from simulator import sim_templates
from simulator.models import FaultKind, SimDirection, SimulatedMedia, SimulatedMessage, SimulatorFault
from whatsapp.services import signature_for

logger = logging.getLogger(__name__)

SENDABLE_TYPES = {
    "text",
    "image",
    "audio",
    "video",
    "document",
    "sticker",
    "template",
    "reaction",
    "interactive",
    "location",
    "contacts",
}


def phone_group(phone_number_id: str, wa_id: str) -> str:
    """Channels group of one simulated phone (digits only, so always a valid group name)."""
    return f"simphone.{''.join(c for c in phone_number_id if c.isdigit())}.{''.join(c for c in wa_id if c.isdigit())}"


def new_wamid() -> str:
    return "wamid." + secrets.token_urlsafe(30).replace("-", "A").replace("_", "B")


# --- Background scheduler -------------------------------------------------------------------------


scheduler = Scheduler("whatsapp-simulator")


# --- Webhook delivery (simulator → PyTake) --------------------------------------------------------


def graph_base_url() -> str:
    """The simulator's Graph API root on this server (``PYTAKE_PUBLIC_URL``)."""
    return str(settings.PYTAKE_PUBLIC_URL).rstrip("/") + "/simulator/graph"


def webhook_url() -> str:
    configured = str(settings.WHATSAPP_SIMULATOR_WEBHOOK_URL)
    return configured or str(settings.PYTAKE_PUBLIC_URL).rstrip("/") + "/webhooks/whatsapp/"


def envelope(account: WhatsAppAccount, value: dict[str, Any]) -> dict[str, Any]:
    """Meta's webhook envelope around one ``messages`` change."""
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": account.business_account_id or "0",
                "changes": [
                    {
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "".join(c for c in account.display_phone_number if c.isdigit()),
                                "phone_number_id": account.phone_number_id,
                            },
                            **value,
                        },
                        "field": "messages",
                    }
                ],
            }
        ],
    }


def deliver_webhook(phone_number_id: str, value: dict[str, Any], attempt: int = 0) -> None:
    """POST a signed webhook to PyTake (runs on the scheduler thread). Retries like Meta does,
    a few times with growing delays, when PyTake does not answer 200."""
    account = WhatsAppAccount.objects.filter(phone_number_id=phone_number_id).first()
    if account is None:
        return
    body = json.dumps(envelope(account, value), separators=(",", ":")).encode()
    try:
        response = httpx.post(
            webhook_url(),
            content=body,
            headers={
                "Content-Type": "application/json",
                "X-Hub-Signature-256": signature_for(body, account.app_secret),
            },
            timeout=10,
        )
        ok = response.status_code == 200
        reason = f"HTTP {response.status_code}"
    except httpx.HTTPError as exc:
        ok, reason = False, str(exc)
    if not ok:
        if attempt + 1 < int(settings.WHATSAPP_SIMULATOR_REDELIVERY_ATTEMPTS):
            scheduler.schedule(redelivery_delay(attempt), lambda: deliver_webhook(phone_number_id, value, attempt + 1))
        logger.warning("simulator: webhook to %s failed (%s), attempt %s", webhook_url(), reason, attempt + 1)


def redelivery_delay(attempt: int) -> float:
    """Seconds before delivery ``attempt + 1``: Meta keeps retrying a failing webhook, less and
    less often, for days; here the back-off doubles from half a second up to
    ``WHATSAPP_SIMULATOR_REDELIVERY_MAX_DELAY`` (so a PyTake down for minutes still gets it)."""
    return min(0.5 * 2**attempt, float(settings.WHATSAPP_SIMULATOR_REDELIVERY_MAX_DELAY))


def deliver_batch(phone_number_id: str, values: list[dict[str, Any]]) -> None:
    """Several changes for numbers of one business in one POST, as Meta batches under load: each
    ``value`` is a ``messages`` change (``{"phone_number_id": …, "messages"/"statuses"/…}``; a
    value naming another number of the business becomes its own change)."""
    account = WhatsAppAccount.objects.filter(phone_number_id=phone_number_id).first()
    if account is None:
        return
    changes = []
    for value in values:
        number = str(value.get("phone_number_id") or phone_number_id)
        target = WhatsAppAccount.objects.filter(phone_number_id=number).first() or account
        inner = {k: v for k, v in value.items() if k != "phone_number_id"}
        changes.append(envelope(target, inner)["entry"][0]["changes"][0])
    payload = envelope(account, {})
    payload["entry"][0]["changes"] = changes
    _post_signed(account, payload)


def _post_signed(account: WhatsAppAccount, payload: dict[str, Any]) -> bool:
    """POST ``payload`` signed with the account's app secret; whether PyTake answered 200."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    try:
        response = httpx.post(
            webhook_url(),
            content=body,
            headers={
                "Content-Type": "application/json",
                "X-Hub-Signature-256": signature_for(body, account.app_secret),
            },
            timeout=10,
        )
    except httpx.HTTPError as exc:
        logger.warning("simulator: webhook to %s failed (%s)", webhook_url(), exc)
        return False
    return response.status_code == 200


def deliver_account_webhook(business_account_id: str, field: str, value: dict[str, Any], attempt: int = 0) -> None:
    """POST a signed webhook about a business account as a whole (runs on the scheduler thread),
    signed with the app secret of a number of that account; redelivered like the others."""
    account = WhatsAppAccount.objects.filter(business_account_id=business_account_id, is_active=True).first()
    if account is None:
        return
    if not _post_signed(account, sim_templates.account_envelope(business_account_id, field, value)):
        if attempt + 1 < int(settings.WHATSAPP_SIMULATOR_REDELIVERY_ATTEMPTS):
            scheduler.schedule(
                redelivery_delay(attempt),
                lambda: deliver_account_webhook(business_account_id, field, value, attempt + 1),
            )
        logger.warning("simulator: account webhook %s not taken, attempt %s", field, attempt + 1)


def template_status_change(*, phone_number_id: str, template_id: int, status: str, reason: str = "") -> dict[str, Any]:
    """The phone page's operator control: a template's new status, told to PyTake by webhook."""
    template, waba, value = sim_templates.template_status_set(
        phone_number_id=phone_number_id, template_id=template_id, status=status, reason=reason
    )
    if waba:
        scheduler.schedule(0, lambda: deliver_account_webhook(waba, "message_template_status_update", value))
    return {"id": template.pk, "name": template.name, "language": template.language, "status": template.status}


def publish(phone_number_id: str, wa_id: str, frame_type: str, data: dict[str, Any]) -> None:
    """Push a frame to the phone page(s) of one customer, from sync code. Best effort: a failure
    is logged, never raised (the phone page is a convenience, not the API call's outcome)."""
    send_to_groups(
        [phone_group(phone_number_id, wa_id)], {"type": "simulator.frame", "frame": {"type": frame_type, "data": data}}
    )


def sim_message_data(message: SimulatedMessage) -> dict[str, Any]:
    body = message.body if isinstance(message.body, dict) else {}
    media_id = str(body.get("id") or "") if message.type in MEDIA_KINDS else ""
    return {
        "wamid": message.wamid,
        "direction": message.direction,
        "type": message.type,
        "body": message.body,
        "status": message.status,
        "created_at": message.created_at.isoformat(),
        # A template as the customer reads it, its parameters filled in.
        "text": sim_templates.rendered_text(message.phone_number_id, body) if message.type == "template" else None,
        # The phone shows its files (both ways) from the simulator's own store.
        "media_url": f"/simulator/phone/api/media/{media_id}" if media_id else None,
    }


MEDIA_KINDS = frozenset({"image", "audio", "video", "document", "sticker"})


# --- Graph API: errors and faults -----------------------------------------------------------------


@dataclass
class GraphAnswer:
    status: int
    body: dict[str, Any]


def graph_error(http_status: int, code: int, message: str, details: str = "", **extra: Any) -> GraphAnswer:
    error: dict[str, Any] = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": secrets.token_urlsafe(12),
    }
    if details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    error.update(extra)
    return GraphAnswer(http_status, {"error": error})


def _fault_answer(kind: str) -> GraphAnswer:
    if kind == FaultKind.SERVER_ERROR:
        return graph_error(
            500, 2, "An unexpected error has occurred. Please retry your request later.", is_transient=True
        )
    if kind == FaultKind.RATE_LIMIT:
        return graph_error(429, 130429, "Rate limit hit", "Cloud API message throughput has been reached.")
    return graph_error(
        400,
        131047,
        "Re-engagement message",
        "Message failed to send because more than 24 hours have passed since the customer last replied "
        "to this number. Send a message template instead.",
        error_user_title="Re-engagement message",
    )


def _take_fault(phone_number_id: str, wa_id: str) -> str | None:
    """Consume one armed fault matching this request, if any (atomically, across processes)."""
    with transaction.atomic():
        fault = (
            SimulatorFault.objects.select_for_update()
            .filter(remaining__gt=0, phone_number_id__in=["", phone_number_id], wa_id__in=["", wa_id])
            .order_by("created_at", "pk")
            .first()
        )
        if fault is None:
            return None
        fault.remaining -= 1
        if fault.remaining:
            fault.save(update_fields=["remaining"])
        else:
            fault.delete()
        return fault.kind


def authenticate(phone_number_id: str, authorization: str | None) -> WhatsAppAccount | GraphAnswer:
    token = (authorization or "").removeprefix("Bearer ").strip()
    if not token:
        return graph_error(401, 190, "An active access token must be used to query information about the current user.")
    account = WhatsAppAccount.objects.filter(phone_number_id=phone_number_id).first()
    if account is None:
        return graph_error(
            400,
            100,
            f"Unsupported post request. Object with ID '{phone_number_id}' does not exist, cannot be "
            "loaded due to missing permissions, or does not support this operation.",
            error_subcode=33,
        )
    if not secrets.compare_digest(token.encode(), (account.access_token or "").encode()):
        return graph_error(401, 190, "Error validating access token: The access token is invalid.")
    return account


# --- Graph API: POST /<version>/<phone_number_id>/messages ----------------------------------------


def _status_delays() -> list[float | None]:
    """Seconds after acceptance for sent, delivered, read; a blank entry skips that callback."""
    parts = [p.strip() for p in str(settings.WHATSAPP_SIMULATOR_STATUS_DELAYS).split(",")]
    delays: list[float | None] = [float(p) if p else None for p in parts[:3]]
    return delays + [None] * (3 - len(delays))


def status_plan(delays: list[float | None], *, chaos: float | None = None) -> list[tuple[float, str]]:
    """When each status callback goes: ``(delay, status)``. With ``WHATSAPP_SIMULATOR_STATUS_CHAOS``
    (a probability), as Meta does under load: a status may be skipped (``delivered`` when the
    customer reads at once), sent twice, or arrive before an earlier one."""
    plan = [(d, s) for d, s in zip(delays, ("sent", "delivered", "read"), strict=True) if d is not None]
    rate = float(settings.WHATSAPP_SIMULATOR_STATUS_CHAOS if chaos is None else chaos)
    if rate <= 0 or not plan:
        return plan
    rng = random.Random()
    shuffled: list[tuple[float, str]] = []
    for delay, status in plan:
        roll = rng.random()
        if status == "delivered" and roll < rate / 3:
            continue  # skipped
        shuffled.append((delay, status))
        if roll > 1 - rate / 3:
            shuffled.append((delay + 0.05, status))  # repeated
    if len(shuffled) > 1 and rng.random() < rate:
        (d1, s1), (d2, s2) = shuffled[-2], shuffled[-1]
        shuffled[-2], shuffled[-1] = (d1, s2), (d2, s1)  # the later status first
    return shuffled


def _status_value(wamid: str, wa_id: str, status: str, callback_data: str = "") -> dict[str, Any]:
    value: dict[str, Any] = {"id": wamid, "status": status, "timestamp": str(int(time.time())), "recipient_id": wa_id}
    if callback_data:  # Meta echoes the message's biz_opaque_callback_data in each of its statuses
        value["biz_opaque_callback_data"] = callback_data
    if status in ("sent", "delivered"):
        value["conversation"] = {"id": hashlib.md5(wa_id.encode()).hexdigest(), "origin": {"type": "service"}}
        value["pricing"] = {
            "billable": False,
            "pricing_model": "PMP",
            "category": "service",
            "type": "free_customer_service",
        }
    return {"statuses": [value]}


def _set_status_then_callback(phone_number_id: str, message: SimulatedMessage, status: str) -> None:
    SimulatedMessage.objects.filter(pk=message.pk).update(status=status)
    deliver_webhook(phone_number_id, _status_value(message.wamid, message.wa_id, status, message.callback_data))


def handle_messages_post(phone_number_id: str, authorization: str | None, raw: bytes) -> GraphAnswer:
    auth = authenticate(phone_number_id, authorization)
    if isinstance(auth, GraphAnswer):
        return auth
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        return graph_error(400, 100, "(#100) The request body is not valid JSON.")
    if not isinstance(body, dict) or body.get("messaging_product") != "whatsapp":
        return graph_error(400, 100, "(#100) The parameter messaging_product is required.")

    if body.get("status") == "read":
        return _mark_read(phone_number_id, body)

    to = "".join(c for c in str(body.get("to", "")) if c.isdigit())
    if not to and body.get("recipient"):
        to = wa_id_of_user(phone_number_id, str(body["recipient"])) or ""
        if not to:
            return graph_error(400, 100, "(#100) Invalid parameter", "No WhatsApp user has this business-scoped id.")
    kind = str(body.get("type") or "text")
    if not to:
        return graph_error(400, 100, "(#100) The parameter to is required.")
    if kind not in SENDABLE_TYPES or not isinstance(body.get(kind), dict):
        return graph_error(400, 100, f"(#100) Param {kind} must be a JSON object for type {kind}.")
    if kind == "text" and not str(body["text"].get("body", "")).strip():
        return graph_error(400, 100, "(#100) The parameter text['body'] is required.")
    if kind == "template" and not body["template"].get("name"):
        return graph_error(400, 100, "(#100) The parameter template['name'] is required.")
    if kind == "template":
        refused = sim_templates.template_send_error(auth, body["template"])
        if refused is not None:
            code, title, details = refused
            return graph_error(404 if code == 132001 else 400, code, f"(#{code}) {title}", details)

    fault = _take_fault(phone_number_id, to)
    if fault is None and random.random() < float(settings.WHATSAPP_SIMULATOR_FAILURE_RATE):
        fault = FaultKind.SERVER_ERROR
    if fault == FaultKind.OUTSIDE_WINDOW and kind == "template":
        fault = None  # templates are exactly what is allowed outside the window
    later_failure = ASYNC_FAULTS.get(fault) if fault is not None else None
    if later_failure is None and kind != "template" and sim_templates.window_closed(auth, to, timezone.now()):
        later_failure = 131047  # free-form outside the window: accepted, then failed, as Meta does
    if later_failure is not None:
        return _accept_then_fail(phone_number_id, to, kind, body, later_failure)
    if fault is not None and fault != FaultKind.ANSWER_LOST:
        return _fault_answer(fault)

    wamid = new_wamid()
    message = SimulatedMessage.objects.create(
        phone_number_id=phone_number_id,
        wa_id=to,
        direction=SimDirection.TO_CUSTOMER,
        wamid=wamid,
        type=kind,
        body=body[kind],
        status="accepted",
        callback_data=str(body.get("biz_opaque_callback_data") or "")[:512],
    )
    publish(phone_number_id, to, "message.new", sim_message_data(message))
    for delay, status in status_plan(_status_delays()):
        scheduler.schedule(delay, lambda s=status: _set_status_then_callback(phone_number_id, message, s))  # type: ignore[misc]
    if fault == FaultKind.ANSWER_LOST:
        # Sent, but the answer comes after the client has given up (it sees a read timeout):
        # only the statuses, which name the message in their callback data, tell it went out.
        time.sleep(float(settings.WHATSAPP_HTTP_TIMEOUT) + 1.0)
    return _accepted(body, to, wamid)


# Failures Meta reports in a ``failed`` status after accepting the message, not in the answer.
ASYNC_FAULTS: dict[str, int] = {
    FaultKind.OUTSIDE_WINDOW: 131047,
    FaultKind.MARKETING_LIMIT: 131049,
    FaultKind.UNDELIVERABLE: 131026,
}


def _accepted(body: dict[str, Any], to: str, wamid: str) -> GraphAnswer:
    return GraphAnswer(
        200,
        {
            "messaging_product": "whatsapp",
            "contacts": [{"input": str(body.get("to") or body.get("recipient")), "wa_id": to}],
            "messages": [{"id": wamid, "message_status": "accepted"}],
        },
    )


def _accept_then_fail(phone_number_id: str, to: str, kind: str, body: dict[str, Any], code: int) -> GraphAnswer:
    """Accept the message (a wamid), never show it on the phone, and send its ``failed`` status."""
    wamid = new_wamid()
    callback_data = str(body.get("biz_opaque_callback_data") or "")[:512]
    SimulatedMessage.objects.create(
        phone_number_id=phone_number_id,
        wa_id=to,
        direction=SimDirection.TO_CUSTOMER,
        wamid=wamid,
        type=kind,
        body=body[kind],
        status="failed",
        callback_data=callback_data,
    )
    value = sim_templates.failed_status(wamid, to, code, callback_data)
    delay = next((d for d in _status_delays() if d is not None), 0.5)
    scheduler.schedule(delay, lambda: deliver_webhook(phone_number_id, value))
    return _accepted(body, to, wamid)


def _mark_read(phone_number_id: str, body: dict[str, Any]) -> GraphAnswer:
    wamid = str(body.get("message_id", ""))
    target = SimulatedMessage.objects.filter(
        phone_number_id=phone_number_id, wamid=wamid, direction=SimDirection.TO_BUSINESS
    ).first()
    if target is None:
        return graph_error(400, 100, "(#100) Invalid parameter", f"Message {wamid} not found.")
    # Read marks the message and every earlier one of the thread (blue ticks on the phone).
    earlier = SimulatedMessage.objects.filter(
        phone_number_id=phone_number_id,
        wa_id=target.wa_id,
        direction=SimDirection.TO_BUSINESS,
        created_at__lte=target.created_at,
    ).exclude(status="read")
    read_ids = list(earlier.values_list("wamid", flat=True))
    earlier.update(status="read")
    if read_ids:
        publish(phone_number_id, target.wa_id, "message.status", {"wamids": read_ids, "status": "read"})
    if isinstance(body.get("typing_indicator"), dict):
        publish(phone_number_id, target.wa_id, "typing", {"seconds": 25})
    return GraphAnswer(200, {"success": True})


# --- Graph API: media -----------------------------------------------------------------------------


def handle_media_get(media_id: str, authorization: str | None, download_url: str) -> GraphAnswer:
    media = SimulatedMedia.objects.filter(media_id=media_id).first()
    if media is None:
        return graph_error(
            400, 100, f"Unsupported get request. Object with ID '{media_id}' does not exist.", error_subcode=33
        )
    auth = authenticate(media.phone_number_id, authorization)
    if isinstance(auth, GraphAnswer):
        return auth
    return GraphAnswer(
        200,
        {
            "messaging_product": "whatsapp",
            "url": download_url,
            "mime_type": media.mime_type,
            "sha256": media.sha256,
            "file_size": media.file_size,
            "id": media.media_id,
        },
    )


MEDIA_URL_SECONDS = 300  # Meta's media URLs expire after five minutes


def media_file(media_id: str, authorization: str | None, issued_at: str) -> SimulatedMedia | GraphAnswer:
    """A file behind the URL ``GET /{media-id}`` handed out: it needs the bearer token of the
    number's account, as Meta's does, and expires after ``MEDIA_URL_SECONDS``."""
    media = SimulatedMedia.objects.filter(media_id=media_id).first()
    if media is None:
        return graph_error(404, 100, "Media not found.")
    auth = authenticate(media.phone_number_id, authorization)
    if isinstance(auth, GraphAnswer):
        return auth
    try:
        age = time.time() - float(issued_at)
    except ValueError:
        age = MEDIA_URL_SECONDS + 1
    if not 0 <= age <= MEDIA_URL_SECONDS:
        return graph_error(404, 100, "The media URL has expired: ask GET /{media-id} for a new one.")
    return media


def handle_media_upload(
    phone_number_id: str, authorization: str | None, fields: dict[str, str], upload: tuple[str, str, bytes] | None
) -> GraphAnswer:
    """``POST /{phone-number-id}/media`` (multipart ``file``, ``type``, ``messaging_product``):
    Meta keeps the file and answers its id, which a message then sends."""
    auth = authenticate(phone_number_id, authorization)
    if isinstance(auth, GraphAnswer):
        return auth
    if fields.get("messaging_product") != "whatsapp":
        return graph_error(400, 100, "(#100) The parameter messaging_product is required.")
    if upload is None or not upload[2]:
        return graph_error(400, 100, "(#100) The parameter file is required.")
    filename, mime_type, data = upload
    media = media_store(
        phone_number_id=phone_number_id, filename=filename, mime_type=fields.get("type") or mime_type, data=data
    )
    return GraphAnswer(200, {"id": media.media_id})


def media_store(*, phone_number_id: str, filename: str, mime_type: str, data: bytes) -> SimulatedMedia:
    return SimulatedMedia.objects.create(
        media_id=str(random.randint(10**15, 10**16 - 1)),
        phone_number_id=phone_number_id,
        mime_type=mime_type or "application/octet-stream",
        sha256=hashlib.sha256(data).hexdigest(),
        file_size=len(data),
        filename=filename,
        file=ContentFile(data, name=filename or "upload.bin"),
    )


def media_kind(mime_type: str, data: bytes) -> tuple[str, dict[str, Any]]:
    """The kind of message a phone sends for a file, as WhatsApp would: a WebP is a sticker
    (``animated`` from its header), audio is audio, video is video, JPEG and PNG are images,
    anything else a document."""
    if mime_type == "image/webp":
        animated = data[12:16] == b"VP8X" and len(data) > 20 and bool(data[20] & 0x02)
        return "sticker", {"animated": animated}
    if mime_type in ("image/jpeg", "image/png"):
        return "image", {}
    if mime_type.startswith("video/"):
        return "video", {}
    if mime_type.startswith("audio/"):
        return "audio", {}
    return "document", {}


# --- The phone: the customer writes -----------------------------------------------------------------


# What "Send an order" puts in the cart: two products of a catalogue, as Meta's example has it.
SAMPLE_ORDER: dict[str, Any] = {
    "catalog_id": "194836987003835",
    "product_items": [
        {"product_retailer_id": "di9ozbzfi4", "quantity": 2, "item_price": 30, "currency": "BRL"},
        {"product_retailer_id": "nqryix03ez", "quantity": 1, "item_price": 25, "currency": "BRL"},
    ],
}


def user_id_of(wa_id: str) -> str:
    """The simulated customer's business-scoped user id (BSUID): stable, derived from the number."""
    digits = str(int(hashlib.sha256(wa_id.encode()).hexdigest()[:15], 16))
    return f"BR.{digits}"


def wa_id_of_user(phone_number_id: str, user_id: str) -> str | None:
    """The simulated phone behind a business-scoped user id (the customers this number knows)."""
    known = SimulatedMessage.objects.filter(phone_number_id=phone_number_id).values_list("wa_id", flat=True).distinct()
    return next((wa_id for wa_id in known if user_id_of(wa_id) == user_id), None)


class PhoneError(ValueError):
    pass


def phone_send(
    *,
    phone_number_id: str,
    wa_id: str,
    name: str,
    text: str = "",
    upload: tuple[str, str, bytes] | None = None,
    reply: tuple[str, str] | None = None,
    voice: bool = False,
    action: str = "",
    target: str = "",
    emoji: str = "",
    username: str = "",
) -> SimulatedMessage:
    """The simulated customer sends text, a file (``(filename, mime type, bytes)``) with ``text``
    as caption (an image, video, audio, document or sticker by its type; ``voice``: a voice note), or taps a reply button (``(button id, title)``) of an interactive message.
    ``action`` does something to the message ``target`` (a wamid) instead: ``reply`` (``text``
    quoting it), ``react`` (``emoji``; empty removes it), ``edit`` (its new ``text``), ``delete``.
    With ``username``, the customer has a username and hides their number: the webhook names them
    by business-scoped user id only. Stored for the phone, then delivered to PyTake as a signed
    webhook from the background thread."""
    wa_id = "".join(c for c in wa_id if c.isdigit())
    if not (6 <= len(wa_id) <= 20):
        raise PhoneError("The WhatsApp id (wa_id) must be a phone number: 6 to 20 digits.")
    account = WhatsAppAccount.objects.filter(phone_number_id=phone_number_id, is_active=True).first()
    if account is None:
        raise PhoneError("No active WhatsApp number with that phone_number_id.")
    text = text.strip()
    wamid = new_wamid()
    message: dict[str, Any] = {"from": wa_id, "id": wamid, "timestamp": str(int(time.time()))}
    if upload is not None:
        filename, mime_type, data = upload
        mime_type = mime_type or "application/octet-stream"
        if voice:  # a voice note is recorded as OGG/Opus by WhatsApp
            mime_type = "audio/ogg; codecs=opus"
        kind, extra = media_kind(mime_type.split(";")[0], data)
        media = media_store(phone_number_id=phone_number_id, filename=filename, mime_type=mime_type, data=data)
        payload: dict[str, Any] = {"mime_type": media.mime_type, "sha256": media.sha256, "id": media.media_id}
        payload.update(extra)
        if kind == "audio":
            payload["voice"] = voice
        if kind == "document":
            payload["filename"] = filename
        if text and kind in ("image", "video", "document"):
            payload["caption"] = text
        message.update({"type": kind, kind: payload})
    elif action in ("react", "edit", "delete"):
        if not target:
            raise PhoneError("Choose the message first.")
        if action == "react":
            kind = "reaction"
            message.update({"type": kind, kind: {"message_id": target, "emoji": emoji[:16]}})
        elif action == "edit":
            if not text:
                raise PhoneError("Type the new text.")
            kind = "edit"
            message.update(
                {
                    "type": kind,
                    kind: {"original_message_id": target, "message": {"type": "text", "text": {"body": text}}},
                }
            )
        else:
            kind = "revoke"
            message.update({"type": kind, kind: {"original_message_id": target}})
    elif action == "order":
        kind = "order"
        message.update({"type": kind, kind: SAMPLE_ORDER | ({"text": text} if text else {})})
    elif action == "change_number":
        new_wa_id = "".join(c for c in text if c.isdigit())
        if not (6 <= len(new_wa_id) <= 20) or new_wa_id == wa_id:
            raise PhoneError("Type the new number: 6 to 20 digits, not the current one.")
        kind = "system"
        body = f"User {name.strip() or wa_id} changed from {wa_id} to {new_wa_id}"
        message.update({"type": kind, kind: {"body": body, "wa_id": new_wa_id, "type": "user_changed_number"}})
    elif action == "unsupported":
        kind = "unsupported"
        message.update(
            {
                "type": kind,
                kind: {"type": "poll"},
                "errors": [
                    {
                        "code": 131051,
                        "title": "Message type unknown",
                        "message": "Message type unknown",
                        "error_data": {"details": "Message type is currently not supported."},
                    }
                ],
            }
        )
    elif reply is not None:
        kind = "interactive"
        button_id, title = reply
        message.update(
            {"type": kind, kind: {"type": "button_reply", "button_reply": {"id": button_id, "title": title}}}
        )
    elif text:
        kind = "text"
        message.update({"type": "text", "text": {"body": text}})
    else:
        raise PhoneError("Type a message or choose a file.")
    if action == "reply" and target:
        message["context"] = {"from": "".join(c for c in account.display_phone_number if c.isdigit()), "id": target}
    stored = SimulatedMessage.objects.create(
        phone_number_id=phone_number_id,
        wa_id=wa_id,
        direction=SimDirection.TO_BUSINESS,
        wamid=wamid,
        type=kind,
        body=message[kind],
        status="sent",
        created_at=timezone.now(),
    )
    profile: dict[str, Any] = {"name": name.strip() or wa_id}
    sender: dict[str, Any] = {"profile": profile, "wa_id": wa_id, "user_id": user_id_of(wa_id)}
    message["from_user_id"] = sender["user_id"]
    if username:  # the number is hidden: the business knows the customer by user id only
        profile["username"] = username.strip().lstrip("@")[:35]
        del sender["wa_id"], message["from"]
    value = {"contacts": [sender], "messages": [message]}
    scheduler.schedule(0, lambda: deliver_webhook(phone_number_id, value))
    publish(phone_number_id, wa_id, "message.new", sim_message_data(stored))
    return stored
