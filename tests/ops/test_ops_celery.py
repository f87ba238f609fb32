"""Celery worker shutdown (deploy/celery-worker): on SIGTERM a running task either finishes within
the soft-shutdown time or is requeued, and the worker exits within a bound. Real worker, real Redis."""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
from django.conf import settings

from pytake.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[2]
SOFT_SHUTDOWN = 2.0

pytestmark = pytest.mark.redis


@celery_app.task(name="tests.ops.slow", acks_late=True)
def slow(key: str) -> None:
    """Marks itself started, runs for the number of seconds stored at ``<key>:seconds``, marks done."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.incr(f"{key}:runs")
    client.rpush(f"{key}:started", "1")
    time.sleep(float(client.get(f"{key}:seconds") or 0))
    client.set(f"{key}:done", "1")


@pytest.fixture
def r():
    return redis.Redis.from_url(settings.REDIS_URL)


@pytest.fixture
def queue(r):
    name = f"ops-test-{uuid.uuid4().hex[:8]}"
    yield name
    r.delete(name)


@pytest.fixture
def start_worker(tmp_path, queue):
    started: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_DEBUG", "PROMETHEUS_MULTIPROC_DIR"}}
        env.update(
            PYTHON=sys.executable,
            REDIS_URL=settings.REDIS_URL,
            CELERY_SOFT_SHUTDOWN_TIMEOUT=str(SOFT_SHUTDOWN),
            DJANGO_SECRET_KEY="celery-test-secret-key-0123456789abcdef",
            PYTAKE_DATA_DIR=str(tmp_path),
            CELERY_CONCURRENCY="1",
        )
        if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
            env["DATABASE_URL"] = os.environ.get("DATABASE_URL", "")
        log = (tmp_path / f"worker{len(started)}.log").open("w")
        proc = subprocess.Popen(
            [str(ROOT / "deploy" / "celery-worker"), f"--queues={queue}", "--include=tests.ops.test_ops_celery"]
            + [f"--hostname=ops-{uuid.uuid4().hex[:6]}@%h", "--without-gossip", "--without-mingle"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def wait_exit(proc: subprocess.Popen, timeout: float) -> float:
    began = time.monotonic()
    proc.wait(timeout=timeout)
    return time.monotonic() - began


def test_sigterm_lets_a_short_task_finish(r, queue, start_worker):
    key = f"ops-{uuid.uuid4().hex}"
    r.set(f"{key}:seconds", "0.5")
    worker = start_worker()
    slow.apply_async(args=[key], queue=queue)
    assert r.blpop(f"{key}:started", timeout=60), "the worker never started the task"
    worker.send_signal(signal.SIGTERM)
    took = wait_exit(worker, timeout=SOFT_SHUTDOWN + 10)
    assert r.get(f"{key}:done") == b"1"
    assert took < SOFT_SHUTDOWN + 8
    assert r.llen(queue) == 0  # acknowledged, not requeued
    r.delete(*[f"{key}:{s}" for s in ("seconds", "done", "runs", "started")])


def test_sigterm_requeues_a_long_task_and_another_worker_completes_it(r, queue, start_worker):
    key = f"ops-{uuid.uuid4().hex}"
    r.set(f"{key}:seconds", "60")
    worker = start_worker()
    slow.apply_async(args=[key], queue=queue)
    assert r.blpop(f"{key}:started", timeout=60), "the worker never started the task"
    worker.send_signal(signal.SIGTERM)
    # The task would run 60 s: a worker that waited for it (warm shutdown) would take that long.
    # The margin over the soft-shutdown time is for a loaded CI machine.
    took = wait_exit(worker, timeout=50)
    assert took < 40, took
    assert r.get(f"{key}:done") is None
    # Nothing lost: the message is back on the queue, and a new worker runs it to the end.
    r.set(f"{key}:seconds", "0")
    start_worker()
    assert r.blpop(f"{key}:started", timeout=60), "the requeued task was never delivered again"
    deadline = time.monotonic() + 30
    while r.get(f"{key}:done") is None and time.monotonic() < deadline:
        time.sleep(0.1)  # polling the task's own marker
    assert r.get(f"{key}:done") == b"1"
    assert int(r.get(f"{key}:runs")) == 2
    r.delete(*[f"{key}:{s}" for s in ("seconds", "done", "runs", "started")])
