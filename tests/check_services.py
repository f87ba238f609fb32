"""Exit 0 when PostgreSQL and Redis answer at the given URLs, 1 otherwise (used by `make test`)."""

import sys

import psycopg
import redis


def available(database_url: str, redis_url: str) -> tuple[bool, str]:
    try:
        psycopg.connect(database_url.replace("postgres://", "postgresql://", 1), connect_timeout=3).close()
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
