"""pytest fixtures for tests that drive Chromium against a real server.

They are registered for the whole suite by ``pytest_plugins`` in tests/conftest.py:

- ``chromium``: the Playwright browser (Debian's /usr/bin/chromium, headless), one per module.
  Without Chromium the test skips with the reason, or fails under PYTAKE_REQUIRE_SERVICES=1.
- ``asgi_server``: the production server in a subprocess on a free port, sharing the test database (see
  server.py): one process per module (``module_server``), its rows the test's own;
  ``server_settings`` (a module-scoped fixture a module may override) adds to its environment.
- ``production_static``: the static files as production collects them (hashed names), once per
  session.
- ``harness_page``: a page with static/pytake/*.js loaded from the checkout and a scripted fake
  WebSocket (no server, no database): unit tests of the client module in the real engine.
- ``new_page``: ``new_page()`` opens a page in a fresh browser context (own sessionStorage, as a
  second person on another computer) with ``base_url`` set to the server. When the test fails,
  each page's console, errors and WebSocket traffic are printed with the server's log.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from tests.browser.harness import open_harness
from tests.browser.server import AsgiServer, collect_static, collect_static_as_production, free_port, server_env
from tests.live import addressed

__all__ = [
    "CHROMIUM",
    "SCREENSHOTS",
    "asgi_server",
    "chromium",
    "harness_page",
    "module_server",
    "new_page",
    "production_static",
    "server_settings",
    "static_data_dir",
]

CHROMIUM = os.environ.get("PYTAKE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REQUIRE_SERVICES = os.environ.get("PYTAKE_REQUIRE_SERVICES") == "1"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def _unavailable(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"PYTAKE_REQUIRE_SERVICES=1 and {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    # Module scope, not session: while Playwright's sync API is running, an event loop is running
    # in this thread, and later asyncio tests (pytest-asyncio) cannot start theirs.
    if not Path(CHROMIUM).exists():
        _unavailable(f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; Django would then refuse ORM
    # calls from the test body as "async-unsafe". The test body is plain synchronous code.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="session")
def static_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("pytake-server")
    collect_static(data_dir)
    return data_dir


@pytest.fixture(scope="session")
def production_static(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The files production's collectstatic makes (hashed names, the manifest), collected once per
    session for every test that reads or serves them: ``(data_dir, env)``, with the collected
    files in ``data_dir / "static"`` and ``env`` the environment that collected them (render
    pages with it to see what production references)."""
    data_dir = tmp_path_factory.mktemp("pytake-manifest")
    return data_dir, collect_static_as_production(data_dir)


# The browser tests drive the queue by hand (take, assign, transfer): automatic assignment would
# hand the waiting conversations to whoever is online first. It has its own tests (test_queue.py).
MANUAL_ASSIGNMENT = {"PYTAKE_AUTO_ASSIGN": "0"}


@pytest.fixture(scope="module")
def server_settings() -> dict[str, str]:
    """Environment for the server process beyond the tests' own; override this fixture in a test
    module (module scope, as the server's), adding to it: ``{**MANUAL_ASSIGNMENT, ...}``."""
    return MANUAL_ASSIGNMENT


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.stash[_CALL_FAILED] = report.failed
    return report


_CALL_FAILED = pytest.StashKey[bool]()


@pytest.fixture(scope="module")
def module_server(
    django_db_setup: None,
    static_data_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
    server_settings: dict[str, str],
) -> Iterator[AsgiServer]:
    """One server process for the tests of a module (starting one costs about two seconds of CPU;
    a module's tests share its settings). Each test still has its own rows (``asgi_server``) and
    Redis state (the test process empties its Redis database before each test)."""
    if connection.vendor != "postgresql":
        _unavailable("a server process needs a database it can share: set DATABASE_URL to PostgreSQL")
    env = {**server_env(data_dir=static_data_dir), **server_settings}
    port = free_port()
    # The Cloud API simulator posts its webhooks (and the Graph client calls it) here: this server.
    env = addressed(env, f"http://127.0.0.1:{port}")
    server = AsgiServer(env=env, log_path=tmp_path_factory.mktemp("server") / "server.log", port=port)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def asgi_server(
    request: pytest.FixtureRequest, transactional_db: None, settings: Any, module_server: AsgiServer
) -> Iterator[AsgiServer]:
    """The module's server (started again if a test left it stopped), for one test: its rows are
    committed so the server sees them, and publishes from this process reach the server's sockets."""
    server = module_server
    if settings.REDIS_URL:
        # Publishes from this process must reach the server's sockets: same Redis, same prefix.
        layers = {**settings.CHANNEL_LAYERS}
        config = {**layers["default"]["CONFIG"], "prefix": server.env["PYTAKE_CHANNEL_PREFIX"]}
        layers["default"] = {**layers["default"], "CONFIG": config}
        settings.CHANNEL_LAYERS = layers
    if not server.running:
        server.start()
    log_start = server.log_size()
    try:
        yield server
    finally:
        if not server.running:
            server.start()  # a test stopped it and failed before starting it again
        if request.node.stash.get(_CALL_FAILED, False):
            # What the server said is most of what there is to know about a failed browser test.
            print(f"--- the server's log during the test ({server.log_path}) ---\n{server.log_tail(start=log_start)}")


@pytest.fixture
def demo(asgi_server: AsgiServer) -> Any:
    """The demo's tenant, staff and conversations (``scenario.seed_demo``), committed for the
    module's server; a module that needs more adds to it in its own ``demo``."""
    from tests.browser import scenario  # models: only once Django is set up

    return scenario.seed_demo()


def record_traffic(page: Any, lines: deque[str]) -> None:
    """Keeps what the page logs, throws and sends or receives on its sockets in ``lines`` (the
    last ``lines.maxlen``), with UTC times to match the server's log: what the client saw when a
    browser test fails."""

    def add(what: str, text: Any) -> None:
        text = str(text)
        at = datetime.now(UTC).strftime("%H:%M:%S.%f")[:-3]
        lines.append(f"{at} {what} {text[:300]}{'…' if len(text) > 300 else ''}")

    def on_websocket(ws: Any) -> None:
        add("ws-open", ws.url.split("?")[0])
        ws.on("framesent", lambda payload: add("ws-sent", payload))
        ws.on("framereceived", lambda payload: add("ws-recv", payload))
        ws.on("close", lambda _ws: add("ws-closed", ws.url.split("?")[0]))

    page.on("console", lambda message: add(f"console.{message.type}", message.text))
    page.on("pageerror", lambda error: add("pageerror", error))
    page.on("websocket", on_websocket)


@pytest.fixture
def new_page(request: pytest.FixtureRequest, chromium: Any, asgi_server: AsgiServer) -> Iterator[Callable[..., Any]]:
    contexts: list[Any] = []
    traffic: list[tuple[str, deque[str]]] = []

    def make(**context_options: Any) -> Any:
        options = {
            "base_url": asgi_server.url,
            "viewport": {"width": 1280, "height": 800},
            "locale": "en-US",
            # The pages' Content-Security-Policy forbids eval, which Playwright's string
            # predicates (wait_for_function) use; tests/e2e/test_browser_security.py runs a
            # page under the policy (bypass_csp=False).
            "bypass_csp": True,
        }
        options.update(context_options)
        context = chromium.new_context(**options)
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        lines: deque[str] = deque(maxlen=400)
        record_traffic(page, lines)
        traffic.append((f"page {len(traffic) + 1}", lines))
        return page

    yield make
    if request.node.stash.get(_CALL_FAILED, False):
        for name, lines in traffic:
            print(f"--- {name}: console, errors and socket frames (UTC) ---")
            print("\n".join(lines) or "(nothing)")
    for context in contexts:
        context.close()


@pytest.fixture
def harness_page(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context()
    context.set_default_timeout(5_000)
    try:
        yield open_harness(context.new_page())
    finally:
        context.close()
