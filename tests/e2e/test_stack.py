"""The production topology for real: two ASGI servers behind nginx on loopback (deploy/stack.py,
what `make stack` runs), on this run's PostgreSQL database and Redis db.

Started once for the module on free ports under a temporary directory, and stopped with
`deploy/stack.py down` (which only signals the pids it wrote) in teardown, even on failure.
"""

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import websockets
from django.conf import settings

from tests.conftest import REQUIRE_SERVICES
from tests.workers import worker_suffix

ROOT = Path(__file__).resolve().parents[2]
SHUTDOWN_BOUND = 10.0  # PYTAKE_SHUTDOWN_TIMEOUT's default
SIMULATOR_SETTINGS = ("PYTAKE_SIMULATOR", "PYTAKE_SIMULATOR_IN_PRODUCTION")

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def free_ports(n: int) -> list[int]:
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def stack_database_url() -> str:
    """This run's database name + ``_stack`` (+ the xdist worker's suffix): the servers need
    committed data, not the test's."""
    parts = urlsplit(os.environ["DATABASE_URL"])
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "_stack" + worker_suffix()))


class Stack:
    def __init__(self, directory: Path, nginx_port: int, web_ports: list[int]):
        self.dir = directory
        self.nginx_port = nginx_port
        self.web_ports = web_ports
        self.base = f"http://127.0.0.1:{nginx_port}"
        self.database_url = stack_database_url()

    def run(self, command: str, *extra: str, timeout: float = 180) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(ROOT / "deploy" / "stack.py"), command, "--dir", str(self.dir), *extra],
            cwd=ROOT,
            # The stack's own secret key (kept in its directory) and no simulator (the suite turns
            # it on for itself), as `make stack` would have it.
            env={k: v for k, v in os.environ.items() if k not in {"DJANGO_SECRET_KEY", *SIMULATOR_SETTINGS}},
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def up(self) -> None:
        result = self.run(
            "up",
            "--port",
            str(self.nginx_port),
            "--web-ports",
            ",".join(map(str, self.web_ports)),
            "--database-url",
            self.database_url,
            "--redis-url",
            settings.REDIS_URL,
            "--channel-prefix",
            f"ops-stack-{uuid.uuid4().hex[:8]}",
            "--only",
            "web1,web2,nginx",
            "--timeout",
            "120",
        )
        assert result.returncode == 0, result.stdout + result.stderr

    def ensure_running(self, name: str) -> None:
        """Restart one stopped process of the stack (``up --only``), as an operator would."""
        pid = self.dir / f"{name}.pid"
        if pid.exists() and _alive(int(pid.read_text())):
            return
        result = self.run(
            "up",
            "--skip-migrate",
            "--only",
            name,
            "--port",
            str(self.nginx_port),
            "--web-ports",
            ",".join(map(str, self.web_ports)),
            "--database-url",
            self.database_url,
            "--redis-url",
            settings.REDIS_URL,
        )
        assert result.returncode == 0, result.stdout + result.stderr

    def down(self) -> subprocess.CompletedProcess:
        return self.run("down", timeout=60)

    def pid(self, name: str) -> int:
        return int((self.dir / f"{name}.pid").read_text())

    def web_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.web_ports[int(name[-1]) - 1]}"

    def server_id(self, name: str) -> str:
        """The ``server`` a replica reports in /readyz (``<hostname>-<pid>``)."""
        return httpx.get(f"{self.web_url(name)}/readyz", timeout=5).json()["server"]

    def manage(self, code: str) -> str:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in {"DJANGO_DEBUG", "PROMETHEUS_MULTIPROC_DIR", *SIMULATOR_SETTINGS}
        }
        env.update(
            DATABASE_URL=self.database_url,
            REDIS_URL=settings.REDIS_URL,
            DJANGO_SECRET_KEY=(self.dir / "secret_key").read_text().strip(),
            PYTAKE_DATA_DIR=str(self.dir / "data"),
            LOG_LEVEL="WARNING",
        )
        result = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", code],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    if not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()):
        reason = "nginx is not installed: `make nginx` installs it"
        if REQUIRE_SERVICES:
            pytest.fail(f"PYTAKE_REQUIRE_SERVICES=1 and {reason}")
        pytest.skip(reason)
    nginx_port, web1, web2 = free_ports(3)
    the_stack = Stack(tmp_path_factory.mktemp("stack"), nginx_port, [web1, web2])
    try:
        the_stack.up()
        yield the_stack
    finally:
        result = the_stack.down()
        # Nothing it started is left behind.
        leftovers = [p.name for p in the_stack.dir.glob("*.pid")]
        assert result.returncode == 0 and not leftovers, result.stdout + result.stderr + str(leftovers)


def test_http_through_nginx_reaches_both_replicas_and_metrics_aggregate_them(stack):
    stack.ensure_running("web1")
    servers = {stack.server_id("web1"), stack.server_id("web2")}
    assert len(servers) == 2
    assert {s.rsplit("-", 1)[1] for s in servers} == {str(stack.pid("web1")), str(stack.pid("web2"))}
    seen = set()
    for _ in range(8):
        response = httpx.get(f"{stack.base}/readyz", timeout=5)
        assert response.status_code == 200, response.text
        assert response.headers["X-Request-ID"]  # nginx's id reached PyTake and came back
        seen.add(response.json()["server"])
    assert seen == servers
    # Multi-process metrics: whichever replica answers counts the requests of both.
    text = httpx.get(f"{stack.base}/metrics", timeout=5).text
    counted = sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith('pytake_http_requests_total{method="GET",route="readyz",status="200"}')
    )
    assert counted >= 10


def test_the_stack_has_no_simulator(stack):
    """Production settings without PYTAKE_SIMULATOR: no phone page, no Graph API of its own, no
    tables, and sends go to Meta's Graph API."""
    assert httpx.get(f"{stack.base}/simulator/phone/", timeout=5).status_code == 404
    assert httpx.post(f"{stack.base}/simulator/faults", json={"kind": "rate_limit"}, timeout=5).status_code == 404
    seen = stack.manage(
        "from django.apps import apps; from django.db import connection; from whatsapp.client import graph_base_url; "
        "print(apps.is_installed('simulator'), [t for t in connection.introspection.table_names() if 'simulat' in t], "
        "graph_base_url())"
    )
    assert seen.splitlines()[-1].split() == ["False", "[]", "https://graph.facebook.com"]


def _post_message(base: str, token: str, conversation_id: int, text: str) -> int:
    response = httpx.post(
        f"{base}/api/conversations/{conversation_id}/messages/",
        json={"text": text, "client_id": str(uuid.uuid4())},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


class Client:
    """A browser tab: one socket, the largest event id seen, the message ids received."""

    def __init__(self, name: str):
        self.name = name
        self.ws = None
        self.last_event_id = 0
        self.event_ids: list[int] = []
        self.message_ids: set[int] = set()
        self.duplicates: list[dict] = []

    async def connect(self, url: str, token: str) -> dict:
        self.ws = await websockets.connect(url, subprotocols=["bearer", token], open_timeout=10)
        hello = json.loads(await asyncio.wait_for(self.ws.recv(), timeout=10))
        assert hello["type"] == "hello", hello
        return hello

    async def command(self, ref: str, **fields) -> dict:
        await self.ws.send(json.dumps({"ref": ref, **fields}))
        while True:
            frame = await self.next_frame()
            if frame.get("ref") == ref and frame["type"] in {"ack", "error"}:
                assert frame["type"] == "ack", frame
                return frame

    async def next_frame(self, timeout: float = 10) -> dict:
        frame = json.loads(await asyncio.wait_for(self.ws.recv(), timeout=timeout))
        if "id" in frame:
            if frame["id"] in self.event_ids:
                # The protocol has clients ignore an id already seen; keep count for diagnosis.
                self.duplicates.append(frame)
                return frame
            self.event_ids.append(frame["id"])
            self.last_event_id = max(self.last_event_id, frame["id"])
            if frame["type"] == "message.new":
                self.message_ids.add(frame["data"]["id"])
        return frame

    async def wait_message(self, message_id: int, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while message_id not in self.message_ids:
            await self.next_frame(timeout=max(deadline - time.monotonic(), 0.01))


async def test_messages_cross_replicas_and_clients_fail_over_without_loss(stack):
    run = uuid.uuid4().hex[:10]  # the stack's database outlives test runs: unique names
    seed = json.loads(
        stack.manage(
            "import json; from tests import factories; from conversations.models import Role;"
            "from rest_framework_simplejwt.tokens import RefreshToken;"
            f"t = factories.TenantFactory(slug='ops-{run}');"
            f"s = factories.UserFactory(tenant=t, role=Role.SUPERVISOR, email='sup-{run}@ops.test');"
            "c = factories.ConversationFactory(tenant=t);"
            "print(json.dumps({'token': str(RefreshToken.for_user(s).access_token), 'conversation': c.pk}))"
        )
        .strip()
        .splitlines()[-1]
    )
    token, conversation = seed["token"], seed["conversation"]
    stack.ensure_running("web1")
    ws = {name: f"ws://127.0.0.1:{port}/ws/" for name, port in zip(("web1", "web2"), stack.web_ports, strict=True)}
    via_nginx = f"ws://127.0.0.1:{stack.nginx_port}/ws/"
    on_web1 = [Client("a1"), Client("a2")]
    on_web2 = [Client("b1"), Client("b2")]
    clients = on_web1 + on_web2
    try:
        for client in on_web1:
            await client.connect(ws["web1"], token)
        for client in on_web2:
            await client.connect(ws["web2"], token)
        for client in clients:
            await client.command("j1", action="join", conversation_id=conversation)

        # Posted through one replica, delivered to the clients of both.
        m1 = _post_message(stack.web_url("web1"), token, conversation, "via web1")
        m2 = _post_message(stack.web_url("web2"), token, conversation, "via web2")
        for client in clients:
            await client.wait_message(m1)
            await client.wait_message(m2)

        # Stop web1: its clients are told to reconnect (1012), and it exits within the bound.
        started = time.monotonic()
        os.kill(stack.pid("web1"), signal.SIGTERM)
        for client in on_web1:
            with pytest.raises(websockets.ConnectionClosed):
                while True:
                    await client.next_frame(timeout=SHUTDOWN_BOUND)
            assert client.ws.close_code == 1012
        while _alive(stack.pid("web1")):
            assert time.monotonic() - started < SHUTDOWN_BOUND, "web1 outlived its shutdown bound"
            await asyncio.sleep(0.05)  # polling web1's exit

        # While they are away a message arrives (through nginx, now served by web2 alone).
        m3 = _post_message(stack.base, token, conversation, "while reconnecting")
        for client in on_web2:
            await client.wait_message(m3)

        # They reconnect through nginx, land on web2, resume, and miss nothing.
        for client in on_web1:
            await client.connect(via_nginx, token)
            await client.command("j2", action="join", conversation_id=conversation)
            await client.command("r1", action="resume", last_event_id=client.last_event_id)
            assert m3 in client.message_ids, f"{client.name} did not get the message sent while away"
        m4 = _post_message(stack.base, token, conversation, "after failover")
        for client in clients:
            await client.wait_message(m4)
            assert {m1, m2, m3, m4} <= client.message_ids
    finally:
        for client in clients:
            if client.ws is not None:
                await client.ws.close()


def test_sigterm_on_one_replica_ends_within_the_bound_and_nginx_keeps_serving(stack):
    stack.ensure_running("web1")
    survivor = stack.server_id("web2")
    pid = stack.pid("web1")
    started = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    answered = []
    while _alive(pid):
        assert time.monotonic() - started < SHUTDOWN_BOUND, "web1 outlived its shutdown bound"
        # Meanwhile every request through nginx is answered (by web2 once web1 stopped listening).
        response = httpx.get(f"{stack.base}/healthz", timeout=5)
        answered.append(response.status_code)
    assert set(answered) <= {200}
    for _ in range(4):
        response = httpx.get(f"{stack.base}/readyz", timeout=5)
        assert response.status_code == 200
        assert response.json()["server"] == survivor
    log = (stack.dir / "logs" / "web1.log").read_text()
    assert "SIGTERM: stopped listening" in log
    stack.ensure_running("web1")  # whole again for whatever runs next
    assert len({stack.server_id("web1"), survivor}) == 2


def _alive(pid: int) -> bool:
    """Running (an exited child not yet reaped by its new parent counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"
