"""`make run` from this checkout: migrates, seeds, and serves /healthz, /api/schema/ and the
Cloud API simulator's phone page (the demo turns the simulator on itself)."""

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.live import OWN_ADDRESSES, free_port

ROOT = Path(__file__).resolve().parents[2]


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
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout}s: {last_error}")


def test_make_run_serves_the_demo(tmp_path):
    port = free_port()
    own = {
        "DATABASE_URL",
        "REDIS_URL",
        "DJANGO_SECRET_KEY",
        "PYTAKE_SIMULATOR",
        "PYTAKE_SIMULATOR_IN_PRODUCTION",
        *OWN_ADDRESSES,
    }
    env = {k: v for k, v in os.environ.items() if k not in own}
    env["PYTAKE_DATA_DIR"] = str(tmp_path)
    log = (tmp_path / "run.log").open("w+")
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "run", f"PORT={port}"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        health = wait_for_http(f"http://127.0.0.1:{port}/healthz", timeout=90, proc=proc)
        assert health.json() == {"status": "ok"}
        schema = httpx.get(f"http://127.0.0.1:{port}/api/schema/", timeout=10)
        assert schema.status_code == 200
        assert "/api/conversations/" in schema.text
        login = httpx.post(
            f"http://127.0.0.1:{port}/api/auth/token/",
            json={"email": "agent@demo.test", "password": "demo1234"},
            timeout=10,
        )
        assert login.status_code == 200, login.text
        phone = httpx.get(f"http://127.0.0.1:{port}/simulator/phone/", timeout=10)
        assert phone.status_code == 200 and "WhatsApp simulator" in phone.text
    except AssertionError:
        log.seek(0)
        pytest.fail(log.read()[-4000:])
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    log.seek(0)
    assert "agent@demo.test" in log.read()  # the logins are printed
