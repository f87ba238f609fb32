"""Creating the PostgreSQL database a URL names, when it is missing (``make test``, ``make
stack``, the bench). Imports no Django: the tools calling it run before settings exist."""

from __future__ import annotations

from urllib.parse import urlsplit


def ensure_database(database_url: str) -> bool:
    """Create the database of ``database_url`` through the server's ``postgres`` maintenance
    database. Returns True when it had to be created."""
    import psycopg
    from psycopg import sql

    url = database_url.replace("postgres://", "postgresql://", 1)
    name = urlsplit(url).path.lstrip("/")
    # libpq takes the URL as is; dbname= points the connection at the maintenance database.
    with psycopg.connect(url, dbname="postgres", autocommit=True, connect_timeout=5) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return True
