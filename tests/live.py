"""Real server processes for tests: the production server (``deploy/asgi-server``: uvicorn,
``realtime.serve``, unless ``PYTAKE_ASGI_SERVER=daphne``) in subprocesses on free ports,
sharing the test database.

Use with ``transactional_db`` so rows the test writes are committed and visible to the servers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from django.conf import settings

# The bench's: a port below the ephemeral range, so that a server restarted on its port (the
# server-kill tests, with hundreds of clients reconnecting meanwhile) does not find it taken by
# one of their sockets.
from bench.common import free_port

ROOT = Path(__file__).resolve().parent.parent


def database_url() -> str:
    """The URL of the database pytest-django created for this run."""
    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.postgresql":
        user, host, port = db.get("USER") or "postgres", db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432
        password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
        return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"
    return f"sqlite:///{db['NAME']}"


# The test process's threads come and go with each test (event loops' executors, threads of
# concurrency tests) and would keep the connections they borrowed from a pool: it does not pool.
TEST_PROCESS_POOL_SIZE = "0"


# Addresses a server works out for itself (``LiveServer``: its own URL), never inherited from the
# environment the tests run in, where they could name another server (the demo on port 8000).
OWN_ADDRESSES = ("PYTAKE_PUBLIC_URL", "WHATSAPP_GRAPH_BASE_URL", "WHATSAPP_SIMULATOR_WEBHOOK_URL")


def server_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST") and k not in OWN_ADDRESSES}
    # The test process does not pool database connections (pyproject.toml); servers do, as in
    # production, unless a test says otherwise.
    if env.get("DATABASE_POOL_MAX_SIZE") == TEST_PROCESS_POOL_SIZE:
        del env["DATABASE_POOL_MAX_SIZE"]
    env.update(
        DATABASE_URL=database_url(),
        DJANGO_SECRET_KEY=settings.SECRET_KEY,
        PYTAKE_DATA_DIR=str(ROOT / "var" / "test-live"),
    )
    if settings.REDIS_URL:
        env["REDIS_URL"] = settings.REDIS_URL
    env.update(extra)
    return env


def addressed(env: dict[str, str], url: str) -> dict[str, str]:
    """``env`` for a server at ``url``: the simulator's Graph API and the webhooks it posts are
    that server itself, unless the test named another address."""
    return {**env, "PYTAKE_PUBLIC_URL": env.get("PYTAKE_PUBLIC_URL") or url}


def server_command(port: int) -> list[str]:
    """The production server command, ``deploy/asgi-server`` (uvicorn, or daphne with
    ``PYTAKE_ASGI_SERVER=daphne`` in the server's environment), on a loopback port."""
    script = str(ROOT / "deploy" / "asgi-server")
    # Its interpreter is this one (``PYTHON``), whatever environment the caller built; env and sh
    # exec, so the process started is the server itself (signals reach it).
    return ["/usr/bin/env", f"PYTHON={sys.executable}", "/bin/sh", script, "127.0.0.1", str(port)]


class LiveServer:
    """A server process serving pytake.asgi on a free loopback port."""

    def __init__(self, env: dict[str, str], log_dir: Path, port: int | None = None) -> None:
        self.log_dir = log_dir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = addressed(env, self.url)
        self.ws_url = f"ws://127.0.0.1:{self.port}/ws/"
        self.log_path = log_dir / f"server-{self.port}.log"
        self._log = self.log_path.open("a")
        self.proc = subprocess.Popen(
            server_command(self.port),
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise TimeoutError(f"{self.url} not ready in {timeout}s: {self.log_tail()}")

    def restart(self, sig: int = signal.SIGKILL) -> LiveServer:
        """Stop this process and start a new one on the same port (what a supervisor does)."""
        self.stop(sig)
        return LiveServer(self.env, self.log_dir, port=self.port)

    def log_tail(self) -> str:
        self._log.flush()
        return self.log_path.read_text()[-3000:]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self._log.close()


def start_servers(count: int, log_dir: Path, **env: Any) -> list[LiveServer]:
    """``count`` servers sharing one database and (when configured) one Redis, with a channel
    prefix of their own so concurrent test runs never cross."""
    shared = server_env(
        **{
            "PYTAKE_CHANNEL_PREFIX": f"pytake-test-{uuid.uuid4().hex[:8]}",
            "PYTAKE_PRESENCE_PREFIX": f"pytake-test-presence-{uuid.uuid4().hex[:8]}",
            **env,  # a test that publishes from its own process gives the servers its prefix
        }
    )
    servers = [LiveServer(shared, log_dir) for _ in range(count)]
    try:
        for server in servers:
            server.wait_ready()
    except Exception:
        for server in servers:
            server.stop(signal.SIGKILL)
        raise
    return servers
