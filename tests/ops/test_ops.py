"""/readyz, /metrics and structured logs, in process (the multi-process parts: test_ops_lifecycle,
test_ops_celery, test_stack)."""

import io
import json
import logging
import threading
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client import REGISTRY

from pytake import logging as pytake_logging
from pytake.celery import app as celery_app
from pytake.metrics import scrape_allowed
from realtime import lifecycle
from tests import factories

pytestmark = pytest.mark.django_db


def sample(name, labels=None):
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


# --- /readyz ---------------------------------------------------------------------------------


def test_readyz_reports_each_check_with_latency():
    response = Client().get("/readyz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "redis", "channel_layer"}
    for check in body["checks"].values():
        assert check["status"] in {"ok", "skipped"}
        assert isinstance(check["latency_ms"], float)
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["channel_layer"]["status"] == "ok"


@pytest.mark.redis
def test_readyz_checks_redis_when_configured():
    body = Client().get("/readyz").json()
    assert body["checks"]["redis"]["status"] == "ok"


def test_readyz_is_503_when_redis_and_the_channel_layer_are_unreachable(settings):
    # A real unreachable server (nothing listens on port 1), not a mock.
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]}}
    }
    response = Client().get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["redis"]["status"] == "error"
    assert body["checks"]["channel_layer"]["status"] == "error"
    assert "error" in body["checks"]["redis"]


def test_readyz_is_503_while_draining():
    lifecycle._set_draining(True)
    try:
        response = Client().get("/readyz")
    finally:
        lifecycle._set_draining(False)
    assert response.status_code == 503
    assert response.json()["status"] == "draining"
    assert Client().get("/readyz").status_code == 200


def test_healthz_touches_nothing():
    assert Client().get("/healthz").json() == {"status": "ok"}


# --- /metrics --------------------------------------------------------------------------------


def test_metrics_are_served_to_loopback_and_count_http_requests_by_route(agent, api_for):
    before = sample("pytake_http_requests_total", {"method": "GET", "route": "api/me/", "status": "200"})
    assert api_for(agent).get("/api/me/").status_code == 200
    response = Client(REMOTE_ADDR="127.0.0.1").get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    after = sample("pytake_http_requests_total", {"method": "GET", "route": "api/me/", "status": "200"})
    assert after == before + 1
    # The figures the on-call person looks at are all exported (even before any traffic).
    for name in (
        "pytake_http_requests_total",
        "pytake_queue_waiting_conversations",
        "pytake_queue_oldest_wait_seconds",
        "pytake_outbound_pending_messages",
        "pytake_ws_connections",
        "pytake_events_published_total",
        "pytake_event_delivery_seconds",
        "pytake_webhook_requests_total",
        "pytake_graph_api_calls_total",
        "pytake_celery_tasks_total",
    ):
        assert f"# TYPE {name.removesuffix('_total')}" in text, name


def test_metrics_refuse_public_addresses_without_the_token(settings):
    settings.PYTAKE_METRICS_TOKEN = "s3cret-token"
    public = Client(REMOTE_ADDR="8.8.8.8")
    denied = public.get("/metrics")
    assert denied.status_code == 403
    assert denied.json()["code"] == "forbidden"
    assert public.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert public.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token").status_code == 200
    # Behind nginx the peer is loopback: a public client in X-Forwarded-For is still refused,
    # even when it forged a private first hop.
    proxied = Client(REMOTE_ADDR="127.0.0.1")
    assert proxied.get("/metrics", HTTP_X_FORWARDED_FOR="10.0.0.5, 8.8.8.8").status_code == 403
    assert proxied.get("/metrics", HTTP_X_FORWARDED_FOR="10.0.0.5").status_code == 200


def test_metrics_without_a_configured_token_refuse_any_bearer():
    assert not scrape_allowed(remote_addr="8.8.8.8", forwarded_for="", authorization="Bearer ", token="")
    assert scrape_allowed(remote_addr="::1", forwarded_for="", authorization="", token="")
    assert scrape_allowed(remote_addr="192.168.1.4", forwarded_for="172.16.0.3", authorization="", token="")
    assert not scrape_allowed(remote_addr="not-an-ip", forwarded_for="", authorization="", token="")


def test_queue_sizes_are_read_from_the_database_at_scrape_time(tenant, agent):
    factories.ConversationFactory(tenant=tenant, queued_at=timezone.now() - timedelta(minutes=5))
    factories.ConversationFactory(tenant=tenant, queued_at=timezone.now(), assignee=agent)  # taken
    factories.ConversationFactory(tenant=tenant)  # never queued
    text = Client().get("/metrics").content.decode()
    values = {
        line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines() if line.startswith("pytake_queue")
    }
    assert values["pytake_queue_waiting_conversations"] == 1.0
    assert 295 <= values["pytake_queue_oldest_wait_seconds"] <= 400


@celery_app.task(name="tests.ops.flaky", bind=True, max_retries=3, default_retry_delay=0)
def flaky(self, fail_times: int) -> int:
    if self.request.retries < fail_times:
        raise self.retry(countdown=0)
    return self.request.retries


def test_celery_outcomes_and_retries_are_counted():
    labels = {"task": "tests.ops.flaky"}
    success = sample("pytake_celery_tasks_total", {**labels, "outcome": "success"})
    retries = sample("pytake_celery_tasks_total", {**labels, "outcome": "retry"})
    failures = sample("pytake_celery_tasks_total", {**labels, "outcome": "failure"})
    assert flaky.apply(args=[2]).get() == 2
    assert sample("pytake_celery_tasks_total", {**labels, "outcome": "success"}) == success + 1
    assert sample("pytake_celery_tasks_total", {**labels, "outcome": "retry"}) == retries + 2
    flaky.apply(args=[9])  # more failures than retries allowed: ends in failure
    assert sample("pytake_celery_tasks_total", {**labels, "outcome": "failure"}) == failures + 1
    assert sample("pytake_celery_task_seconds_count", labels) >= 3


def test_the_result_backend_is_built_once_per_process_not_per_thread(monkeypatch):
    """Under ASGI a request's sync code runs on a new thread; Celery's per-thread backend cost
    every webhook an entry-point scan (pytake.celery.App)."""
    built = []
    original = celery_app._get_backend
    monkeypatch.setattr(celery_app, "_get_backend", lambda: built.append(1) or original())
    celery_app.__dict__.pop("_process_backend", None)
    seen = []
    threads = [threading.Thread(target=lambda: seen.append(celery_app.backend)) for _ in range(3)]
    for thread in threads:
        thread.start()
        thread.join()
    assert len(built) == 1
    assert seen[0] is seen[1] is seen[2] is celery_app.backend
    assert celery_app.AsyncResult("some-task").backend is seen[0]


# --- logs ------------------------------------------------------------------------------------


@pytest.fixture
def json_log():
    """Capture root log output as PyTake's production handler writes it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(pytake_logging.JSONFormatter())
    handler.addFilter(pytake_logging.ContextFilter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def test_every_line_of_a_request_carries_request_id_tenant_and_user(agent, api_for, json_log):
    response = api_for(agent).get("/api/me/", HTTP_X_REQUEST_ID="req-from-nginx-42")
    assert response["X-Request-ID"] == "req-from-nginx-42"
    lines = [line for line in json_log() if line["logger"] == "pytake.request"]
    assert len(lines) == 1
    line = lines[0]
    assert line["request_id"] == "req-from-nginx-42"
    assert line["user_id"] == agent.pk
    assert line["tenant_id"] == agent.tenant_id
    assert line["status"] == 200
    assert line["path"] == "/api/me/"
    assert "Bearer" not in json.dumps(json_log())


def test_a_bad_request_id_is_replaced_and_the_query_string_never_logged(json_log):
    response = Client().get("/api/me/?token=abc.def.ghi", HTTP_X_REQUEST_ID="bad id\nwith newline")
    generated = response["X-Request-ID"]
    assert generated != "bad id\nwith newline" and len(generated) == 32
    (line,) = [line for line in json_log() if line["logger"] == "pytake.request"]
    assert line["request_id"] == generated
    assert line["user_id"] is None and line["status"] == 401
    assert "abc.def.ghi" not in json.dumps(json_log())


def test_secrets_are_redacted_and_bodies_kept_out_of_info(json_log):
    token = pytake_logging.bind(request_id="ws-1", tenant_id=7, user_id=9)
    try:
        log = logging.getLogger("tests.ops")
        log.info("sent", extra={"text": "my card number is 1234", "token": "eyJ.secret", "conversation_id": 5})
        log.debug("sent (debug)", extra={"text": "visible at debug"})
    finally:
        pytake_logging.reset(token)
    (line,) = [line for line in json_log() if line["logger"] == "tests.ops"]
    assert (line["request_id"], line["tenant_id"], line["user_id"]) == ("ws-1", 7, 9)
    assert line["token"] == "[redacted]"
    assert "text" not in line and line["conversation_id"] == 5
    assert pytake_logging.current_context() == {"request_id": None, "tenant_id": None, "user_id": None}


def test_text_format_is_readable():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello %s", ("world",), None)
    pytake_logging.ContextFilter().filter(record)
    text = pytake_logging.TextFormatter().format(record)
    assert "INFO" in text and "hello world" in text and "[- t=- u=-]" in text
