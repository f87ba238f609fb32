"""Graceful SIGTERM of the ASGI server, with a real server process: uvicorn (realtime/serve.py,
what ``deploy/asgi-server`` runs) and daphne (realtime/lifecycle.py, ``PYTAKE_ASGI_SERVER=daphne``).

The server runs this module's small ASGI application: a consumer that, like the real one, joins
``process_group_name()`` and closes with 1012 on ``server.shutdown`` (daphne's way; uvicorn
closes the sockets itself); and a stubborn one that ignores that and never finishes its
disconnect, to prove the bound.
"""

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
import websockets
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.routing import ProtocolTypeRouter, URLRouter
from django.conf import settings
from django.core.asgi import get_asgi_application
from django.urls import path

from realtime.lifecycle import SHUTDOWN_CLOSE_CODE, process_group_name
from tests.live import free_port

ROOT = Path(__file__).resolve().parents[2]


class ShutdownAwareConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        self.group = process_group_name()
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json({"group": self.group, "pid": os.getpid()})

    async def disconnect(self, code):
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def server_shutdown(self, event):
        await self.close(code=SHUTDOWN_CLOSE_CODE)


class StubbornConsumer(ShutdownAwareConsumer):
    async def server_shutdown(self, event):
        pass  # never closes: the server must still exit within its bound

    async def disconnect(self, code):
        await asyncio.Event().wait()  # never finishes: the server must still exit within its bound


application = ProtocolTypeRouter(
    {
        "http": get_asgi_application(),
        "websocket": URLRouter(
            [path("ws/", ShutdownAwareConsumer.as_asgi()), path("ws/stubborn/", StubbornConsumer.as_asgi())]
        ),
    }
)


SERVER_COMMANDS = {
    # The same modules and options as deploy/asgi-server, with this test's application.
    "uvicorn": lambda port: ["-m", "realtime.serve", "127.0.0.1", str(port), "--app", TEST_APPLICATION],
    "daphne": lambda port: ["-m", "realtime.lifecycle", "-b", "127.0.0.1", "-p", str(port), "-v", "0"]
    + ["--websocket_timeout", "-1", TEST_APPLICATION],
}
TEST_APPLICATION = "tests.e2e.test_ops_lifecycle:application"


@pytest.fixture(params=sorted(SERVER_COMMANDS))
def server_kind(request):
    return request.param


@pytest.fixture
def server(tmp_path, request, server_kind):
    """A graceful server on a free port serving this module's application; killed on teardown."""
    shutdown_timeout = getattr(request, "param", 10.0)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_DEBUG", "PROMETHEUS_MULTIPROC_DIR"}}
    env.update(
        PYTAKE_DATA_DIR=str(tmp_path),
        PYTAKE_SHUTDOWN_TIMEOUT=str(shutdown_timeout),
        DJANGO_SECRET_KEY="lifecycle-test-secret-key-0123456789abcdef",
        PYTAKE_CHANNEL_PREFIX=f"ops-lifecycle-{uuid.uuid4().hex[:8]}",
    )
    if settings.REDIS_URL:
        env["REDIS_URL"] = settings.REDIS_URL
    log_path = tmp_path / "server.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, *SERVER_COMMANDS[server_kind](port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", proc, timeout=60)
        yield proc, port, shutdown_timeout, log_path
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def wait_http(url: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)  # polling the server's start-up
    raise AssertionError(f"{url} did not answer within {timeout}s")


async def wait_exit(proc: subprocess.Popen, timeout: float) -> float:
    started = time.monotonic()
    while proc.poll() is None:
        if time.monotonic() - started > timeout:
            raise AssertionError(f"server still running {timeout}s after SIGTERM")
        await asyncio.sleep(0.05)  # polling the child's exit
    return time.monotonic() - started


async def test_sigterm_closes_sockets_with_1012_and_exits_within_the_bound(server):
    proc, port, bound, log_path = server
    clients = [await websockets.connect(f"ws://127.0.0.1:{port}/ws/", open_timeout=10) for _ in range(3)]
    try:
        for client in clients:
            hello = await asyncio.wait_for(client.recv(), timeout=10)
            assert f'"pid": {proc.pid}' in hello
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        for client in clients:
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(client.recv(), timeout=bound)
            assert client.close_code == SHUTDOWN_CLOSE_CODE, client.close_code
        # Sockets closed by the application, not by the deadline: well inside the bound.
        assert time.monotonic() - started < bound / 2
        took = await wait_exit(proc, timeout=bound + 2)
        assert proc.returncode == 0, log_path.read_text()[-2000:]
        assert took < bound
        # Stopped listening: nothing answers on the port any more.
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
    finally:
        for client in clients:
            await client.close()
    assert "closing 3 WebSocket connections with 1012" in log_path.read_text()


@pytest.mark.parametrize("server", [3.0], indirect=True)
async def test_sigterm_exits_within_the_bound_even_if_a_socket_never_closes(server):
    proc, port, bound, log_path = server
    stubborn = await websockets.connect(f"ws://127.0.0.1:{port}/ws/stubborn/", open_timeout=10)
    try:
        await asyncio.wait_for(stubborn.recv(), timeout=10)
        proc.send_signal(signal.SIGTERM)
        took = await wait_exit(proc, timeout=bound + 3)
        assert took <= bound + 1, took
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(stubborn.recv(), timeout=5)
    finally:
        await stubborn.close()
    assert "shutdown bound reached with 1 connections open" in log_path.read_text()
