"""A Celery worker killed with SIGKILL in the middle of a burst of webhooks: after a new worker
starts, every message is stored exactly once (acks_late, reject on worker loss, idempotency).
The task the dead worker held comes back through the stale-webhook sweep that Celery beat runs
every minute in production (kombu's own restore of unacknowledged tasks takes ~100 s more)."""

import os
import random
import signal
import subprocess
import time
import uuid

import pytest
import redis
from django.conf import settings as django_settings
from django.test import Client

from conversations.models import Message
from tests import factories
from tests.e2e.test_faults import report
from tests.e2e.test_whatsapp_worker import start_worker as start_worker_process
from tests.whatsapp.support import post_webhook, text_payload
from whatsapp.models import WebhookEvent, WebhookEventStatus
from whatsapp.tasks import webhook_events_requeue_stale

SWEEP_SECONDS = 5  # the test's WHATSAPP_STALE_WEBHOOK_SECONDS and beat interval (180 s and 60 s)

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def start_worker(queue: str, log_path) -> subprocess.Popen:
    # Unacknowledged tasks of a dead worker go back to the queue after this many seconds.
    return start_worker_process(queue, log_path.open("a"), CELERY_VISIBILITY_TIMEOUT="5")


def wait_for(predicate, timeout: float, what: str) -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)  # polling the database with a deadline
    return time.monotonic() - started


@pytest.mark.timeout(600)
def test_worker_killed_mid_burst_loses_and_doubles_nothing(settings, tmp_path, tenant):
    queue = f"wa-kill-{uuid.uuid4().hex[:10]}"
    settings.WHATSAPP_CELERY_QUEUE = queue
    account = factories.WhatsAppAccountFactory(tenant=tenant)
    payloads = [
        text_payload(
            account.phone_number_id,
            wa_id=f"55118{c:08d}",
            wamid=f"wamid.kill.{c}.{m}",
            text=f"contact {c} message {m}",
            ts=1_700_000_000 + m,
            name=f"Customer {c}",
        )
        for c in range(12)
        for m in range(10)
    ]
    random.Random(7).shuffle(payloads)
    client = Client()
    for payload in payloads:
        assert post_webhook(client, payload, account.app_secret).status_code == 200
    processed = lambda: WebhookEvent.objects.filter(status=WebhookEventStatus.PROCESSED).count()  # noqa: E731
    workers = [start_worker(queue, tmp_path / "worker.log")]
    try:
        wait_for(lambda: processed() >= 15, 120, "the first worker to get going")
        os.killpg(workers[0].pid, signal.SIGKILL)
        workers[0].wait(10)
        done_at_kill = processed()
        workers.append(start_worker(queue, tmp_path / "worker.log"))
        swept = [time.monotonic()]

        def all_processed() -> bool:
            if processed() == len(payloads):
                return True
            if time.monotonic() - swept[0] >= SWEEP_SECONDS:  # what Celery beat runs
                webhook_events_requeue_stale(older_than_seconds=SWEEP_SECONDS)
                swept[0] = time.monotonic()
            return False

        recovery = wait_for(all_processed, 300, "every webhook processed")
    finally:
        for worker in workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGTERM)
                try:
                    worker.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(worker.pid, signal.SIGKILL)
        redis.Redis.from_url(django_settings.REDIS_URL).delete(queue)
    stored = Message.objects.filter(tenant=tenant).count()
    distinct = Message.objects.filter(tenant=tenant).values("whatsapp_message_id").distinct().count()
    report(
        "celery_worker_sigkill",
        webhooks=len(payloads),
        processed_before_kill=done_at_kill,
        messages_stored=stored,
        lost=len(payloads) - distinct,
        duplicated=stored - distinct,
        recovery_seconds=round(recovery, 2),
    )
    assert done_at_kill < len(payloads), "the kill must land mid-burst"
    assert stored == distinct == len(payloads)
