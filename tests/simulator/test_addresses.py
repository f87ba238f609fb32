"""No test reaches a port it did not open itself. The Graph API root and the simulator's webhook
address once fell back to PYTAKE_PUBLIC_URL's default, port 8000, where ``make run`` serves the
demo: a suite run beside it sent its messages into the demo's database."""

import runpy
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from simulator import services
from tests.browser.server import server_env as browser_server_env
from tests.live import addressed
from tests.live import server_env as live_server_env
from whatsapp.client import graph_base_url

ROOT = Path(__file__).resolve().parents[2]
DEMO_PORT = 8000
ADDRESS_SETTINGS = ("PYTAKE_PUBLIC_URL", "WHATSAPP_GRAPH_BASE_URL", "WHATSAPP_SIMULATOR_WEBHOOK_URL")


def port_of(url: str) -> int | None:
    parts = urlsplit(url)
    return parts.port or {"http": 80, "https": 443}.get(parts.scheme)


def test_this_process_sends_to_the_port_the_session_holds(settings, meta_unreachable):
    held = port_of(meta_unreachable)
    resolved = {
        "PYTAKE_PUBLIC_URL": settings.PYTAKE_PUBLIC_URL,
        "graph API": graph_base_url(),
        "simulator webhooks": services.webhook_url(),
    }
    assert {name: port_of(url) for name, url in resolved.items()} == dict.fromkeys(resolved, held)
    assert held != DEMO_PORT


def test_processes_the_tests_start_inherit_that_port(meta_unreachable):
    """A Celery worker or a manage.py command started with the test's environment."""
    started = runpy.run_path(str(ROOT / "pytake" / "settings.py"))
    assert started["PYTAKE_PUBLIC_URL"] == meta_unreachable
    assert started["WHATSAPP_GRAPH_BASE_URL"] == started["WHATSAPP_SIMULATOR_WEBHOOK_URL"] == ""


@pytest.fixture
def demo_addresses_in_the_environment(monkeypatch):
    """A shell in which ``make run`` (or a developer) left the demo's addresses exported."""
    monkeypatch.setenv("PYTAKE_PUBLIC_URL", f"http://127.0.0.1:{DEMO_PORT}")
    monkeypatch.setenv("WHATSAPP_GRAPH_BASE_URL", f"http://127.0.0.1:{DEMO_PORT}/simulator/graph")
    monkeypatch.setenv("WHATSAPP_SIMULATOR_WEBHOOK_URL", f"http://127.0.0.1:{DEMO_PORT}/webhooks/whatsapp/")


@pytest.mark.usefixtures("demo_addresses_in_the_environment")
def test_test_servers_never_inherit_an_address_and_use_their_own(tmp_path):
    for env in (live_server_env(), browser_server_env(data_dir=tmp_path)):
        assert not set(ADDRESS_SETTINGS) & set(env)
        assert not [value for value in env.values() if f":{DEMO_PORT}" in value]
        own = addressed(env, "http://127.0.0.1:45678")
        assert own["PYTAKE_PUBLIC_URL"] == "http://127.0.0.1:45678"
