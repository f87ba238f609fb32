"""`make test`, `make stack` and the bench point at a database that a fresh machine does not have:
``ensure_database`` creates it, once."""

import uuid

import psycopg
import pytest

from pytake.database import ensure_database
from tests.live import database_url


def _exists(admin_url: str, name: str) -> bool:
    with psycopg.connect(admin_url, dbname="postgres", autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


@pytest.mark.postgres
def test_a_missing_database_is_created_once():
    server = database_url().replace("postgres://", "postgresql://", 1).rsplit("/", 1)[0]
    name = f"pytake_setup_{uuid.uuid4().hex[:8]}"
    url = f"{server}/{name}"
    assert not _exists(url, name)
    try:
        assert ensure_database(url.replace("postgresql://", "postgres://", 1)) is True
        assert _exists(url, name)
        assert ensure_database(url) is False  # already there: nothing to do
    finally:
        with psycopg.connect(url, dbname="postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
