"""The simulator is installed only when asked for: off by default (no app, no URLs, no socket, no
tables, Meta's Graph API), refused with DEBUG off unless production is named too, and its phone
socket open only to our own pages.

What depends on start-up (INSTALLED_APPS, URLs, the ASGI routes, migrations) is checked in a
fresh process with the environment under test; the suite itself runs with the simulator on."""

import json
import logging
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from channels.testing import WebsocketCommunicator
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from simulator import services
from tests.simulator.support import PAGE_ORIGIN
from whatsapp.client import META_GRAPH_BASE_URL, graph_base_url

ROOT = Path(__file__).resolve().parents[2]
SIMULATOR_SETTINGS = ("PYTAKE_SIMULATOR", "PYTAKE_SIMULATOR_IN_PRODUCTION")

# Run in a fresh process: migrate a new SQLite database the way an installation does (first to
# the last WhatsApp migration that still held the simulator's tables, as a database made before
# the simulator had its own app), then ask what start-up built. Prints one JSON object.
PROBE = """
import asyncio, json
import django
django.setup()
from channels.testing import WebsocketCommunicator
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from django.test import Client

def simulator_tables():
    return sorted(t for t in connection.introspection.table_names() if "simulat" in t)

out = {"installed": apps.is_installed("simulator")}
call_command("migrate", "whatsapp", "0002", verbosity=0)
out["tables_before"] = simulator_tables()
call_command("migrate", verbosity=0)
out["tables"] = simulator_tables()
client = Client(HTTP_HOST="127.0.0.1")
out["http"] = {
    "phone": client.get("/simulator/phone/").status_code,
    "contacts": client.get("/simulator/phone/api/contacts", {"phone_number_id": "1"}).status_code,
    "messages": client.get("/simulator/phone/api/messages", {"phone_number_id": "1", "wa_id": "1"}).status_code,
    "faults": client.post("/simulator/faults", "{}", content_type="application/json").status_code,
    "graph": client.post("/simulator/graph/v21.0/1/messages", "{}", content_type="application/json").status_code,
}
from whatsapp.client import graph_base_url
out["graph_base_url"] = graph_base_url()

async def phone_socket():
    from pytake.asgi import application
    socket = WebsocketCommunicator(
        application, "/ws/simulator/phone/?phone_number_id=1&wa_id=1", headers=[(b"origin", b"http://127.0.0.1")]
    )
    try:
        connected, code = await socket.connect(timeout=10)
    except ValueError as exc:  # Channels' URLRouter: no route for the path
        return {"connected": False, "refused": str(exc)}
    await socket.disconnect()
    return {"connected": connected, "code": code}

out["socket"] = asyncio.run(phone_socket())
print(json.dumps(out))
"""


def probe(tmp_path: Path, public_url: str, **env: str) -> dict:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {*SIMULATOR_SETTINGS, "DATABASE_URL", "REDIS_URL", "DJANGO_DEBUG"} and not k.startswith("PYTEST")
    }
    clean.update(
        DJANGO_SETTINGS_MODULE="pytake.settings",
        DJANGO_SECRET_KEY=settings.SECRET_KEY,
        PYTAKE_DATA_DIR=str(tmp_path),
        PYTAKE_PUBLIC_URL=public_url,
        WHATSAPP_GRAPH_BASE_URL="",
        LOG_LEVEL="ERROR",
        **env,
    )
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.once  # a process of its own, on a database of its own
def test_off_by_default_nothing_of_the_simulator_exists(tmp_path, meta_unreachable):
    """No PYTAKE_SIMULATOR in the environment, production settings: not installed, every
    simulator URL a 404, no phone socket, no simulator table (the old ones dropped), and the
    Graph API is Meta's."""
    seen = probe(tmp_path, meta_unreachable)
    assert seen["installed"] is False
    assert seen["tables_before"] == ["whatsapp_simulatedmedia", "whatsapp_simulatedmessage", "whatsapp_simulatorfault"]
    assert seen["tables"] == []
    assert seen["http"] == {"phone": 404, "contacts": 404, "messages": 404, "faults": 404, "graph": 404}
    assert seen["socket"]["connected"] is False and "No route found" in seen["socket"]["refused"]
    assert seen["graph_base_url"] == META_GRAPH_BASE_URL == "https://graph.facebook.com"


@pytest.mark.once  # a process of its own, on a database of its own
def test_on_it_has_its_own_tables_urls_and_socket(tmp_path, meta_unreachable):
    seen = probe(tmp_path, meta_unreachable, PYTAKE_SIMULATOR="1", DJANGO_DEBUG="1")
    assert seen["installed"] is True
    assert seen["tables"] == [
        "simulator_simulatedmedia",
        "simulator_simulatedmessage",
        "simulator_simulatedtemplate",
        "simulator_simulatorfault",
    ]
    assert seen["http"]["phone"] == 200
    assert seen["socket"] == {"connected": True, "code": None}
    assert seen["graph_base_url"] == f"{meta_unreachable}/simulator/graph"


# --- Settings -----------------------------------------------------------------------------------


def load_settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict:
    """pytake/settings.py run afresh under ``env`` (the running settings are left alone)."""
    for name in (*SIMULATOR_SETTINGS, "DJANGO_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(ROOT / "pytake" / "settings.py"))


def test_the_setting_is_off_unless_set(monkeypatch):
    assert load_settings(monkeypatch)["PYTAKE_SIMULATOR"] is False
    assert "simulator" not in load_settings(monkeypatch)["INSTALLED_APPS"]
    assert "simulator" not in load_settings(monkeypatch, DJANGO_DEBUG="1")["INSTALLED_APPS"]
    assert "simulator" in load_settings(monkeypatch, DJANGO_DEBUG="1", PYTAKE_SIMULATOR="1")["INSTALLED_APPS"]


def test_with_debug_off_it_is_refused_unless_production_is_named_too(monkeypatch):
    with pytest.raises(ImproperlyConfigured, match="PYTAKE_SIMULATOR_IN_PRODUCTION"):
        load_settings(monkeypatch, PYTAKE_SIMULATOR="1")
    with pytest.raises(ImproperlyConfigured):
        load_settings(monkeypatch, PYTAKE_SIMULATOR="1", DJANGO_DEBUG="0", PYTAKE_SIMULATOR_IN_PRODUCTION="0")
    named = load_settings(monkeypatch, PYTAKE_SIMULATOR="1", PYTAKE_SIMULATOR_IN_PRODUCTION="1")
    assert named["DEBUG"] is False and "simulator" in named["INSTALLED_APPS"]
    # Naming production alone installs nothing.
    assert "simulator" not in load_settings(monkeypatch, PYTAKE_SIMULATOR_IN_PRODUCTION="1")["INSTALLED_APPS"]


def test_on_with_debug_off_start_up_warns(settings, caplog):
    settings.DEBUG = False
    with caplog.at_level(logging.WARNING, logger="simulator"):
        apps.get_app_config("simulator").ready()
    assert any(r.levelno == logging.WARNING and "SIMULATOR IS ON WITH DEBUG OFF" in r.message for r in caplog.records)
    caplog.clear()
    settings.DEBUG = True
    with caplog.at_level(logging.WARNING, logger="simulator"):
        apps.get_app_config("simulator").ready()
    assert not caplog.records


# --- Graph API base URL -------------------------------------------------------------------------


def test_the_graph_api_is_the_configured_one_else_the_installed_simulator(settings, meta_unreachable):
    assert graph_base_url() == services.graph_base_url() == f"{meta_unreachable}/simulator/graph"
    settings.WHATSAPP_GRAPH_BASE_URL = "https://graph.example.com/"
    assert graph_base_url() == "https://graph.example.com"


# --- The phone socket's Origin -------------------------------------------------------------------

PHONE = "/ws/simulator/phone/?phone_number_id=100&wa_id=5511"


async def open_phone(headers: list[tuple[bytes, bytes]]) -> tuple[bool, int | None]:
    from pytake.asgi import application

    socket = WebsocketCommunicator(application, PHONE, headers=headers)
    connected, code = await socket.connect(timeout=5)
    if connected:
        await socket.disconnect()
    return connected, code


@pytest.mark.django_db
async def test_the_phone_socket_opens_only_for_our_own_pages(settings):
    """As /ws/: an Origin naming one of ALLOWED_HOSTS, or listed in PYTAKE_WS_ALLOWED_ORIGINS. Unlike
    /ws/, no Origin is no entry: there is no token to authenticate a client that sends none."""
    settings.PYTAKE_WS_ALLOWED_ORIGINS = ["https://inbox.example.com"]
    assert await open_phone([PAGE_ORIGIN]) == (True, None)
    assert await open_phone([(b"origin", b"https://inbox.example.com")]) == (True, None)
    assert await open_phone([]) == (False, 4003)
    assert await open_phone([(b"origin", b"https://evil.example")]) == (False, 4003)
    assert await open_phone([(b"origin", b"null")]) == (False, 4003)
