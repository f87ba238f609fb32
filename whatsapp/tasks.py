"""Celery tasks: interfaces that take ids, call a service, and decide retry versus give up.

All are ``acks_late`` (a worker that dies mid-task leaves the message on the queue) and retry with
exponential backoff plus jitter. Enqueue through the ``*_enqueue`` helpers, which honour
``WHATSAPP_CELERY_QUEUE``.
"""

from __future__ import annotations

import logging
import random
from dataclasses import asdict
from datetime import timedelta
from typing import Any, NamedTuple

from celery import Task, shared_task
from django.conf import settings
from django.utils import timezone

from conversations.models import Channel, Direction, Message, MessageStatus
from pytake.celery import retry_later
from whatsapp import services, templates
from whatsapp.client import GraphError
from whatsapp.models import WebhookEvent, WebhookEventStatus

logger = logging.getLogger(__name__)

WEBHOOK_MAX_RETRIES = 6
SEND_MAX_RETRIES = 5
MEDIA_MAX_RETRIES = 5
SPAM_RATE_LIMIT_CODE = 131048


def backoff(retries: int, *, base: float = 2.0, cap: float = 300.0) -> float:
    """Exponential backoff with full jitter: a random delay in [0, min(cap, base * 2**retries)]."""
    return random.uniform(0, min(cap, base * (2**retries)))


def send_retry_delay(error: GraphError, retries: int) -> float:
    """Seconds before a failed send is tried again: the backoff, and for a call that may have
    gone through (``maybe_sent``) at least ``WHATSAPP_SEND_UNCONFIRMED_SECONDS``, so that its
    "sent" status can name the message first (``services.status_receive``)."""
    delay = backoff(retries)
    if error.maybe_sent:
        delay = max(delay, float(settings.WHATSAPP_SEND_UNCONFIRMED_SECONDS))
    if error.code == SPAM_RATE_LIMIT_CODE:
        # Meta limits how much this number may send: trying again at once only counts against it.
        delay = max(delay, float(settings.WHATSAPP_SPAM_LIMIT_RETRY_SECONDS) * (retries + 1))
    return delay


def _options() -> dict[str, Any]:
    queue = settings.WHATSAPP_CELERY_QUEUE
    return {"queue": queue} if queue else {}


@shared_task(bind=True, acks_late=True, max_retries=WEBHOOK_MAX_RETRIES, name="whatsapp.process_webhook")
def process_webhook(self: Task, event_id: int) -> None:
    try:
        services.webhook_event_process(event_id=event_id)
    except Exception as exc:
        final = self.request.retries >= WEBHOOK_MAX_RETRIES
        services.webhook_event_attempt_failed(event_id=event_id, error=exc, final=final)
        if final:
            logger.error("WhatsApp webhook #%s moved to the dead letters: %s", event_id, exc)
            return
        raise self.retry(exc=exc, countdown=backoff(self.request.retries), **_options()) from exc


@shared_task(bind=True, acks_late=True, max_retries=SEND_MAX_RETRIES, name="whatsapp.send_message")
def send_message(self: Task, message_id: int) -> None:
    try:
        services.message_send(message_id=message_id)
    except GraphError as exc:
        if services.message_send_refused_for_account(message_id=message_id, error=exc):
            return  # the number is blocked: the message waits, sent when an admin lifts the block
        if exc.transient and self.request.retries < SEND_MAX_RETRIES:
            countdown = send_retry_delay(exc, self.request.retries)
            if exc.maybe_sent and self.request.is_eager:
                # At once, the retry would not wait for the status that may name the message (a
                # second copy on the phone): the embedded default waits on a thread instead.
                retry_later(send_message, (message_id,), countdown=countdown, retries=self.request.retries + 1)
                return
            raise self.retry(exc=exc, countdown=countdown, **_options()) from exc
        logger.warning("WhatsApp message %s failed: %s", message_id, exc)
        services.message_send_failed(message_id=message_id, error=exc)


@shared_task(bind=True, acks_late=True, max_retries=MEDIA_MAX_RETRIES, name="whatsapp.download_media")
def download_media(self: Task, message_id: int) -> None:
    try:
        services.media_fetch(message_id=message_id)
    except GraphError as exc:
        if exc.transient and self.request.retries < MEDIA_MAX_RETRIES:
            raise self.retry(exc=exc, countdown=backoff(self.request.retries), **_options()) from exc
        logger.warning("WhatsApp media of message %s not downloaded: %s", message_id, exc)
        services.media_fetch_failed(message_id=message_id, error=exc)
    except services.MediaRefused as exc:
        logger.warning("WhatsApp media of message %s refused: %s", message_id, exc)
        services.media_fetch_failed(message_id=message_id, error=exc)
    except Exception as exc:  # storage or database trouble: worth another try, then say so
        if self.request.retries < MEDIA_MAX_RETRIES:
            raise self.retry(exc=exc, countdown=backoff(self.request.retries), **_options()) from exc
        logger.exception("WhatsApp media of message %s not stored", message_id)
        services.media_fetch_failed(message_id=message_id, error=RuntimeError(f"Not stored: {type(exc).__name__}"))


@shared_task(bind=True, acks_late=True, max_retries=3, name="whatsapp.mark_read")
def mark_read(self: Task, account_id: int, wamid: str, typing: bool = False) -> None:
    try:
        services.mark_read(account_id=account_id, wamid=wamid, typing=typing)
    except GraphError as exc:
        # A typing indicator is only worth something now: never retry it.
        if exc.transient and not typing and self.request.retries < 3:
            raise self.retry(exc=exc, countdown=backoff(self.request.retries), **_options()) from exc
        logger.info("WhatsApp mark-as-read of %s not delivered: %s", wamid, exc)


@shared_task(name="whatsapp.requeue_stale_webhooks")
def requeue_stale_webhooks() -> int:
    """Beat: deliveries left unprocessed (a worker died holding them) go back in the queue."""
    from django.conf import settings

    return webhook_events_requeue_stale(older_than_seconds=settings.WHATSAPP_STALE_WEBHOOK_SECONDS)


@shared_task(name="whatsapp.requeue_stale_sends")
def requeue_stale_sends() -> dict[str, int]:
    """Beat: outbound messages left pending (broker down at commit, task lost) are enqueued again;
    after a day they fail instead."""
    result = messages_send_requeue_stale(older_than_seconds=settings.WHATSAPP_SEND_STALE_SECONDS)
    return result._asdict()


def webhook_event_enqueue(*, event_id: int) -> None:
    process_webhook.apply_async((event_id,), **_options())


def message_send_enqueue(*, message_id: int) -> None:
    send_message.apply_async((message_id,), **_options())


def media_download_enqueue(*, message_id: int) -> None:
    download_media.apply_async((message_id,), **_options())


def mark_read_enqueue(*, account_id: int, wamid: str) -> None:
    mark_read.apply_async((account_id, wamid), **_options())


def typing_indicator_enqueue(*, account_id: int, wamid: str) -> None:
    mark_read.apply_async((account_id, wamid, True), **_options())


# --- What goes back to the workers: dead letters, stale deliveries and sends ---------------------


def webhook_event_reprocess(*, event_ids: list[int]) -> int:
    """Put dead (or stuck) events back in the queue. Returns how many."""
    count = 0
    for event in WebhookEvent.objects.filter(pk__in=event_ids).exclude(status=WebhookEventStatus.PROCESSED):
        event.status = WebhookEventStatus.RECEIVED
        event.save(update_fields=["status"])
        webhook_event_enqueue(event_id=event.pk)
        count += 1
    return count


def webhook_events_requeue_stale(*, older_than_seconds: int, limit: int = 500) -> int:
    """Enqueue again the deliveries still unprocessed after ``older_than_seconds``.

    A worker killed mid-task leaves its task unacknowledged; the Redis broker hands it out again
    only after its visibility timeout (an hour by default). The stored event makes that wait
    unnecessary: processing is idempotent, so enqueueing a late one twice costs nothing.
    """
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    stale = list(
        WebhookEvent.objects.filter(status=WebhookEventStatus.RECEIVED, received_at__lt=cutoff)
        .order_by("received_at")
        .values_list("pk", flat=True)[:limit]
    )
    for event_id in stale:
        webhook_event_enqueue(event_id=event_id)
    return len(stale)


class StaleSends(NamedTuple):
    requeued: int
    failed: int


def messages_send_requeue_stale(
    *, older_than_seconds: int, give_up_after_seconds: int = services.SEND_GIVE_UP_SECONDS, limit: int = 500
) -> StaleSends:
    """Enqueue again the outbound WhatsApp messages still pending after ``older_than_seconds``;
    fail those pending for longer than ``give_up_after_seconds``. At most ``limit`` of each, oldest
    first.

    A reply is saved ``pending`` and its send task enqueued after commit. If the broker was down
    then (the enqueue error is only logged: the reply is saved) or the task was lost, nothing
    else would ever send it. Sending is idempotent and claimed (``message_send``), so enqueueing
    one whose task is merely slow costs a no-op task, never a second message on the phone.
    """
    now = timezone.now()
    unsent = Message.objects.filter(
        direction=Direction.OUTBOUND,
        internal=False,
        status=MessageStatus.PENDING,
        whatsapp_message_id__isnull=True,
        conversation__channel=Channel.WHATSAPP,
    ).exclude(whatsapp_account__sending_blocked_at__isnull=False)  # they wait for the block to lift
    unsent = unsent.order_by("created_at", "pk")
    give_up_before = now - timedelta(seconds=give_up_after_seconds)
    expired = list(unsent.filter(created_at__lt=give_up_before).values_list("pk", flat=True)[:limit])
    failed = 0
    for message_id in expired:
        message = services.message_fail_unsent(
            message_id=message_id, error_code=None, error_title=services.SEND_GIVE_UP_TITLE
        )
        if message is not None and message.status == MessageStatus.FAILED:
            failed += 1
    stale = list(
        unsent.filter(created_at__gte=give_up_before, created_at__lt=now - timedelta(seconds=older_than_seconds))
        .filter(whatsapp_account__isnull=False)
        .values_list("pk", flat=True)[:limit]
    )
    for message_id in stale:
        message_send_enqueue(message_id=message_id)
    if stale or failed:
        logger.warning("WhatsApp sends left pending: %s enqueued again, %s failed after a day", len(stale), failed)
    return StaleSends(requeued=len(stale), failed=failed)


# --- Message templates ---------------------------------------------------------------------------


@shared_task(bind=True, acks_late=True, max_retries=3, name="whatsapp.sync_templates")
def sync_templates(self: Task, tenant_id: int) -> dict[str, int]:
    """Fetch the tenant's templates from Meta (every business account of its numbers)."""
    try:
        return asdict(templates.templates_sync_tenant(tenant_id=tenant_id))
    except GraphError as exc:
        if exc.transient and self.request.retries < 3:
            raise self.retry(exc=exc, countdown=backoff(self.request.retries), **_options()) from exc
        logger.warning("WhatsApp templates of tenant %s not synced: %s", tenant_id, exc)
        return {}


@shared_task(name="whatsapp.sync_all_templates")
def sync_all_templates() -> int:
    """Beat: every tenant's templates, one task per tenant. Returns how many were queued."""
    tenant_ids = sorted({account.tenant_id for account in templates.sync_accounts()})
    for tenant_id in tenant_ids:
        templates_sync_enqueue(tenant_id=tenant_id)
    return len(tenant_ids)


def templates_sync_enqueue(*, tenant_id: int) -> None:
    sync_templates.apply_async((tenant_id,), **_options())


templates.sync_enqueuer_set(lambda tenant_id: templates_sync_enqueue(tenant_id=tenant_id))
