"""SQLite, the embedded default, is set up for several writers at once (the burst itself is in
tests/ops/test_make_run.py): a busy timeout, transactions that take the write lock when they begin,
and WAL — with no environment and with a ``sqlite://`` DATABASE_URL alike."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.once  # its own processes and environment: the same in both passes

PROBE = """
import json, django
django.setup()
from django.db import connection
with connection.cursor() as cursor:
    pragmas = {name: cursor.execute(f"PRAGMA {name}").fetchone()[0] for name in ("journal_mode", "busy_timeout")}
print(json.dumps({"vendor": connection.vendor, "transaction_mode": connection.transaction_mode, **pragmas}))
"""


@pytest.mark.parametrize("by_url", [False, True], ids=["default", "sqlite-url"])
def test_sqlite_waits_for_its_writer_instead_of_failing(tmp_path, by_url):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(DJANGO_SETTINGS_MODULE="pytake.settings", PYTAKE_DATA_DIR=str(tmp_path))
    if by_url:
        env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'other.sqlite3'}"
    probe = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, check=True, capture_output=True, text=True, timeout=60
    )
    assert json.loads(probe.stdout.strip().splitlines()[-1]) == {
        "vendor": "sqlite",
        "transaction_mode": "IMMEDIATE",
        "journal_mode": "wal",
        "busy_timeout": 20_000,
    }
