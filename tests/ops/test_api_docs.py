"""/api/docs/ works without internet: Swagger UI's files are served by PyTake itself
(drf-spectacular-sidecar), never fetched from a CDN. tests/ops/test_make_run.py fetches them from
`make run`'s server, and tests/e2e/test_browser_pages.py from production's collected files."""

import re

from django.conf import settings
from django.contrib.staticfiles import finders


def page_assets(html: str) -> list[str]:
    """Every URL the page loads by itself: scripts, stylesheets, icons, and the schema Swagger UI
    fetches (``url: "…"`` in its inline script)."""
    return re.findall(r'(?:src|href)="([^"]+)"', html) + re.findall(r'\burl: "([^"]+)"', html)


def assert_same_origin(urls: list[str]) -> None:
    assert urls
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), f"{url} is not served by PyTake"


def test_the_docs_page_loads_only_files_of_its_own(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assets = page_assets(html)
    assert_same_origin(assets)
    assert "http://" not in html and "https://" not in html
    static = [url for url in assets if url.startswith(settings.STATIC_URL)]
    assert len(static) >= 3  # Swagger UI's stylesheet, bundle and preset
    for url in static:
        assert finders.find(url.removeprefix(settings.STATIC_URL)), f"{url} is not among the static files"
    assert "/api/schema/" in assets
