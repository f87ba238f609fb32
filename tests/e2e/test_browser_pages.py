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

from tests.ops.test_api_docs import assert_same_origin, page_assets

ROOT = Path(__file__).resolve().parents[2]
MODULES = ["pytake/realtime.js", "pytake/api.js", "pytake/i18n.js", "pytake/inbox.js", "pytake/pytake.css"]


def test_the_inbox_is_served_at_the_root(client):
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    config = re.search(r'<script id="pytake-config" type="application/json">(.*?)</script>', html)
    assert config and json.loads(config.group(1)) == {"api": "/api/", "ws": "/ws/"}
    assert '<script type="module" src="/static/pytake/inbox.js">' in html
    assert 'role="log"' in html and 'aria-live="polite"' in html  # new messages are announced
    assert client.post("/").status_code == 405


def test_the_modules_are_found_by_staticfiles():
    for name in MODULES:
        assert finders.find(name), name


@pytest.mark.once  # an environment of its own
def test_production_collects_hashed_files_for_the_page(tmp_path):
    """DEBUG off with the manifest storage (the default in production): collectstatic succeeds
    and the page points at the hashed inbox module; its relative imports still resolve because
    the unhashed copies are collected too."""
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTAKE_DATA_DIR": str(tmp_path),
        "DJANGO_SECRET_KEY": "collect-only-secret-key-0123456789abcdef",
        "PYTAKE_MANIFEST_STATIC": "1",
    }
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=120,
    )
    manifest = json.loads((tmp_path / "static" / "staticfiles.json").read_text())["paths"]
    for name in MODULES:
        assert name in manifest and (tmp_path / "static" / manifest[name]).exists(), name
        assert (tmp_path / "static" / name).exists(), name
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
    assert f'src="/static/{manifest["pytake/inbox.js"]}"' in page
    # The API docs load Swagger UI from the collected, hashed files (drf-spectacular-sidecar).
    static = [url for url in page_assets(docs) if url.startswith("/static/")]
    assert_same_origin(page_assets(docs))
    assert len(static) >= 3
    hashed = set(manifest.values())
    for url in static:
        assert (
            url.removeprefix("/static/") in hashed and (tmp_path / "static" / url.removeprefix("/static/")).exists()
        ), url
