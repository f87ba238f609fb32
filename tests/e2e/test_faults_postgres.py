"""PostgreSQL stopped in the middle of a webhook burst: the webhook answers 5xx while it cannot
store a delivery, Meta retries (this test plays Meta), and once PostgreSQL is back every message
is stored exactly once. The database is an instance of this test's own, on its own port."""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.e2e.test_faults import report
from tests.live import OWN_ADDRESSES, ROOT, LiveServer, free_port
from tests.whatsapp.support import body_of, signature_for, text_payload

BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))), None)
pytestmark = [pytest.mark.postgres]


@pytest.fixture
def own_postgres(tmp_path):
    if BIN is None or shutil.which("runuser") is None:
        pytest.skip("PostgreSQL server binaries are not installed")
    # Not under tmp_path: pytest's folders are private to root, and PostgreSQL runs as postgres.
    home = Path(tempfile.mkdtemp(prefix="pytake-pg-"))
    os.chmod(home, 0o755)
    data = home / "pgdata"
    data.mkdir()
    shutil.chown(data, "postgres", "postgres")
    port = free_port()
    as_postgres = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*as_postgres, str(BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"

    def ctl(*args):
        subprocess.run(
            [*as_postgres, str(BIN / "pg_ctl"), "-D", str(data), "-l", str(data / "log"), "-w", *args],
            check=True,
            capture_output=True,
            timeout=120,
        )

    ctl("-o", options, "start")
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", autocommit=True) as conn:
        conn.execute("CREATE DATABASE pytake")
    yield {
        "url": f"postgres://postgres@127.0.0.1:{port}/pytake",
        "stop": lambda: ctl("-m", "immediate", "stop"),
        "start": lambda: ctl("-o", options, "start"),
    }
    subprocess.run([*as_postgres, str(BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
    shutil.rmtree(home, ignore_errors=True)


def deliver(url, payload, secret):
    body = body_of(payload)
    try:
        return httpx.post(
            url,
            content=body,
            timeout=10,
            headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature_for(body, secret)},
        ).status_code
    except httpx.TransportError:
        return 0


@pytest.mark.timeout(600)
def test_postgres_down_during_a_webhook_burst_loses_nothing(own_postgres, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", *OWN_ADDRESSES} and not k.startswith("PYTEST")}
    env.update(
        DATABASE_URL=own_postgres["url"],
        DJANGO_DEBUG="1",
        PYTAKE_DATA_DIR=str(tmp_path / "data"),
        DATABASE_CONN_MAX_AGE="0",
        WHATSAPP_SIMULATOR_STATUS_DELAYS="",
    )
    for command in (["migrate", "--noinput"], ["seed_demo"]):
        subprocess.run(
            [sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True, capture_output=True, timeout=300
        )
    server = LiveServer(env, tmp_path)
    server.wait_ready()
    url = f"{server.url}/webhooks/whatsapp/"
    account, secret = "100000000000001", "demo-app-secret"  # the demo number from seed_demo
    payloads = [
        text_payload(
            account, wa_id=f"55117{i % 7:08d}", wamid=f"wamid.pgdown.{i}", text=f"burst {i}", ts=1_700_000_000 + i
        )
        for i in range(60)
    ]
    pending, refused_5xx = [], 0
    try:
        for i, payload in enumerate(payloads):
            if i == 20:
                own_postgres["stop"]()
                stopped_at = time.monotonic()
            if i == 40:
                own_postgres["start"]()
            status = deliver(url, payload, secret)
            assert status == 200 or status >= 500 or status == 0, status  # never a 4xx that stops Meta
            if status != 200:
                refused_5xx += 1
                pending.append(payload)
        # Meta retries failed deliveries with backoff; so does this test, within a deadline.
        deadline = time.monotonic() + 120
        while pending and time.monotonic() < deadline:
            pending = [p for p in pending if deliver(url, p, secret) != 200]
            if pending:
                time.sleep(0.5)  # the retry backoff
        recovered = time.monotonic() - stopped_at
    finally:
        server.stop()
    assert not pending, f"{len(pending)} deliveries never accepted"
    with psycopg.connect(own_postgres["url"].replace("postgres://", "postgresql://", 1)) as conn:
        stored, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT whatsapp_message_id) FROM conversations_message "
            "WHERE whatsapp_message_id LIKE 'wamid.pgdown.%%'"
        ).fetchone()
    report(
        "postgres_down",
        webhooks=len(payloads),
        answered_5xx=refused_5xx,
        messages_stored=stored,
        lost=len(payloads) - distinct,
        duplicated=stored - distinct,
        recovery_seconds=round(recovered, 2),
    )
    assert refused_5xx > 0, "PostgreSQL was down for 20 deliveries: some must have been refused"
    assert stored == distinct == len(payloads)
