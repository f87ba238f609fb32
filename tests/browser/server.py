"""A real PyTake server (the production one, ``realtime.serve``, in a subprocess) on a free port,
pointed at the test database.

Reuse it from any test that needs a browser or a real socket client (the fixtures are registered
for the whole suite in tests/conftest.py)::

    def test_x(asgi_server, new_page): ...

``asgi_server`` uses ``transactional_db``: rows the test creates are committed, so the server
process sees them. The server shares the test process's DATABASE_URL database (the ``test_``
one), its JWT signing key and, with REDIS_URL, its Redis database and channel-layer prefix
(``tests.live.server_env``), so an event published by the test process (a ``post_save`` in a
service call) reaches the server's sockets. Without PostgreSQL the test database is in memory and cannot be shared: the fixture
skips (fails under PYTAKE_REQUIRE_SERVICES=1).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from tests.live import free_port, server_command
from tests.live import server_env as live_server_env

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class AsgiServer:
    """One server process serving ``pytake.asgi:application``. ``restart()`` keeps the port."""

    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    _log: IO[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/"

    def start(self, timeout: float = 30) -> None:
        self._log = self.log_path.open("a")
        self.proc = subprocess.Popen(
            server_command(self.port),
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError as exc:
                last = exc
            time.sleep(0.1)  # polling a port that is not bound yet: there is nothing to wait on
        raise RuntimeError(f"the server did not answer within {timeout}s ({last}):\n{self.log_tail()}")

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM (the server closes its sockets with 1012), SIGKILL if it lingers."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=timeout)
        self.proc = None
        if self._log:
            self._log.close()
            self._log = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def log_tail(self, chars: int = 4000, start: int = 0) -> str:
        """The last ``chars`` characters of the log, from byte ``start`` on."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(start)
                return log.read().decode(errors="replace")[-chars:]
        except OSError:
            return ""


def server_env(*, data_dir: Path) -> dict[str, str]:
    """A server environment sharing the test database, Redis and keys (``tests.live``), with its
    own channel and presence prefixes (the test process must use the same channel prefix), tasks
    run in the server, collected static files, and the production settings (DEBUG off)."""
    return live_server_env(
        PYTAKE_CHANNEL_PREFIX=f"pytake-test-{uuid.uuid4().hex[:10]}",
        PYTAKE_PRESENCE_PREFIX=f"pytake-test-presence-{uuid.uuid4().hex[:10]}",
        PYTAKE_DATA_DIR=str(data_dir),
        DATABASE_CONN_MAX_AGE="0",  # the test flushes tables between tests
        CELERY_TASK_ALWAYS_EAGER="1",  # sending, bot: inside the server, no worker in tests
        DJANGO_DEBUG="0",
        PYTAKE_MANIFEST_STATIC="0",
        PYTAKE_LOGIN_THROTTLE="1000/min",
        LOG_LEVEL="INFO",  # shown only when a test fails
    )


def collect_static(data_dir: Path) -> None:
    """With DEBUG off, whitenoise serves the collected files: collect them once per session."""
    env = {**os.environ, "PYTAKE_DATA_DIR": str(data_dir), "DJANGO_DEBUG": "0", "PYTAKE_MANIFEST_STATIC": "0"}
    env.pop("DATABASE_URL", None)
    _collectstatic(env)


# What production's collectstatic sees: no database, no Redis, DEBUG off, the manifest storage
# (hashed names), and the simulator installed so that its phone page is collected too.
PRODUCTION_COLLECT_ENV = {
    "PATH": "/usr/bin:/bin",
    "DJANGO_SECRET_KEY": "collect-only-secret-key-0123456789abcdef",
    "PYTAKE_MANIFEST_STATIC": "1",
    "PYTAKE_SIMULATOR": "1",
    "PYTAKE_SIMULATOR_IN_PRODUCTION": "1",
}


def collect_static_as_production(data_dir: Path, **env: str) -> dict[str, str]:
    """collectstatic into ``data_dir/static`` as production runs it (``PRODUCTION_COLLECT_ENV``,
    with ``env`` on top); returns the environment, for rendering pages against those files."""
    production = {**PRODUCTION_COLLECT_ENV, "PYTAKE_DATA_DIR": str(data_dir), **env}
    _collectstatic(production)
    return production


def _collectstatic(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=120,
    )
