"""The production ASGI server: uvicorn (uvloop, httptools, ``websockets``), with PyTake's
graceful SIGTERM. ``deploy/asgi-server`` runs ``python -m realtime.serve HOST PORT``.

Why uvicorn and not daphne: measured on the same machine and payloads, it costs 2.5 × less CPU
per delivered event (docs/benchmarks.md, history: the fan-out run of 2026-11-22 07:05), and every
other scenario there was measured on it. daphne stays supported (``python -m realtime.lifecycle``,
and ``manage.py runserver`` in development).

On SIGTERM (or SIGINT) the process:

1. marks itself draining (``realtime.lifecycle.is_draining``: ``/readyz`` answers 503) and stops
   listening, so the proxy sends new connections to the other replicas;
2. closes every WebSocket with 1012 ("service restart"): browsers reconnect through the proxy at
   once and resume from their last event; each consumer hears ``websocket.disconnect`` and undoes
   its subscriptions and presence before the process goes;
3. lets HTTP requests in flight finish, at most ``PYTAKE_SHUTDOWN_TIMEOUT`` seconds minus a margin;
   then what is left is cancelled and the process exits 0. A watchdog ends it past the bound
   whatever the cleanup is doing; a second signal stops at once.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys
import threading
from types import FrameType
from typing import Any

import uvicorn

from realtime.lifecycle import (
    _EXIT_MARGIN,
    _WATCHDOG_MARGIN,
    SHUTDOWN_CLOSE_CODE,
    _hard_exit,
    _set_draining,
    shutdown_timeout,
)

logger = logging.getLogger("realtime.lifecycle")

APPLICATION = "pytake.asgi:application"


class GracefulServer(uvicorn.Server):
    """uvicorn already stops listening and closes its WebSockets with 1012 on shutdown; this adds
    the draining flag, the bound as a hard limit, an exit status of 0 for a graceful stop (uvicorn
    re-raises the signal it caught) and log lines saying what happened."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        why = signal.Signals(sig).name
        if self.should_exit:
            logger.warning("%s again while draining: stopping now", why)
            self.force_exit = True
            return
        self.should_exit = True
        _set_draining(True)
        watchdog = threading.Timer(max(shutdown_timeout() - _WATCHDOG_MARGIN, 0.5), _hard_exit)
        watchdog.daemon = True
        watchdog.start()
        logger.info(
            "%s: stopped listening, closing %d WebSocket connections with %d",
            why,
            self._open_websockets(),
            SHUTDOWN_CLOSE_CODE,
        )

    def _open_websockets(self) -> int:
        protocol = self.config.ws_protocol_class
        return sum(1 for c in self.server_state.connections if protocol is not None and isinstance(c, protocol))

    async def _wait_tasks_to_complete(self) -> None:
        try:
            await super()._wait_tasks_to_complete()
        except asyncio.CancelledError:  # uvicorn's bound (timeout_graceful_shutdown) was reached
            logger.warning(
                "shutdown bound reached with %d connections open: cancelling them", len(self.server_state.tasks)
            )
            raise
        logger.info("all connections closed: exiting")


def config(app: Any, host: str, port: int) -> uvicorn.Config:
    """The server's settings: the flags the bench measured (uvloop, httptools, the sans-I/O
    ``websockets`` protocol, no per-message deflate), no ASGI lifespan (Channels has none), no
    access log (the request middleware writes one line per request), no protocol pings (the
    client's heartbeat is the application's, on every socket), frames capped at
    ``PYTAKE_WS_MAX_FRAME_BYTES`` (1009)."""
    from django.conf import settings

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        # Not the legacy ``websockets`` protocol (deprecated by uvicorn): without its three tasks
        # per socket, its per-connection handler inspection and its write path, a socket holds
        # 17 % less memory, a reconnect costs 16 % and a fan-out delivery 40 % less server CPU
        # (docs/benchmarks.md, history: commit 213480c, 2026-11-22).
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        ws_ping_interval=None,
        ws_ping_timeout=None,
        ws_max_size=int(settings.PYTAKE_WS_MAX_FRAME_BYTES),
        lifespan="off",
        log_config=None,  # Django's LOGGING (pytake/logging.py) is already in place
        access_log=False,
        proxy_headers=False,  # as under daphne: the application reads X-Forwarded-For itself
        server_header=False,
        timeout_graceful_shutdown=max(1, int(shutdown_timeout() - _EXIT_MARGIN)),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m realtime.serve", description=__doc__.split("\n")[0])
    parser.add_argument("host", nargs="?", default="0.0.0.0")
    parser.add_argument("port", nargs="?", type=int, default=8000)
    parser.add_argument("--app", default=APPLICATION, help="the ASGI application, module:attribute")
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pytake.settings")
    # Loaded before the server starts: Django's logging is configured, and a broken setting fails
    # here, not on the first request.
    app = uvicorn.importer.import_from_string(args.app)
    server = GracefulServer(config(app, args.host, args.port))
    logger.info("serving %s on %s:%d (pid %d, %s)", args.app, args.host, args.port, os.getpid(), socket.gethostname())
    server.run()

    from pytake.metrics import mark_process_dead

    mark_process_dead()
    if not server.started:
        sys.exit(3)  # could not bind, or the application failed to load


if __name__ == "__main__":
    # Run through the importable module, so is_draining() reads the same flag everywhere.
    from realtime.serve import main as _main

    _main()
