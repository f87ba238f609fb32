"""Waiting on PostgreSQL's row locks in concurrency tests: a test that needs "B is now blocked
behind A" asks the server instead of assuming B got there within some time."""

import time

from django.db import connection, connections

WAIT = 20.0  # seconds before a test gives up on a backend reaching a lock wait


def backend_pid() -> int:
    """This thread's PostgreSQL backend (its connection opened if need be)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def wait_until_blocked(pid: int, *, timeout: float = WAIT) -> None:
    """Return once backend ``pid`` waits on a lock held by another transaction (PostgreSQL's own
    view of it, ``pg_stat_activity.wait_event_type = 'Lock'``); fail after ``timeout``. Asked on
    a connection of its own, so that a caller holding locks in a transaction can ask too."""
    deadline = time.monotonic() + timeout
    watcher = connections.create_connection("default")
    try:
        while True:
            with watcher.cursor() as cursor:
                cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
                row = cursor.fetchone()
            if row is not None and row[0] == "Lock":
                return
            assert time.monotonic() < deadline, f"backend {pid} never waited on a lock ({row})"
            time.sleep(0.01)  # polling PostgreSQL's view of the wait, not guessing at timing
    finally:
        watcher.close()
