"""Fixtures and helpers for tests that let the Cloud API simulator play Meta (no tests here).

Registered for the whole suite in tests/conftest.py: ``sim`` is a fixture wherever a test names it."""

import time

import pytest

from pytake.celery import eager_retries
from simulator import services as simulator
from tests.whatsapp.support import eager_celery  # noqa: F401 (fixture)
from whatsapp.client import http_client_close

# A page of ours, as the browser names it in the Origin header of the phone's socket.
PAGE_ORIGIN = (b"origin", b"http://127.0.0.1")


def wait_until(predicate, timeout: float = 60.0, what: str = "condition"):  # generous: CI machines are loaded
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)  # polling a condition with a deadline
    raise AssertionError(f"{what} not met within {timeout}s")


@pytest.fixture
def sim(live_server, settings, eager_celery):  # noqa: F811 (the fixture)
    """PyTake and its simulator served over HTTP by the live server, pointing at each other."""
    settings.PYTAKE_PUBLIC_URL = live_server.url
    settings.WHATSAPP_GRAPH_BASE_URL = live_server.url + "/simulator/graph"
    settings.WHATSAPP_SIMULATOR_STATUS_DELAYS = "0.05,0.15,0.3"
    settings.WHATSAPP_SIMULATOR_FAILURE_RATE = 0.0
    settings.CSRF_COOKIE_SECURE = False  # httpx keeps Secure cookies off plain http
    yield live_server.url
    assert simulator.scheduler.wait_idle(30), "simulator callbacks still running"
    eager_retries.run_due_now()  # a retry waiting for a status runs now, not in a later test
    assert eager_retries.wait_idle(30), "retries still running"
    http_client_close()  # a kept-alive connection keeps a live-server thread (and its DB session) alive
