"""Prometheus metrics: every figure PyTake exports, defined once, and the ``/metrics`` view.

Single process (``make run``): the default registry. Several processes (``make stack``, docker
compose): set ``PROMETHEUS_MULTIPROC_DIR`` to a directory shared by every PyTake process on the
host and wiped before they start; each process then writes its samples to memory-mapped files
there, and ``/metrics`` on any one server aggregates all of them (web servers, Celery worker
children, beat). Files are named after ``<hostname>-<pid>`` rather than the pid alone, so
containers sharing one directory (each has its own pid 1) never collide.

Callers only touch the objects below, with the label values listed in each help text. Label
values must come from small fixed sets (roles, event types, outcomes), never ids or text.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


def record_deliveries(message: dict[str, Any], count: int) -> None:
    """``count`` sockets of this process got the event ``message``."""
    event_type = message.get("event_type", "")
    EVENTS_DELIVERED.labels(event_type).inc(count)
    if message.get("ts"):
        EVENT_DELIVERY_SECONDS.labels(event_type).observe(max(0.0, time.time() - message["ts"]))


def process_identifier() -> str:
    """``<hostname>-<pid>``: unique across containers sharing one metrics directory.

    prometheus-client splits file names on ``_``, so the result must not contain one.
    """
    host = re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname())
    return f"{host}-{os.getpid()}"


if MULTIPROC_DIR:
    # Must run before any metric below is created: each metric reads values.ValueClass once.
    values.ValueClass = values.MultiProcessValue(process_identifier=process_identifier)

# --- Real time (called by realtime/consumers.py and the publish path) -------------------------

WS_CONNECTIONS = Gauge(
    "pytake_ws_connections",
    "Open WebSocket connections, by role (admin, supervisor, agent, customer). inc() on accept, dec() on disconnect.",
    ["role"],
    multiprocess_mode="livesum",
)
WS_CONNECTS = Counter(
    "pytake_ws_connects",
    "WebSocket handshakes, by outcome (accepted, or the close code as a string: 4001, 4003, 4009...).",
    ["outcome"],
)
WS_CLOSES = Counter(
    "pytake_ws_closes",
    "WebSocket connections ended, by close code as a string (1000, 1001, 1006, 1012, 4001...).",
    ["code"],
)
WS_SLOW_CLIENTS_DROPPED = Counter(
    "pytake_ws_slow_clients_dropped",
    "WebSocket connections dropped because the client stopped reading (unsent bytes past PYTAKE_WS_MAX_SEND_BUFFER).",
)
WS_JOINS = Counter(
    "pytake_ws_joins",
    "join commands, by outcome (ok, not_found, invalid, rate_limited).",
    ["outcome"],
)
WS_RESUMES = Counter(
    "pytake_ws_resumes",
    "resume commands, by outcome (replayed, resync, invalid).",
    ["outcome"],
)
EVENTS_PUBLISHED = Counter(
    "pytake_events_published",
    "Events handed to the channel layer after commit, by event type (message.new, message.status, ...).",
    ["type"],
)
EVENTS_DELIVERED = Counter(
    "pytake_events_delivered",
    "Events sent down a WebSocket to a client, by event type.",
    ["type"],
)
EVENT_DELIVERY_SECONDS = Histogram(
    "pytake_event_delivery_seconds",
    "Seconds from the event's commit (its ts) to its frame being written to a server process's "
    "sockets (one observation per event and process, after its last local socket).",
    ["type"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
PUBLISH_FAILURES = Counter(
    "pytake_event_publish_failures",
    "group_send calls that raised (the event stays in the log; clients recover it by resume).",
)

# --- WhatsApp (called by whatsapp/views.py, whatsapp/client.py) --------------------------------

WEBHOOK_REQUESTS = Counter(
    "pytake_webhook_requests",
    "Meta webhook POSTs, by outcome (accepted, bad_signature, too_large, bad_json, unknown_account, ignored).",
    ["outcome"],
)
GRAPH_API_CALLS = Counter(
    "pytake_graph_api_calls",
    "Graph API requests, by endpoint kind (messages, media, ...) and HTTP status as a string ('timeout' or 'error' without one).",
    ["endpoint", "status"],
)
GRAPH_API_SECONDS = Histogram(
    "pytake_graph_api_seconds",
    "Graph API request duration in seconds, by endpoint kind.",
    ["endpoint"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)

# --- Celery (wired here through Celery signals; nobody else calls these) -----------------------

CELERY_TASKS = Counter(
    "pytake_celery_tasks",
    "Finished Celery task runs, by task name and outcome (success, failure, retry, revoked, rejected).",
    ["task", "outcome"],
)
CELERY_TASK_SECONDS = Histogram(
    "pytake_celery_task_seconds",
    "Celery task run time in seconds, by task name.",
    ["task"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)

# --- HTTP (recorded by MetricsMiddleware) -------------------------------------------------------

HTTP_REQUESTS = Counter(
    "pytake_http_requests",
    "HTTP responses, by method, URL route pattern and status code.",
    ["method", "route", "status"],
)
HTTP_SECONDS = Histogram(
    "pytake_http_request_seconds",
    "HTTP request duration in seconds, by method and URL route pattern.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

# --- Queue sizes, read at scrape time -----------------------------------------------------------


# Backlog figures of the apps above (the service flow's queue, outbound messages): each app
# registers a function from its ``AppConfig.ready()`` that returns ``(name, help, value)`` rows.
BacklogSource = Callable[[], Iterable[tuple[str, str, float]]]
_backlog_sources: list[BacklogSource] = []


def register_backlog(source: BacklogSource) -> None:
    if source not in _backlog_sources:
        _backlog_sources.append(source)


class QueueCollector(Collector):
    """Backlogs read when Prometheus scrapes, so the figure is true whichever process asks:
    the registered sources' figures (``register_backlog``) and the Celery broker's queue
    lengths (Redis lists).
    """

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield from self._registered()
        yield from self._broker()

    def _registered(self) -> Iterable[GaugeMetricFamily]:
        for source in _backlog_sources:
            try:
                rows = list(source())
            except Exception:
                logger.exception("metrics: a backlog source failed")
                continue
            for name, help_text, value in rows:
                yield GaugeMetricFamily(name, help_text, value=value)

    def _broker(self) -> Iterable[GaugeMetricFamily]:
        from django.conf import settings

        broker = settings.CELERY_BROKER_URL
        if not broker.startswith(("redis://", "rediss://")):
            return
        import redis

        family = GaugeMetricFamily(
            "pytake_celery_queue_length", "Tasks waiting in the Celery broker, by queue.", labels=["queue"]
        )
        try:
            client = redis.Redis.from_url(broker, socket_timeout=2, socket_connect_timeout=2)
            for queue in _celery_queue_names():
                family.add_metric([queue], float(client.llen(queue)))  # type: ignore[arg-type]
        except Exception:
            logger.exception("metrics: could not read Celery queue lengths from the broker")
            return
        yield family


def _celery_queue_names() -> list[str]:
    from django.conf import settings

    names = {getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", "celery") or "celery"}
    for route in (getattr(settings, "CELERY_TASK_ROUTES", None) or {}).values():
        if isinstance(route, dict) and route.get("queue"):
            names.add(str(route["queue"]))
    return sorted(names)


def scrape() -> bytes:
    """The exposition text: every process's samples (multiprocess mode) plus the queue collector."""
    if MULTIPROC_DIR:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        registry.register(_DefaultRegistryProxy())
    registry.register(QueueCollector())
    return generate_latest(registry)


class _DefaultRegistryProxy(Collector):
    """Lets one scrape registry hold the process-global metrics and the per-scrape collector."""

    def collect(self) -> Iterator[Any]:
        yield from REGISTRY.collect()


def mark_process_dead(identifier: str | None = None) -> None:
    """Drop this (or another) process's live gauges, e.g. its open-connection count, on exit."""
    if MULTIPROC_DIR:
        multiprocess.mark_process_dead(identifier or process_identifier(), MULTIPROC_DIR)


# --- Access to /metrics -------------------------------------------------------------------------


def _is_private(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return ip.is_loopback or ip.is_private


def scrape_allowed(*, remote_addr: str, forwarded_for: str, authorization: str, token: str) -> bool:
    """A bearer token equal to ``PYTAKE_METRICS_TOKEN``, or every hop private.

    Behind nginx the peer is nginx itself (loopback), so the client addresses in
    ``X-Forwarded-For`` must be private too: nginx appends the real client's address, so a forged
    private entry cannot hide a public one.
    """
    import hmac

    if token and authorization.startswith("Bearer "):
        return hmac.compare_digest(authorization[len("Bearer ") :].encode(), token.encode())
    hops = [remote_addr, *(hop for hop in forwarded_for.split(",") if hop.strip())]
    return all(_is_private(hop) for hop in hops)


def metrics_view(request: Any) -> Any:
    from django.conf import settings
    from django.http import HttpResponse, JsonResponse

    allowed = scrape_allowed(
        remote_addr=request.META.get("REMOTE_ADDR", ""),
        forwarded_for=request.META.get("HTTP_X_FORWARDED_FOR", ""),
        authorization=request.META.get("HTTP_AUTHORIZATION", ""),
        token=settings.PYTAKE_METRICS_TOKEN,
    )
    if not allowed:
        return JsonResponse(
            {
                "code": "forbidden",
                "message": "Metrics are served to private addresses or with the metrics bearer token.",
                "extra": {},
            },
            status=403,
        )
    return HttpResponse(scrape(), content_type=CONTENT_TYPE_LATEST)


# --- HTTP instrumentation -----------------------------------------------------------------------


class MetricsMiddleware:
    """Counts every HTTP response by route pattern (not raw path: ids would explode the series)."""

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = match.route if match is not None and match.route else "<unmatched>"
        if route == "metrics":
            return response  # scrapes would dominate the request counts
        HTTP_REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        HTTP_SECONDS.labels(request.method, route).observe(time.perf_counter() - started)
        return response


# --- Celery signals -----------------------------------------------------------------------------

_task_started: dict[str, float] = {}


def connect_celery_signals() -> None:
    """Count task outcomes and retries. Idempotent (signals are connected with dispatch_uid)."""
    from celery import signals

    def _name(sender: Any, request: Any = None) -> str:
        name = getattr(sender, "name", None) or getattr(request, "task", None) or getattr(request, "name", None)
        return str(name or "unknown")

    def on_prerun(task_id: str | None = None, task: Any = None, **_: Any) -> None:
        if task_id:
            _task_started[task_id] = time.perf_counter()

    def on_postrun(task_id: str | None = None, task: Any = None, **_: Any) -> None:
        started = _task_started.pop(task_id or "", None)
        if started is not None:
            CELERY_TASK_SECONDS.labels(_name(task)).observe(time.perf_counter() - started)

    def on_success(sender: Any = None, **_: Any) -> None:
        CELERY_TASKS.labels(_name(sender), "success").inc()

    def on_failure(sender: Any = None, **_: Any) -> None:
        CELERY_TASKS.labels(_name(sender), "failure").inc()

    def on_retry(sender: Any = None, request: Any = None, **_: Any) -> None:
        CELERY_TASKS.labels(_name(sender, request), "retry").inc()

    def on_revoked(sender: Any = None, request: Any = None, **_: Any) -> None:
        CELERY_TASKS.labels(_name(sender, request), "revoked").inc()

    def on_rejected(message: Any = None, **_: Any) -> None:
        CELERY_TASKS.labels("unknown", "rejected").inc()

    signals.task_prerun.connect(on_prerun, weak=False, dispatch_uid="pytake.metrics.prerun")
    signals.task_postrun.connect(on_postrun, weak=False, dispatch_uid="pytake.metrics.postrun")
    signals.task_success.connect(on_success, weak=False, dispatch_uid="pytake.metrics.success")
    signals.task_failure.connect(on_failure, weak=False, dispatch_uid="pytake.metrics.failure")
    signals.task_retry.connect(on_retry, weak=False, dispatch_uid="pytake.metrics.retry")
    signals.task_revoked.connect(on_revoked, weak=False, dispatch_uid="pytake.metrics.revoked")
    signals.task_rejected.connect(on_rejected, weak=False, dispatch_uid="pytake.metrics.rejected")

    # A prefork child's live gauges die with it. The signal is sent inside the exiting child.
    signals.worker_process_shutdown.connect(
        lambda **_: mark_process_dead(), weak=False, dispatch_uid="pytake.metrics.child_exit"
    )
