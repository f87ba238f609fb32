"""A real Celery worker process on real Redis processes a burst of webhooks: none lost, none twice."""

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client

from conversations.models import Contact, Conversation, Message
from tests import factories
from tests.whatsapp.support import post_webhook, text_payload
from whatsapp.models import WebhookEvent, WebhookEventStatus

ROOT = Path(__file__).resolve().parents[2]


def _test_database_url() -> str:
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def start_worker(queue: str, log, **extra_env: str) -> subprocess.Popen:
    """A `celery worker` subprocess consuming ``queue``, on the pytest database (shared by the
    fault tests)."""
    env = {
        **os.environ,
        "DATABASE_URL": _test_database_url(),
        "REDIS_URL": django_settings.REDIS_URL,
        "WHATSAPP_CELERY_QUEUE": queue,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "DATABASE_CONN_MAX_AGE": "0",
        **extra_env,
    }
    command = [sys.executable, "-m", "celery", "-A", "pytake", "worker", "-Q", queue, "-c", "2", "-P", "prefork"]
    command += ["--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING"]
    command += ["-n", f"{queue}-{uuid.uuid4().hex[:6]}@%h"]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


@pytest.fixture
def celery_worker_process(settings, tmp_path):
    """A `celery worker` subprocess on a queue of its own, using the pytest database."""
    queue = f"wa-test-{uuid.uuid4().hex[:12]}"
    settings.WHATSAPP_CELERY_QUEUE = queue
    log = (tmp_path / "worker.log").open("w+")
    proc = start_worker(queue, log)
    yield proc, log
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    redis.Redis.from_url(django_settings.REDIS_URL).delete(queue)


def _wait_for(predicate, timeout: float, proc, log) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            break
        time.sleep(0.2)  # polling a condition with a deadline, not waiting for luck
    log.seek(0)
    pytest.fail(f"condition not met within {timeout}s (worker exit={proc.poll()}):\n{log.read()[-3000:]}")


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_burst_of_500_webhooks_on_a_real_worker(celery_worker_process, tenant):
    proc, log = celery_worker_process
    account = factories.WhatsAppAccountFactory(tenant=tenant)
    client = Client()
    payloads = [
        text_payload(
            account.phone_number_id,
            wa_id=f"55119{c:08d}",
            wamid=f"wamid.burst.{c}.{m}",
            text=f"contact {c} message {m}",
            ts=1_700_000_000 + m,
            name=f"Customer {c}",
        )
        for c in range(50)
        for m in range(10)
    ]
    random.Random(4).shuffle(payloads)
    redeliveries = random.Random(5).sample(payloads, 50)  # Meta retries some deliveries
    started = time.monotonic()
    for payload in payloads + redeliveries:
        response = post_webhook(client, payload, account.app_secret)
        assert response.status_code == 200, response.content
    accepted_in = time.monotonic() - started

    total = len(payloads)  # a redelivery (the same signed body again) is the delivery stored first
    _wait_for(lambda: WebhookEvent.objects.filter(status=WebhookEventStatus.PROCESSED).count() == total, 180, proc, log)
    assert WebhookEvent.objects.count() == total
    assert not WebhookEvent.objects.exclude(status=WebhookEventStatus.PROCESSED).exists()
    assert Message.objects.filter(tenant=tenant).count() == 500
    assert Message.objects.values("whatsapp_message_id").distinct().count() == 500
    assert Contact.objects.filter(tenant=tenant).count() == 50
    assert Conversation.objects.filter(tenant=tenant).count() == 50
    for conversation in Conversation.objects.filter(tenant=tenant):
        assert conversation.unread_count == 10
        assert conversation.last_message_preview.endswith("message 9")  # Meta's order, not arrival order
    # The webhook only stores and enqueues: 550 deliveries accepted well within Meta's timeout.
    assert accepted_in / (total + len(redeliveries)) < 0.5
