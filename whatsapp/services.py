"""WhatsApp business logic: receiving webhooks, processing them, sending through the Graph API.

The webhook view, the Celery tasks and the admin call these; they stay thin.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from conversations import channels, files, interactive
from conversations import media as media_rules
from conversations import services as conversation_services
from conversations.models import (
    Attachment,
    Channel,
    Contact,
    Direction,
    MediaStatus,
    Message,
    MessageStatus,
    MessageType,
    WhatsAppAccount,
)
from pytake.errors import ApplicationError, ErrorCode, Forbidden, InvalidInput
from whatsapp import account_health, account_webhooks, inbound, meta_errors, parsing
from whatsapp.client import (
    GraphClient,
    GraphError,
    Sent,
    buttons_content,
    media_content,
    reaction_content,
    template_content,
    text_content,
)
from whatsapp.models import StatusReceipt, WebhookEvent, WebhookEventStatus

logger = logging.getLogger(__name__)

# An outbound message still pending this long after it was written is failed, not sent late.
SEND_GIVE_UP_SECONDS = 24 * 3600
SEND_GIVE_UP_TITLE = "Not sent: it was never handed to WhatsApp within 24 hours (broker or worker down)."


class PayloadTooLarge(ApplicationError):
    code = ErrorCode.PAYLOAD_TOO_LARGE
    status = 413
    message = "The webhook body is too large."


# --- Receiving ----------------------------------------------------------------------------------


def webhook_verify(*, mode: str | None, token: str | None, challenge: str | None) -> str:
    """Meta's subscription handshake: the challenge to echo when the verify token is one of ours."""
    if mode != "subscribe" or not token or challenge is None:
        raise Forbidden("Verification failed.", code=ErrorCode.VERIFICATION_FAILED)
    tokens = WhatsAppAccount.objects.filter(is_active=True).values_list("verify_token", flat=True)
    if not any(hmac.compare_digest(token.encode(), known.encode()) for known in tokens if known):
        raise Forbidden("Verification failed.", code=ErrorCode.VERIFICATION_FAILED)
    return challenge


def signature_for(body: bytes, secret: str) -> str:
    """The ``X-Hub-Signature-256`` header value Meta sends for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_valid(*, body: bytes, header: str | None, secret: str) -> bool:
    if not header or not secret:
        return False
    return hmac.compare_digest(header.strip().encode(), signature_for(body, secret).encode())


def webhook_event_receive(*, body: bytes, signature: str | None) -> tuple[WebhookEvent, bool]:
    """Verify and store one webhook delivery; returns it and whether it is new (the caller
    enqueues the processing of a new one; a replay is the event stored the first time).

    The body must be signed with the app secret of the account named in every
    ``metadata.phone_number_id`` of the payload (so tenant A's secret can never speak for tenant
    B's number). Raises ``PayloadTooLarge`` (413), ``InvalidInput`` (400) or ``Forbidden`` (403);
    nothing is stored then.
    """
    if len(body) > settings.WHATSAPP_WEBHOOK_MAX_BYTES:
        raise PayloadTooLarge()
    try:
        payload = json.loads(body)
        ids = parsing.phone_number_ids(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"The body is not a WhatsApp webhook: {exc}"[:300], code=ErrorCode.INVALID_PAYLOAD) from None
    if not ids:
        return _account_event_receive(body=body, payload=payload, signature=signature)
    accounts = list(WhatsAppAccount.objects.filter(phone_number_id__in=ids, is_active=True).order_by("pk"))
    if len(accounts) != len(ids):
        raise Forbidden(
            "The payload names a phone_number_id this server does not know.", code=ErrorCode.UNKNOWN_ACCOUNT
        )
    if not all(signature_valid(body=body, header=signature, secret=a.app_secret) for a in accounts):
        raise Forbidden("Missing or invalid X-Hub-Signature-256.", code=ErrorCode.INVALID_SIGNATURE)
    # A replay of a delivery (Meta's retry, or anyone who captured one) is the event stored then.
    return WebhookEvent.objects.get_or_create(
        account=accounts[0],
        body_sha256=hashlib.sha256(body).hexdigest(),
        defaults={"tenant_id": accounts[0].tenant_id, "body": body.decode("utf-8")},
    )


def _account_event_receive(*, body: bytes, payload: dict[str, Any], signature: str | None) -> tuple[WebhookEvent, bool]:
    """A delivery about business accounts as a whole (``account_webhooks``): every WABA id it
    names must be one of a number here, and the body signed with the app secret of a number of
    that account. Stored under the tenant whose secret signed it."""
    waba_ids = account_webhooks.business_account_ids(payload)
    if not waba_ids:
        raise Forbidden("The payload names no phone_number_id of this server.", code=ErrorCode.UNKNOWN_ACCOUNT)
    accounts = list(WhatsAppAccount.objects.filter(business_account_id__in=waba_ids, is_active=True).order_by("pk"))
    if {a.business_account_id for a in accounts} != waba_ids:
        raise Forbidden(
            "The payload names a business account this server does not know.", code=ErrorCode.UNKNOWN_ACCOUNT
        )
    signers = [a for a in accounts if signature_valid(body=body, header=signature, secret=a.app_secret)]
    if {a.business_account_id for a in signers} != waba_ids:
        raise Forbidden("Missing or invalid X-Hub-Signature-256.", code=ErrorCode.INVALID_SIGNATURE)
    tenant_ids = sorted({a.tenant_id for a in signers})
    if len(tenant_ids) > 1:
        logger.warning("WhatsApp account webhook signed for several tenants %s; kept for the first", tenant_ids)
    return WebhookEvent.objects.get_or_create(
        account=None,
        tenant_id=tenant_ids[0],
        business_account_id=sorted(waba_ids)[0],
        body_sha256=hashlib.sha256(body).hexdigest(),
        defaults={"body": body.decode("utf-8")},
    )


# --- Processing ---------------------------------------------------------------------------------


def webhook_event_process(*, event_id: int) -> WebhookEvent:
    """Apply every message and status of a stored webhook. Safe to run again: each item is
    idempotent (wamid for messages, (wamid, status) for statuses). Raises on the first item that
    fails, after trying all of them, so that the task retries."""
    event = WebhookEvent.objects.select_related("account").get(pk=event_id)
    if event.status == WebhookEventStatus.PROCESSED:
        return event
    payload = json.loads(event.body)
    named = parsing.phone_number_ids(payload)
    if event.account is not None and named == {event.account.phone_number_id}:
        accounts = {event.account.phone_number_id: event.account}  # the usual case: one number
    else:
        accounts = {a.phone_number_id: a for a in WhatsAppAccount.objects.filter(phone_number_id__in=named)}
    first_error: Exception | None = None
    for update in parsing.iter_updates(payload):
        account = accounts.get(update.phone_number_id)
        if account is None or account.tenant_id != event.tenant_id:
            continue  # checked at receipt; an account deleted since then has nothing to update
        try:
            if isinstance(update, parsing.InboundMessage):
                inbound_message_save(account=account, update=update)
            elif isinstance(update, parsing.PreferenceUpdate):
                preference_receive(account=account, update=update)
            else:
                status_receive(account=account, update=update)
        except Exception as exc:  # keep going: one bad item must not hold back the others
            logger.exception("WhatsApp webhook #%s: item %s failed", event_id, getattr(update, "wamid", "?"))
            first_error = first_error or exc
    try:
        account_changes_apply(event=event, payload=payload)
    except Exception as exc:
        first_error = first_error or exc
    if first_error is not None:
        raise first_error
    event.status = WebhookEventStatus.PROCESSED
    event.processed_at = timezone.now()
    event.save(update_fields=["status", "processed_at"])
    return event


def account_changes_apply(*, event: WebhookEvent, payload: dict[str, Any]) -> None:
    """The account-level changes of a delivery, for the business accounts of the event's tenant."""
    if not any(True for _ in account_webhooks.account_changes(payload)):
        return
    waba_ids = set(
        WhatsAppAccount.objects.filter(tenant_id=event.tenant_id)
        .exclude(business_account_id="")
        .values_list("business_account_id", flat=True)
    )
    account_webhooks.changes_apply(tenant_id=event.tenant_id, business_account_ids=waba_ids, payload=payload)


def webhook_event_attempt_failed(*, event_id: int, error: BaseException, final: bool) -> None:
    """Record a failed attempt; the last one moves the event to the dead letters (admin)."""
    event = WebhookEvent.objects.get(pk=event_id)
    event.attempts += 1
    event.last_error = f"{type(error).__name__}: {error}"[:4000]
    if final:
        event.status = WebhookEventStatus.DEAD
    event.save(update_fields=["attempts", "last_error", "status"])


def inbound_message_save(*, account: WhatsAppAccount, update: parsing.InboundMessage) -> Message | None:
    """Apply one inbound message: most kinds become a message of the contact's conversation; a
    reaction, an edit or a revoke changes the message it names instead; a group message is kept
    out of one-to-one conversations (its raw delivery stays in the webhook event); a number
    change moves the contact. Returns the message stored or changed (``None``: nothing to change)."""
    if update.group_id:
        logger.info(
            "WhatsApp group message %s (group %s) not filed: groups are not handled", update.wamid, update.group_id
        )
        return None
    if update.wa_type == "reaction":
        emoji = str((update.content.get("reaction") or {}).get("emoji") or "")
        by = "agent" if update.echo else "contact"  # an echo: the business reacted from its phone
        return _changed_or_logged(
            update,
            inbound.message_react(
                account=account, target_wamid=update.target_wamid, emoji=emoji, at=update.timestamp, by=by
            ),
        )
    if update.wa_type == "edit":
        return _changed_or_logged(
            update,
            inbound.message_edit(
                account=account,
                target_wamid=update.target_wamid,
                edit_wamid=update.wamid,
                text=str(update.content.get("caption") or update.content.get("text") or ""),
                at=update.timestamp,
            ),
        )
    if update.wa_type == "revoke":
        return _changed_or_logged(
            update, inbound.message_revoke(account=account, target_wamid=update.target_wamid, at=update.timestamp)
        )
    message, created = inbound.message_create_inbound(
        account=account,
        wa_id=update.wa_id,
        user_id=update.user_id,
        username=update.username,
        profile_name=update.profile_name,
        wamid=update.wamid,
        message_type=update.message_type,
        content=update.content,
        created_at=update.timestamp,
        sender_type=update.sender_type,
        echo=update.echo,
    )
    if created and update.wa_type == "system":
        _number_change(account=account, message=message, system=update.content.get("system") or {})
    if created and update.message_type in parsing.MEDIA_KINDS and (update.content.get("media") or {}).get("id"):
        backend = channels.backend_for(Channel.WHATSAPP)  # this app's own backend (whatsapp.channel)
        if backend is not None:
            transaction.on_commit(lambda: backend.fetch_media(message_id=message.pk), robust=True)
    return message


NUMBER_CHANGE_KINDS = {"user_changed_number", "customer_changed_number"}


def _number_change(*, account: WhatsAppAccount, message: Message, system: dict[str, Any]) -> None:
    """A ``system`` message saying the customer changed number: the contact moves to the new one
    (``wa_id``, or ``new_wa_id`` in older payloads), so their next message continues here."""
    if str(system.get("type") or "") not in NUMBER_CHANGE_KINDS:
        return
    new_wa_id = str(system.get("wa_id") or system.get("new_wa_id") or "")
    if not new_wa_id.isdigit():
        return
    with transaction.atomic():
        contact = Contact.objects.select_for_update().get(pk=message.conversation.contact_id)
        if contact.wa_id != new_wa_id:
            inbound.contact_change_number(
                contact=contact, new_wa_id=new_wa_id, new_user_id=str(system.get("user_id") or "")
            )


def _changed_or_logged(update: parsing.InboundMessage, message: Message | None) -> Message | None:
    if message is None:
        logger.info(
            "WhatsApp %s %s names message %s, unknown on this number: not applied (kept in the raw delivery)",
            update.wa_type,
            update.wamid,
            update.target_wamid,
        )
    return message


def preference_receive(*, account: WhatsAppAccount, update: parsing.PreferenceUpdate) -> None:
    """A customer's marketing preference: recorded on the contact (others are logged and kept raw)."""
    if update.category != "marketing_messages" or update.value not in ("stop", "resume"):
        logger.info("WhatsApp preference %s=%s not one PyTake acts on; kept", update.category, update.value)
        return
    inbound.contact_marketing_preference(
        account=account,
        wa_id=update.wa_id,
        user_id=update.user_id,
        stop=update.value == "stop",
        at=update.timestamp,
    )


def status_receive(*, account: WhatsAppAccount, update: parsing.StatusUpdate) -> StatusReceipt | None:
    """Record a status callback once per (wamid, status) and apply it to its message if known.

    Returns ``None`` for a duplicate. A status PyTake does not know is recorded and left alone.
    """
    try:
        with transaction.atomic():
            receipt = StatusReceipt.objects.create(
                account=account,
                wamid=update.wamid,
                status=update.raw_status[:32],
                timestamp=update.timestamp,
                errors=update.errors,
                raw=update.raw,
                applied=update.status is None,
            )
    except IntegrityError:
        return None  # already received: Meta redelivers
    if update.status is None:
        logger.info("WhatsApp status %r for %s is not one PyTake knows; kept", update.raw_status, update.wamid)
        return receipt
    _wamid_link(account=account, update=update)
    receipts_apply_pending(account_id=account.pk, wamid=update.wamid)
    return receipt


CALLBACK_PREFIX = "pytake:"


def _callback_data(message: Message) -> str:
    """What a sent message carries in ``biz_opaque_callback_data``: its id."""
    return f"{CALLBACK_PREFIX}{message.pk}"


def _wamid_link(*, account: WhatsAppAccount, update: parsing.StatusUpdate) -> None:
    """A status naming (in its callback data) one of this account's messages that has no wamid:
    its Graph API call went through but the answer was lost. Keep the wamid, so that the message
    is not sent again (``message_send`` leaves a message with a wamid alone)."""
    raw_id = update.callback_data.removeprefix(CALLBACK_PREFIX)
    if not update.callback_data.startswith(CALLBACK_PREFIX) or not re.fullmatch(r"[0-9]{1,18}", raw_id):
        return  # not ours (another app's, or forged): nothing to link
    message_id = (
        Message.objects.filter(
            whatsapp_account=account,
            pk=int(raw_id),
            direction=Direction.OUTBOUND,
            status=MessageStatus.PENDING,
            whatsapp_message_id__isnull=True,
        )
        .values_list("pk", flat=True)
        .first()
    )
    if message_id is None:
        return
    conversation_services.message_set_accepted(message_id=message_id, wamid=update.wamid)
    logger.info("WhatsApp message %s: wamid %s learnt from its status", message_id, update.wamid)


def receipts_apply_pending(*, account_id: int, wamid: str) -> int:
    """Apply the received-but-unapplied statuses of ``wamid`` to its message, if it exists yet.
    Called when a status arrives and when a wamid becomes known (after sending)."""
    message_id = (
        Message.objects.filter(whatsapp_account_id=account_id, whatsapp_message_id=wamid)
        .values_list("pk", flat=True)
        .first()
    )
    if message_id is None:
        return 0
    applied = 0
    with transaction.atomic():
        pending = list(
            StatusReceipt.objects.select_for_update()
            .filter(account_id=account_id, wamid=wamid, applied=False)
            .order_by("timestamp", "pk")
        )
        for receipt in pending:
            status = parsing.STATUS_MAP.get(receipt.status)
            if status is not None:
                first = receipt.errors[0] if receipt.errors else {}
                conversation_services.message_status_apply(
                    message_id=message_id,
                    status=status,
                    at=receipt.timestamp,
                    error_code=first.get("code") if isinstance(first.get("code"), int) else None,
                    error_title=_status_error_title(first),
                )
            receipt.applied = True
            receipt.save(update_fields=["applied"])
            applied += 1
    return applied


def _status_error_title(error: dict[str, Any]) -> str:
    """A failed status's first error as the agent reads it (``meta_errors``)."""
    code = error.get("code") if isinstance(error.get("code"), int) else None
    found = error.get("error_data")
    data: dict[str, Any] = found if isinstance(found, dict) else {}
    title = str(error.get("title") or error.get("message") or "")
    return meta_errors.failure_title(code=code, title=title, details=str(data.get("details") or ""))


# --- Sending ------------------------------------------------------------------------------------


def _client_for(account: WhatsAppAccount) -> GraphClient:
    return GraphClient(phone_number_id=account.phone_number_id, access_token=account.access_token)


def _send_one(client: GraphClient, message: Message, contact: Contact) -> Sent:
    media_id = media_upload_for_send(client, message) if message.type in parsing.MEDIA_KINDS else None
    kind, content = _content_of(message, media_id=media_id)
    quoted = message.reply_to.whatsapp_message_id if message.reply_to is not None else None
    return client.send(
        # A customer known by their user id only (a username hides their number) is sent to by it.
        to=contact.wa_id,
        recipient=contact.wa_user_id if not contact.wa_id else "",
        kind=kind,
        content=content,
        context_wamid=quoted or None,
        callback_data=_callback_data(message),
    )


def _content_of(message: Message, *, media_id: str | None = None) -> tuple[str, dict[str, Any]]:
    """The message in the Cloud API's terms: its type and the object under it."""
    content = message.content if isinstance(message.content, dict) else {}
    if message.type == MessageType.TEXT:
        offered = [str(b) for b in content.get("quick_replies") or [] if str(b).strip()]
        # The bot's quick replies become WhatsApp reply buttons: those within Meta's limits (a
        # message stored before the limits were checked still goes out, without a cut title).
        buttons = interactive.usable_buttons(body=message.text, buttons=offered)
        if buttons:
            return buttons_content(message.text, buttons)
        return text_content(message.text)
    if message.type in parsing.MEDIA_KINDS:
        filename = str(content.get("filename", ""))
        if media_id:
            filename = filename or message.attachment.filename
        return media_content(
            message.type,
            str(content.get("link", "")),
            media_id=media_id or "",
            caption=str(content.get("caption", "")),
            filename=filename,
        )
    if message.type == MessageType.TEMPLATE:
        return template_content(
            str(content.get("name", "")),
            str(content.get("language", "en_US")),
            content.get("components") or None,
        )
    if message.type == MessageType.REACTION:
        return reaction_content(str(content.get("message_id", "")), str(content.get("emoji", "")))
    raise GraphError(0, None, f"PyTake cannot send a {message.type} message.", transient=False)


@contextmanager
def _send_claim(message_id: int) -> Iterator[bool]:
    """Yields whether this caller may decide the fate of an unsent message: send it, or fail it.

    Several tasks can hold the same message id at once (an ``acks_late`` redelivery, a retry
    waiting out its countdown, the stale-send sweeper): each reads "pending, no wamid", and
    without this each would call the Graph API, and the customer would get the text twice. The
    claim is a cache key (Redis ``SET NX`` across processes) rather than a row lock, so that no
    database lock or transaction is held during the HTTP call. It outlives any Graph call (the
    client's timeouts) and is released at the end; one left by a killed worker expires.
    """
    key = f"wa-send-claim:{message_id}"
    token = uuid.uuid4().hex
    claimed = cache.add(key, token, timeout=max(60, int(6 * settings.WHATSAPP_HTTP_TIMEOUT)))
    try:
        yield claimed
    finally:
        if claimed and cache.get(key) == token:
            cache.delete(key)


def _sendable(message_id: int) -> Message | None:
    """The message if it is an outbound WhatsApp message still to be sent, else ``None``."""
    message = (
        Message.objects.select_related("conversation__contact", "whatsapp_account", "attachment", "reply_to")
        .filter(pk=message_id, direction=Direction.OUTBOUND)
        .first()
    )
    if message is None or message.status != MessageStatus.PENDING or message.whatsapp_message_id:
        return None
    if message.internal or message.conversation.channel != Channel.WHATSAPP:  # a staff note never leaves
        return None
    return message


def message_send(*, message_id: int) -> Message | None:
    """Send a pending outbound WhatsApp message through the Graph API.

    Idempotent: a message already sent, or being sent by another worker right now (see
    ``_send_claim``), is left alone, so the task may run twice (acks_late, the sweeper). Raises
    ``GraphError`` on failure; the caller (the task) retries transient ones and calls
    ``message_send_failed`` for the rest. No database lock is held during the HTTP call.
    """
    with _send_claim(message_id) as claimed:
        if not claimed:
            logger.info("WhatsApp message %s is being sent by another worker; not sent again", message_id)
            return None
        message = _sendable(message_id)
        if message is None:
            return Message.objects.filter(pk=message_id).first()
        account = message.whatsapp_account
        if account is None:
            return message
        if account.sending_blocked_at is not None:
            # An account-wide error stopped this number: the message waits (account_health).
            logger.info("WhatsApp message %s waits: number %s is blocked", message_id, account.display_phone_number)
            return message
        contact = message.conversation.contact
        sent = _send_one(_client_for(account), message, contact)
        wamid = sent.wamid
        message = conversation_services.message_set_accepted(message_id=message.pk, wamid=wamid)
        inbound.contact_wa_id_resolved(contact_id=contact.pk, sent_to=contact.wa_id, wa_id=sent.wa_id)
    receipts_apply_pending(account_id=account.pk, wamid=wamid)
    message.refresh_from_db()
    return message


def message_send_refused_for_account(*, message_id: int, error: GraphError) -> bool:
    """An error of the whole number (``account_health.ACCOUNT_BLOCKING_CODES``): the number stops
    sending and the message waits with the others. Returns whether the error was one of those."""
    if error.code not in account_health.ACCOUNT_BLOCKING_CODES:
        return False
    account_id = Message.objects.filter(pk=message_id).values_list("whatsapp_account_id", flat=True).first()
    if account_id is not None:
        account_health.account_sending_block(account_id=account_id, code=error.code, title=error.title)
    return True


def message_send_failed(*, message_id: int, error: GraphError) -> Message | None:
    """A permanent error (or retries exhausted): the message is failed with Meta's code and title.

    Not if another attempt sent it meanwhile, or is sending it right now (it decides then)."""
    title = meta_errors.failure_title(code=error.code, title=error.title, details=error.details)
    return message_fail_unsent(message_id=message_id, error_code=error.code, error_title=title)


def message_fail_unsent(*, message_id: int, error_code: int | None, error_title: str) -> Message | None:
    with _send_claim(message_id) as claimed:
        if not claimed or _sendable(message_id) is None:
            return Message.objects.filter(pk=message_id).first()
        return conversation_services.message_status_apply(
            message_id=message_id,
            status=MessageStatus.FAILED,
            at=timezone.now(),
            error_code=error_code,
            error_title=error_title,
        )


def mark_read(*, account_id: int, wamid: str, typing: bool = False) -> None:
    account = WhatsAppAccount.objects.get(pk=account_id)
    _client_for(account).mark_read(wamid=wamid, typing=typing)


# --- Media --------------------------------------------------------------------------------------


class MediaRefused(Exception):
    """The file Meta served is not one PyTake keeps (over the limit, a hash that does not match,
    content of no type it carries): permanent, the message's media is ``failed``."""


def _sha256_matches(expected: str, hex_digest: str) -> bool:
    """Meta's ``sha256`` is the file's SHA-256, as hex or as base64 of the raw digest."""
    expected = expected.strip()
    if not expected:
        return True  # nothing to check against
    if expected.lower() == hex_digest:
        return True
    return expected == base64.b64encode(bytes.fromhex(hex_digest)).decode()


def media_fetch(*, message_id: int) -> Message | None:
    """Download an inbound message's file through the Graph API into storage.

    ``GET /{media-id}`` gives a short-lived URL, fetched with the bearer token as a stream: the
    bytes go to a temporary file while being counted and hashed, so a file over Meta's limit for
    its kind stops the download as soon as the limit is passed, and memory stays at one chunk.
    The ``sha256`` Meta sent is checked, the type is taken from the content (never only from
    Meta's ``mime_type``), then the file is written to storage and the attachment becomes
    ``ready`` (``message.updated``). Raises ``GraphError`` (the task retries transient ones) or
    ``MediaRefused``."""
    message = Message.objects.select_related("whatsapp_account", "attachment").filter(pk=message_id).first()
    if message is None or message.whatsapp_account is None:
        return None
    try:
        attachment = message.attachment
    except Attachment.DoesNotExist:
        return message
    if attachment.status != MediaStatus.PENDING or not attachment.remote_id:
        return message
    declared = (message.content or {}).get("media") or {}
    client = _client_for(message.whatsapp_account)
    info = client.media_info(media_id=attachment.remote_id)
    kind_limit = media_rules.max_bytes_for(message.type, animated=attachment.animated)
    limit = min(kind_limit, int(settings.WHATSAPP_MEDIA_MAX_BYTES))
    if info.file_size is not None and info.file_size > limit:
        raise MediaRefused(f"The file is {info.file_size} bytes; the limit for a {message.type} is {limit}.")
    try:
        with client.media_stream(url=info.url, max_bytes=limit) as chunks:
            spooled = files.spool(chunks, max_bytes=limit)
    except files.TooLarge:
        raise MediaRefused(f"The file is over the {limit}-byte limit for a {message.type}.") from None
    try:
        expected = str(declared.get("sha256") or info.sha256 or "")
        if not _sha256_matches(expected, spooled.sha256):
            raise MediaRefused("The file's SHA-256 does not match the one WhatsApp sent.")
        if spooled.size == 0:
            raise MediaRefused("WhatsApp served an empty file.")
        sniffed = media_rules.sniff(spooled.head, filename=attachment.filename)
        attachment.mime_type = sniffed.mime_type if sniffed is not None else "application/octet-stream"
        files.attachment_save_file(attachment, spooled)
    finally:
        spooled.close()
    try:
        conversation_services.attachment_update(
            message_id=message_id,
            file=attachment.file.name,
            mime_type=attachment.mime_type,
            size=spooled.size,
            sha256=spooled.sha256,
            animated=attachment.animated or bool(sniffed and sniffed.animated),
            status=MediaStatus.READY,
            error="",
        )
    except BaseException:
        files.file_delete(attachment.file.name)
        raise
    message.refresh_from_db()
    return message


def media_fetch_failed(*, message_id: int, error: BaseException) -> None:
    """The download failed for good: the message keeps its place, its media says ``failed`` and
    why (``message.updated``); staff may retry it (``POST /api/messages/{id}/media/retry/``)."""
    if isinstance(error, GraphError):
        reason = error.title if not error.details else f"{error.title}: {error.details}"
        if error.code is not None:
            reason = f"{reason} (WhatsApp error {error.code})"
    else:
        reason = str(error)
    conversation_services.attachment_update(
        message_id=message_id, status=MediaStatus.FAILED, error=reason[:500] or "The download failed."
    )


def media_upload_for_send(client: GraphClient, message: Message) -> str | None:
    """Meta's media id for an outbound message's file: uploaded once (the id is kept on the
    attachment, so a retried send does not upload again). None for a message with no file."""
    try:
        attachment = message.attachment
    except Attachment.DoesNotExist:
        return None
    if attachment.remote_id:
        return attachment.remote_id
    with attachment.file.open("rb") as handle:
        media_id = client.media_upload(handle=handle, filename=attachment.filename, mime_type=attachment.mime_type)
    # Not a change the inbox shows: no event (a queryset update sends no post_save).
    Attachment.objects.filter(pk=attachment.pk).update(remote_id=media_id)
    attachment.remote_id = media_id
    return media_id
