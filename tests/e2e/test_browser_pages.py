"""The page shells and their static files, without a browser: routing, the config the page
reads, and that production's manifest storage collects and references the ES modules (and the
API docs' Swagger UI)."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from playwright.sync_api import expect

from tests.browser import scenario
from tests.browser.fixtures import MANUAL_ASSIGNMENT
from tests.browser.server import collect_static_as_production
from tests.e2e.test_browser_inbox import LIVE, conversation_item, login
from tests.ops.test_api_docs import assert_same_origin, page_assets

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "static"
INBOX_MODULES = sorted(str(path.relative_to(STATIC)) for path in (STATIC / "pytake" / "inbox").glob("*.js"))
MODULES = ["pytake/realtime.js", "pytake/api.js", "pytake/i18n.js", "pytake/pytake.css", *INBOX_MODULES]


def test_the_inbox_is_served_at_the_root(client):
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    config = re.search(r'<script id="pytake-config" type="application/json">(.*?)</script>', html)
    assert config and json.loads(config.group(1)) == {"api": "/api/", "ws": "/ws/"}
    assert '<script type="module" src="/static/pytake/inbox/main.js">' in html
    assert 'role="log"' in html and 'aria-live="polite"' in html  # new messages are announced
    assert client.post("/").status_code == 405


def test_the_modules_are_found_by_staticfiles():
    for name in MODULES:
        assert finders.find(name), name


@pytest.mark.once  # an environment of its own
def test_production_collects_hashed_files_for_the_page(production_static):
    """DEBUG off with the manifest storage (the default in production): collectstatic succeeds
    and the page points at the hashed inbox entry module; its relative imports still resolve because
    the unhashed copies are collected too."""
    data_dir, env = production_static
    manifest = json.loads((data_dir / "static" / "staticfiles.json").read_text())["paths"]
    for name in MODULES:
        assert name in manifest and (data_dir / "static" / manifest[name]).exists(), name
        assert (data_dir / "static" / name).exists(), name
    pages = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, json; django.setup(); from django.test import Client;"
            " print(json.dumps([Client().get(p, HTTP_HOST='localhost').content.decode() for p in ('/', '/api/docs/')]))",
        ],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "pytake.settings"},
        check=True,
        timeout=60,
        capture_output=True,
        text=True,
    ).stdout
    page, docs = json.loads(pages.strip().splitlines()[-1])
    assert f'src="/static/{manifest["pytake/inbox/main.js"]}"' in page
    # The API docs load Swagger UI from the collected, hashed files (drf-spectacular-sidecar).
    static = [url for url in page_assets(docs) if url.startswith("/static/")]
    assert_same_origin(page_assets(docs))
    assert len(static) >= 3
    hashed = set(manifest.values())
    for url in static:
        assert (
            url.removeprefix("/static/") in hashed and (data_dir / "static" / url.removeprefix("/static/")).exists()
        ), url


@pytest.mark.once  # an environment of its own
def test_the_modules_import_one_way_so_production_may_hash_their_imports(tmp_path):
    """Django's manifest storage can rewrite relative imports to hashed names
    (``support_js_module_import_aggregation``), which a cycle in the modules' imports defeats:
    collectstatic fails ("Max post-process passes exceeded"). With it on, every import of every
    module names a hashed file that was collected."""
    collect_static_as_production(tmp_path, DJANGO_SETTINGS_MODULE="tests.browser.hashed_imports")
    static = tmp_path / "static"
    manifest = json.loads((static / "staticfiles.json").read_text())["paths"]
    hashed = set(manifest.values())
    for name in [*MODULES, "webchat/widget.js", "simulator/phone.js"]:
        if not name.endswith(".js"):
            continue
        module = static / manifest[name]
        for target in re.findall(r'from "(\.[^"]+)"', module.read_text()):
            resolved = (module.parent / target).resolve().relative_to(static.resolve()).as_posix()
            assert resolved in hashed, (name, target)


@pytest.fixture(scope="module")
def static_data_dir(production_static):
    """This module's server serves the files as production does: hashed names from the manifest."""
    data_dir, _env = production_static
    return data_dir


@pytest.fixture(scope="module")
def server_settings():
    return {**MANUAL_ASSIGNMENT, "PYTAKE_MANIFEST_STATIC": "1"}


@pytest.mark.browser
@pytest.mark.postgres
@pytest.mark.redis
def test_the_inbox_runs_from_the_hashed_files_production_serves(new_page, asgi_server, static_data_dir):
    """The page loads the hashed entry module; every module it imports (relative paths) is
    found, once each, and the inbox works: sign in, the list, a conversation."""
    demo = scenario.seed_demo()
    manifest = json.loads((static_data_dir / "static" / "staticfiles.json").read_text())["paths"]
    page = new_page()
    failed, scripts = [], []
    page.on("response", lambda response: failed.append(response.url) if response.status >= 400 else None)
    page.on("request", lambda request: scripts.append(request.url) if request.resource_type == "script" else None)
    login(page, demo.agent)
    conversation_item(page, "Maria Silva").click()
    expect(page.locator(".msg-in .msg-text")).to_have_text(["Olá! Meu pedido ainda não chegou."], timeout=LIVE)
    assert f"{asgi_server.url}/static/{manifest['pytake/inbox/main.js']}" in scripts
    modules = [url.split("/static/", 1)[1] for url in scripts if "/static/" in url]
    assert len(modules) == len(set(modules))  # one instance of each module: one shared state
    assert set(INBOX_MODULES) - {"pytake/inbox/main.js"} <= set(modules)
    assert not failed


@pytest.mark.browser
@pytest.mark.postgres
@pytest.mark.redis
def test_every_page_links_an_icon_that_is_served(new_page, asgi_server):
    """Without a <link rel="icon"> a browser asks for /favicon.ico, a 404 on the phone and
    web-chat pages; each page names the shipped icon, and it is served."""
    demo = scenario.seed_demo()
    page = new_page()
    for path in ("/", f"/chat/{demo.tenant.slug}/", "/simulator/phone/"):
        page.goto(path)
        icon = page.locator('link[rel="icon"]')
        expect(icon).to_have_count(1)
        href = icon.get_attribute("href")
        assert href.startswith("/static/pytake/favicon"), (path, href)
        answer = page.request.get(href)
        assert answer.status == 200 and answer.headers["content-type"].startswith("image/svg+xml"), (path, href)
