"""Parallel runs (pytest-xdist's ``-n``, as ``make test`` runs the suite): each worker process has
services of its own, so that no test sees another's rows, cache, channel groups or queues.

- PostgreSQL: pytest-django suffixes the test database with the worker's id
  (``test_pytake_gw0``, ``test_pytake_gw1``, ...).
- Redis: worker ``gwN`` uses database number ``N`` above the one ``REDIS_URL`` names
  (``redis://…/1`` gives workers 1, 2, 3, ...): every test starts by clearing the cache, which
  empties the whole Redis database (Django's ``cache.clear()`` is FLUSHDB), so workers cannot share
  one; and a channel-layer prefix of its own, since pub/sub channels are not per database.
  Servers and workers that tests start inherit the worker's URL (``tests.live.server_env``).
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

REDIS_DATABASES = 16  # Redis's default ``databases``


def worker_index() -> int | None:
    """This process's xdist worker number, ``None`` when the suite runs in one process."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(worker.removeprefix("gw")) if worker.startswith("gw") else None


def worker_suffix() -> str:
    """``_gw0``, ``_gw1``, ... under xdist (pytest-django's suffix for the test database), else ``""``."""
    index = worker_index()
    return "" if index is None else f"_gw{index}"


def redis_url_for_worker(url: str, index: int) -> str:
    parts = urlsplit(url)
    database = int(parts.path.strip("/") or 0) + index
    if database >= REDIS_DATABASES:
        raise pytest.UsageError(
            f"worker gw{index} would use Redis database {database}, past the last one"
            f" ({REDIS_DATABASES - 1}): name a lower database in REDIS_URL or run fewer workers"
        )
    return urlunsplit(parts._replace(path=f"/{database}"))


def isolate_redis(settings: Any) -> None:
    """Points this worker's Django settings, Celery and environment at its own Redis database.
    Called when the test modules are loaded, before anything has connected to Redis (the cache,
    the channel layer, the presence registry and Celery's broker all connect lazily)."""
    index = worker_index()
    if index is None or not settings.REDIS_URL:
        return
    shared = settings.REDIS_URL
    url = redis_url_for_worker(shared, index)
    os.environ["REDIS_URL"] = url
    settings.REDIS_URL = url
    settings.CACHES["default"]["LOCATION"] = url
    config = settings.CHANNEL_LAYERS["default"]["CONFIG"]
    config["hosts"] = [url]
    # Redis's pub/sub channels span its databases: a prefix of the worker's own, or one worker's
    # group sends reach the sockets of another's tenant with the same id.
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID", "")[:8]
    config["prefix"] = f"{config['prefix']}-{run}-gw{index}"
    os.environ["PYTAKE_CHANNEL_PREFIX"] = config["prefix"]
    if shared == settings.CELERY_BROKER_URL:
        from pytake.celery import app

        settings.CELERY_BROKER_URL = url
        app.conf.broker_url = url
