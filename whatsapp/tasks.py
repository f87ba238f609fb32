"""Celery tasks: interfaces that take ids, call a service, and decide retry versus give up.

All are ``acks_late`` (a worker that dies mid-task leaves the message on the queue) and retry with
exponential backoff plus jitter. Enqueue through the ``*_enqueue`` helpers, which honour
``WHATSAPP_CELERY_QUEUE``.
"""

from __future__ import annotations

import logging
import random
from typing import Any

from celery import Task, shared_task
from django.conf import settings

from whatsapp import services
from whatsapp.client import GraphError

logger = logging.getLogger(__name__)

WEBHOOK_MAX_RETRIES = 6
SEND_MAX_RETRIES = 5
MEDIA_MAX_RETRIES = 5


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
        if exc.transient and self.request.retries < SEND_MAX_RETRIES:
            countdown = send_retry_delay(exc, self.request.retries)
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
        services.media_fetch_failed(message_id=message_id, error=exc)


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

    return services.webhook_events_requeue_stale(older_than_seconds=settings.WHATSAPP_STALE_WEBHOOK_SECONDS)


@shared_task(name="whatsapp.requeue_stale_sends")
def requeue_stale_sends() -> dict[str, int]:
    """Beat: outbound messages left pending (broker down at commit, task lost) are enqueued again;
    after a day they fail instead."""
    result = services.messages_send_requeue_stale(older_than_seconds=settings.WHATSAPP_SEND_STALE_SECONDS)
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
