"""Shared fixtures. Tests that need PostgreSQL or Redis carry the ``postgres`` / ``redis`` marker:
without the service they skip with a reason, unless PYTAKE_REQUIRE_SERVICES=1, where they fail."""

import os
import socket
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from conversations.models import Role, User
from tests import factories
from tests.flush import deleting_flush
from tests.workers import isolate_redis

REQUIRE_SERVICES = os.environ.get("PYTAKE_REQUIRE_SERVICES") == "1"

# Browser fixtures (chromium, asgi_server, new_page, harness_page) and the Cloud API simulator's
# (sim), registered once for the suite.
pytest_plugins = ["tests.browser.fixtures", "tests.simulator.support"]

# Under pytest-xdist, a Redis database per worker (the PostgreSQL one is pytest-django's doing).
isolate_redis(settings)


def _on_postgres() -> bool:
    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def _on_redis() -> bool:
    return bool(settings.REDIS_URL)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    missing = {
        "postgres": None if _on_postgres() else "needs PostgreSQL: set DATABASE_URL (make test does)",
        "redis": None if _on_redis() else "needs Redis: set REDIS_URL (make test does)",
    }
    for item in items:
        for marker, reason in missing.items():
            if reason and item.get_closest_marker(marker):
                if REQUIRE_SERVICES:
                    item.add_marker(pytest.mark.usefixtures("_services_required"))
                else:
                    item.add_marker(pytest.mark.skip(reason=reason))


def _skipped(config: pytest.Config) -> list[pytest.TestReport]:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    return list(reporter.stats.get("skipped", [])) if reporter is not None else []


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return reason.removeprefix("Skipped: ")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A skipped test is a check that did not run: under PYTAKE_REQUIRE_SERVICES=1 (CI) it fails
    the run, whatever its reason (a missing browser, nginx, server binary or service)."""
    if REQUIRE_SERVICES and exitstatus == pytest.ExitCode.OK and _skipped(session.config):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Skips are said loudly, at the end, with what would make them run."""
    skipped = _skipped(config)
    if not skipped:
        return
    verdict = "this fails the run (PYTAKE_REQUIRE_SERVICES=1)" if REQUIRE_SERVICES else "they checked nothing"
    terminalreporter.section(f"{len(skipped)} tests SKIPPED: {verdict}", sep="!", red=True, bold=True)
    for reason, count in Counter(_skip_reason(report) for report in skipped).most_common():
        terminalreporter.line(f"{count:4d} x {reason}", red=True)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(
    django_db_modify_db_settings_parallel_suffix: None, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """pytest-django's database name per xdist worker; and on SQLite, test on a database file, as
    ``make run`` serves, not Django's default shared in-memory database: there, threads (live
    servers, the simulator's webhook thread) collide on table locks ("database table is locked")
    that no busy timeout waits out."""
    if not _on_postgres():
        test = settings.DATABASES["default"].setdefault("TEST", {})
        test["NAME"] = str(tmp_path_factory.mktemp("sqlite") / "test-pytake.sqlite3")


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """pytest-django's, and then every other connection to the test database closed before it is
    dropped (PostgreSQL refuses to drop a database with sessions: "is being accessed by other
    users", and the database stays behind)."""
    yield
    from django.db import connections

    for connection in connections.all(initialized_only=True):
        close_pool = getattr(connection, "close_pool", None)
        if close_pool is not None:
            close_pool()
    if _on_postgres():
        # The executor threads of database_sync_to_async(thread_sensitive=False) outlive the
        # tests, each with the connection it opened: idle now, and out of reach of this thread.
        with django_db_blocker.unblock(), connections["default"].cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )


@pytest.fixture(scope="session", autouse=True)
def _deleting_flush() -> Iterator[None]:
    """Transactional tests end by deleting their rows, not with Django's flush (tests/flush.py)."""
    with deleting_flush():
        yield


@pytest.fixture(scope="session", autouse=True)
def meta_unreachable() -> Iterator[str]:
    """Where Graph API calls and simulator webhooks go unless a test points them at a server it
    started (``sim``, the live servers): a loopback port bound here and never listened on, so
    every connection is refused and no other process (``make run``'s demo on 8000, say) can take
    it. For this process's settings and for the environment of every process a test starts."""
    held = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    held.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{held.getsockname()[1]}"
    with (
        pytest.MonkeyPatch.context() as environment,
        override_settings(PYTAKE_PUBLIC_URL=url, WHATSAPP_GRAPH_BASE_URL="", WHATSAPP_SIMULATOR_WEBHOOK_URL=""),
    ):
        environment.setenv("PYTAKE_PUBLIC_URL", url)
        environment.delenv("WHATSAPP_GRAPH_BASE_URL", raising=False)
        environment.delenv("WHATSAPP_SIMULATOR_WEBHOOK_URL", raising=False)
        yield url
    held.close()


@pytest.fixture
def _services_required() -> None:
    pytest.fail("PYTAKE_REQUIRE_SERVICES=1 and a required service is not configured")


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _presence_unbatched(settings: Any) -> None:
    """Presence announced at once, so that tests asserting silence on a socket are not reached by
    a batch that closes later; the batching has its own tests (and live servers keep it on)."""
    settings.PYTAKE_PRESENCE_BATCH_SECONDS = 0


@pytest.fixture(autouse=True)
def _fresh_cache() -> Any:
    """Throttles and presence live in the cache, replays share windows of the log read before:
    start every test from empty ones (ids are reused after a rolled-back test on SQLite)."""
    from django.core.cache import cache

    from realtime.replay import forget_windows

    cache.clear()
    forget_windows()
    yield


@pytest.fixture
async def clean_realtime(settings: Any) -> AsyncIterator[None]:
    """For tests of sockets: a fresh presence registry and channel layer (channels-redis binds its
    connections to the event loop), no socket an earlier run left in the test Redis database's
    registry, and both closed after the test."""
    from realtime.presence import reset_registry
    from tests.ws import close_layer, flush_layer  # tests.ws imports this module

    reset_registry()
    await flush_layer()
    if settings.REDIS_URL:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(settings.REDIS_URL)
        keys = [k async for k in client.scan_iter(f"{settings.PYTAKE_PRESENCE_PREFIX}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
    yield
    reset_registry()
    await close_layer()


@pytest.fixture
def tenant() -> Any:
    return factories.TenantFactory()


@pytest.fixture
def other_tenant() -> Any:
    return factories.TenantFactory()


@pytest.fixture
def admin_user(tenant: Any) -> User:
    return factories.UserFactory(tenant=tenant, role=Role.ADMIN)


@pytest.fixture
def supervisor(tenant: Any) -> User:
    return factories.UserFactory(tenant=tenant, role=Role.SUPERVISOR)


@pytest.fixture
def agent(tenant: Any) -> User:
    return factories.UserFactory(tenant=tenant, role=Role.AGENT)


@pytest.fixture
def agent2(tenant: Any) -> User:
    return factories.UserFactory(tenant=tenant, role=Role.AGENT)


@pytest.fixture
def foreign_admin(other_tenant: Any) -> User:
    return factories.UserFactory(tenant=other_tenant, role=Role.ADMIN)


def access_token_for(user: User) -> str:
    return str(RefreshToken.for_user(user).access_token)


@pytest.fixture
def api_for() -> Callable[[User | None], APIClient]:
    """``api_for(user)``: an API client sending that user's JWT (``None``: anonymous)."""

    def make(user: User | None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token_for(user)}")
        return client

    return make


@pytest.fixture
def without_flow() -> Iterator[list[int]]:
    """Tests of the WhatsApp layer alone: inbound messages are not handed to the bot/queue (the
    ids that would have been are collected instead). The flow has its own tests, and
    tests/whatsapp/test_whatsapp_flow.py runs both together."""
    from conversations.signals import customer_message_received
    from flow.apps import hand_to_flow

    handed: list[int] = []

    def collect(sender: Any, *, message_id: int, **kwargs: Any) -> None:
        handed.append(message_id)

    customer_message_received.disconnect(hand_to_flow, dispatch_uid="flow.hand_to_flow")
    customer_message_received.connect(collect, dispatch_uid="tests.without_flow", weak=False)
    yield handed
    customer_message_received.disconnect(collect, dispatch_uid="tests.without_flow")
    customer_message_received.connect(hand_to_flow, dispatch_uid="flow.hand_to_flow")
