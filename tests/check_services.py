"""Exit 0 when PostgreSQL and Redis answer at the given URLs, 1 otherwise (used by `make test`).

The database the URL names is created when the server answers but the database is missing (a
fresh machine has none): the suite's own test database is made by pytest-django, but the live
servers, `manage.py` and the tools are pointed at this one."""

import sys

import redis

from pytake.database import ensure_database


def available(database_url: str, redis_url: str) -> tuple[bool, str]:
    try:
        if ensure_database(database_url):
            print(f"created the database of {database_url}")
    except Exception as exc:
        return False, f"PostgreSQL at {database_url}: {exc}"
    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=3).ping()
    except Exception as exc:
        return False, f"Redis at {redis_url}: {exc}"
    return True, "PostgreSQL and Redis are reachable"


if __name__ == "__main__":
    ok, why = available(sys.argv[1], sys.argv[2])
    print(why)
    sys.exit(0 if ok else 1)
