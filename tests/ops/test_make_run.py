"""`make run` from this checkout, as someone trying PyTake for the first time gets it: migrates,
seeds and serves the embedded default (SQLite, in-memory layer, eager Celery, the simulator).
One server for the module; each test checks one thing its first user meets."""

import asyncio
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import pytest
import websockets

from flow.management.commands.seed_demo import DEMO_PASSWORD, DEMO_PHONE_NUMBER_ID
from tests.live import OWN_ADDRESSES, free_port
from tests.ops.test_api_docs import assert_same_origin, page_assets

ROOT = Path(__file__).resolve().parents[2]
# make run sets its own environment: the same in both passes of `make test`.
pytestmark = pytest.mark.once


@dataclass
class MakeRun:
    url: str
    proc: subprocess.Popen[bytes]
    log: IO[str]

    def log_text(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def login(self, email: str = "agent@demo.test") -> dict[str, str]:
        response = httpx.post(
            f"{self.url}/api/auth/token/", json={"email": email, "password": DEMO_PASSWORD}, timeout=30
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access']}"}


def wait_for_http(url: str, timeout: float, proc: subprocess.Popen) -> httpx.Response:
    """Wait until ``url`` answers, failing early if the server process died."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}")
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError as exc:
            last_error = exc
            time.sleep(0.2)  # polling a port that is not bound yet: there is nothing to wait on
    raise AssertionError(f"{url} did not answer within {timeout}s: {last_error}")


@pytest.fixture(scope="module")
def make_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MakeRun]:
    port = free_port()
    data_dir = tmp_path_factory.mktemp("make-run")
    own = {
        "DATABASE_URL",
        "REDIS_URL",
        "DJANGO_SECRET_KEY",
        "PYTAKE_SIMULATOR",
        "PYTAKE_SIMULATOR_IN_PRODUCTION",
        *OWN_ADDRESSES,
    }
    env = {k: v for k, v in os.environ.items() if k not in own}
    env["PYTAKE_DATA_DIR"] = str(data_dir)
    # The burst below opens more web-chat sessions from one address than a minute allows.
    env["PYTAKE_WEBCHAT_SESSION_THROTTLE"] = "1000/min"
    log = (data_dir / "run.log").open("w+")
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "run", f"PORT={port}"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = MakeRun(url=f"http://127.0.0.1:{port}", proc=proc, log=log)
    try:
        health = wait_for_http(f"{server.url}/healthz", timeout=120, proc=proc)
        assert health.json() == {"status": "ok"}
        yield server
    except AssertionError:
        pytest.fail(server.log_text()[-4000:])
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        log.close()


def test_make_run_serves_the_demo(make_run):
    schema = httpx.get(f"{make_run.url}/api/schema/", timeout=10)
    assert schema.status_code == 200
    assert "/api/conversations/" in schema.text
    make_run.login()
    assert "agent@demo.test" in make_run.log_text()  # the logins are printed


def test_the_api_docs_load_without_internet(make_run):
    """Swagger UI's files come from the server itself, and it serves them."""
    page = httpx.get(f"{make_run.url}/api/docs/", timeout=10)
    assert page.status_code == 200
    assets = page_assets(page.text)
    assert_same_origin(assets)
    for url in assets:
        response = httpx.get(f"{make_run.url}{url}", timeout=30)
        assert response.status_code == 200, url
        assert response.content, url


def test_the_first_task_logs_no_broker_warning(make_run):
    """Eager Celery has no broker to reach: the first task must not warn about its hostname."""
    headers = make_run.login("admin@demo.test")
    wa_id = "5511900001234"
    with httpx.Client(base_url=make_run.url, timeout=30) as http:
        http.get("/simulator/phone/")  # the phone page sets the CSRF cookie its form sends
        sent = http.post(
            "/simulator/phone/api/send",
            data={"phone_number_id": DEMO_PHONE_NUMBER_ID, "wa_id": wa_id, "name": "First", "text": "hello?"},
            headers={"X-CSRFToken": http.cookies["csrftoken"]},
        )
        assert sent.status_code == 202, sent.text
        # The simulator delivers the webhook from its thread; an eager task stores the message.
        deadline = time.monotonic() + 60
        while "Task whatsapp.process_webhook" not in make_run.log_text():
            assert time.monotonic() < deadline, make_run.log_text()[-3000:]
            time.sleep(0.2)  # the webhook arrives on the server's own schedule: poll for it
        conversations = http.get("/api/conversations/", headers=headers).json()["results"]
        assert any(c["contact"]["wa_id"] == wa_id for c in conversations)
    assert "No hostname was supplied" not in make_run.log_text()


CUSTOMERS, ROUNDS = 8, 3


def test_sqlite_takes_a_burst_of_writers_at_once(make_run):
    """Eight web-chat customers write at the same moment while the simulator's phone sends and
    an agent resolves conversations: every write succeeds (SQLite waits for its writer instead of
    failing with "database is locked"), no socket is closed with 1011, no request answers 500."""
    headers = make_run.login("admin@demo.test")
    problems: list[str] = []

    async def scenario() -> None:
        async with httpx.AsyncClient(base_url=make_run.url, timeout=60) as http:
            sessions = []
            for i in range(CUSTOMERS):
                response = await http.post("/api/webchat/sessions/", json={"tenant": "demo", "name": f"Customer {i}"})
                assert response.status_code == 201, response.text
                sessions.append(response.json())
            ws_url = make_run.url.replace("http://", "ws://") + "/ws/"
            sockets = [await websockets.connect(ws_url, subprotocols=["bearer", s["token"]]) for s in sessions]
            for ws in sockets:
                assert json.loads(await asyncio.wait_for(ws.recv(), 30))["type"] == "hello"
            await http.get("/simulator/phone/")
            csrf = {"X-CSRFToken": http.cookies["csrftoken"]}

            async def customer(i: int, ws: websockets.ClientConnection, round_: int) -> None:
                ref = f"{i}-{round_}"
                try:
                    await ws.send(json.dumps({"action": "message", "text": f"hi {ref}", "client_id": ref, "ref": ref}))
                    while True:
                        frame = json.loads(await asyncio.wait_for(ws.recv(), 60))
                        if frame.get("ref") == ref:
                            if frame["type"] != "ack":
                                problems.append(f"customer {i}: {frame}")
                            return
                except websockets.ConnectionClosed as exc:
                    problems.append(f"customer {i}: socket closed {exc.rcvd}")

            async def agent(conversation_id: int) -> None:
                response = await http.post(f"/api/conversations/{conversation_id}/resolve/", headers=headers)
                if response.status_code != 200:
                    problems.append(f"resolve {conversation_id}: {response.status_code} {response.text[:300]}")

            async def phone(i: int, round_: int) -> None:
                data = {
                    "phone_number_id": DEMO_PHONE_NUMBER_ID,
                    "wa_id": f"55119{i:03d}{round_:04d}",
                    "name": f"Phone {i}",
                    "text": f"oi {round_}",
                }
                response = await http.post("/simulator/phone/api/send", data=data, headers=csrf)
                if response.status_code != 202:
                    problems.append(f"phone send: {response.status_code} {response.text[:300]}")

            for round_ in range(ROUNDS):
                await asyncio.gather(
                    *(customer(i, ws, round_) for i, ws in enumerate(sockets)),
                    *(agent(s["conversation_id"]) for s in sessions[:3]),
                    *(phone(i, round_) for i in range(3)),
                )
            for ws in sockets:
                await ws.close()

    asyncio.run(scenario())
    log = make_run.log_text()
    assert not problems, "\n".join(problems) + "\n" + log[-3000:]
    assert "database is locked" not in log
