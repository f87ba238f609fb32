"""The ASGI server process's life: its own channel-layer group, and a graceful SIGTERM under daphne.

The production server is uvicorn (``realtime/serve.py``), which closes its WebSockets with 1012
itself; this module holds what both servers share (the draining flag, the bound) and daphne's
graceful server class, for ``PYTAKE_ASGI_SERVER=daphne``.

The channel of every process's hub (``realtime.hub``, through which its sockets get their
events) joins ``process_group_name()``, the group of that server process. On SIGTERM (or SIGINT)
daphne's server:

1. stops listening, so the proxy sends new connections to the other replicas;
2. marks itself draining (``/readyz`` answers 503, new consumers may refuse at once);
3. ``group_send``s ``{"type": "server.shutdown"}`` to that group (again each second, for sockets
   that joined late); the hub closes each of its sockets with 1012 ("service restart"), so
   browsers reconnect through the proxy at once and resume from their last event;
4. waits until its connections have closed, at most ``PYTAKE_SHUTDOWN_TIMEOUT`` seconds minus a
   margin, then stops the reactor; daphne cancels whatever is left and the process exits.

A second signal stops at once. Why a server subclass: daphne stops on SIGTERM by stopping the
Twisted reactor, whose "before shutdown" trigger cancels every application instance straight
away (``Server.kill_all_applications``); a hook added beside it would race that cancel. So the
server is started through ``python -m realtime.lifecycle`` (daphne's own command line with this
server class), from ``deploy/asgi-server``, the one place that names the server command.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import sys
import threading
import time
from typing import Any

logger = logging.getLogger(__name__)

SHUTDOWN_MESSAGE: dict[str, str] = {"type": "server.shutdown"}
# Close code a consumer sends on server.shutdown: RFC 6455 "Service Restart", reconnect now.
SHUTDOWN_CLOSE_CODE = 1012
# 1009 too: the consumer's own check of PYTAKE_WS_MAX_FRAME_BYTES (realtime.consumers).
SERVER_CLOSE_CODES = frozenset({1001, 1009, 1011, 1012, 1013})
# Part of the bound kept for daphne to cancel stragglers and Twisted to close the sockets.
_EXIT_MARGIN = 1.5

_WATCHDOG_MARGIN = 0.5

_draining = False


def _hard_exit() -> None:
    logger.error("shutdown bound reached: exiting now")
    for handler in logging.getLogger().handlers:
        handler.flush()
    os._exit(1)


def process_group_name() -> str:
    """``process.<hostname>-<pid>``: the channel-layer group of this server process.

    Channels accepts ``[A-Za-z0-9-_.]`` and fewer than 100 characters in a group name.
    """
    host = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:60] or "host"
    return f"process.{host}-{os.getpid()}"


def is_draining() -> bool:
    """True once this process has received SIGTERM and is closing its sockets."""
    return _draining


def _set_draining(value: bool) -> None:
    global _draining
    _draining = value


async def announce_shutdown() -> None:
    """Ask every socket of this process to close with 1012 (its hub's channel is in the group)."""
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    if layer is not None:
        await layer.group_send(process_group_name(), dict(SHUTDOWN_MESSAGE))


def shutdown_timeout() -> float:
    from django.conf import settings

    return float(getattr(settings, "PYTAKE_SHUTDOWN_TIMEOUT", 10.0))


def _max_send_buffer() -> int:
    from django.conf import settings

    return int(settings.PYTAKE_WS_MAX_SEND_BUFFER)


def _server_class() -> type:
    """Built on demand: importing daphne.server installs the asyncio Twisted reactor, which only a
    server process should do."""
    import asyncio

    from daphne.server import Server
    from daphne.ws_protocol import WebSocketProtocol
    from twisted.internet import reactor as _reactor

    reactor: Any = _reactor  # the installed asyncio reactor; Twisted's interfaces type it narrowly

    class ServiceRestartWebSocketProtocol(WebSocketProtocol):  # type: ignore[misc]
        """Lets the application close with 1012 (and the other server-side codes of RFC 6455's
        registry: 1001 going away, 1009 message too big, 1011 internal error, 1013 try again
        later). Autobahn's
        ``sendClose`` only lets an application send 1000 or 3000-4999, so daphne would turn
        ``close(code=1012)`` into an exception and an abrupt 1011."""

        def serverClose(self, code: int | None = None) -> None:
            if code in SERVER_CLOSE_CODES:
                self.sendCloseFrame(code=code, isReply=False)
            else:
                super().serverClose(code)

        def serverSend(self, content: Any, binary: bool = False) -> None:
            """A client that stops reading must not grow this process without bound: Twisted
            buffers whatever the socket cannot take. Past ``PYTAKE_WS_MAX_SEND_BUFFER`` unsent
            bytes the connection is dropped; the client reconnects and resumes from the log."""
            if getattr(self, "pytake_dropped", False):
                return  # already cut off; the application hears of it shortly
            super().serverSend(content, binary)
            transport = self.transport
            if transport is None:
                return
            pending = len(getattr(transport, "dataBuffer", b"")) - getattr(transport, "offset", 0)
            pending += getattr(transport, "_tempDataLen", 0)
            if pending > _max_send_buffer():
                logger.warning("dropping a WebSocket client that stopped reading (%d bytes unsent)", pending)
                from pytake.metrics import WS_SLOW_CLIENTS_DROPPED

                WS_SLOW_CLIENTS_DROPPED.inc()
                self.pytake_dropped = True
                transport.abortConnection()

    class GracefulServer(Server):  # type: ignore[misc]
        def run(self) -> None:
            # Frames over PYTAKE_WS_MAX_FRAME_BYTES are refused by the WebSocket protocol itself,
            # with 1009, before the application reads them (daphne's default is 1 MB), as
            # uvicorn's ws_max_size does (realtime.serve).
            from django.conf import settings

            self.websocket_max_message_size = int(settings.PYTAKE_WS_MAX_FRAME_BYTES)
            self.websocket_max_frame_size = int(settings.PYTAKE_WS_MAX_FRAME_BYTES)
            self._ports: list[Any] = []
            self._drain_started: float | None = None
            reactor.callWhenRunning(self._install_signal_handlers)
            reactor.addSystemEventTrigger("after", "shutdown", self._after_shutdown)
            super().run()

        def listen_success(self, port: Any) -> None:
            self._ports.append(port)
            super().listen_success(port)

        def _install_signal_handlers(self) -> None:
            # Runs once the reactor runs, before any connection is accepted.
            self.ws_factory.protocol = ServiceRestartWebSocketProtocol
            # A frame over the limit gets a close frame with 1009, as the protocol says, not a
            # connection dropped without one (Autobahn's default), which browsers see as 1006.
            self.ws_factory.setProtocolOptions(failByDrop=False)
            # And after Twisted installed its own handlers (they stop the reactor at once).
            if not self.signal_handlers:
                return

            def handler(signum: int, frame: Any) -> None:
                reactor.callFromThread(self.begin_drain, signal.Signals(signum).name)

            signal.signal(signal.SIGTERM, handler)
            signal.signal(signal.SIGINT, handler)

        def begin_drain(self, why: str) -> None:
            if self._drain_started is not None:
                logger.warning("%s again while draining: stopping now", why)
                self.stop()
                return
            self._drain_started = time.monotonic()
            _set_draining(True)
            # The bound holds even if cancelled applications are slow to clean up (daphne waits
            # for them after the reactor stops): past it, the process ends without ceremony.
            watchdog = threading.Timer(max(shutdown_timeout() - _WATCHDOG_MARGIN, 0.5), _hard_exit)
            watchdog.daemon = True
            watchdog.start()
            for port in self._ports:
                port.stopListening()
            logger.info(
                "%s: stopped listening, closing %d WebSocket connections with %d",
                why,
                len(self._open_websockets()),
                SHUTDOWN_CLOSE_CODE,
            )
            asyncio.ensure_future(self._drain())

        def _open_websockets(self) -> list[Any]:
            return [
                protocol
                for protocol, details in self.connections.items()
                if isinstance(protocol, WebSocketProtocol) and "disconnected" not in details
            ]

        def _busy(self) -> int:
            return sum(1 for details in self.connections.values() if "disconnected" not in details)

        async def _drain(self) -> None:
            deadline = time.monotonic() + max(shutdown_timeout() - _EXIT_MARGIN, 0.5)
            next_announce = 0.0
            try:
                while self._busy() and time.monotonic() < deadline:
                    if time.monotonic() >= next_announce:
                        try:
                            await announce_shutdown()
                        except Exception:
                            logger.exception("could not announce the shutdown on the channel layer")
                        next_announce = time.monotonic() + 1.0
                    await asyncio.sleep(0.05)  # polling the server's own connection table
            finally:
                left = self._busy()
                if left:
                    logger.warning("shutdown bound reached with %d connections open: cancelling them", left)
                else:
                    logger.info("all connections closed: exiting")
                self.stop()

        def _after_shutdown(self) -> None:
            from pytake.metrics import mark_process_dead

            mark_process_dead()

    return GracefulServer


def main(argv: list[str] | None = None) -> None:
    """daphne's command line, with the graceful server class. Same arguments as ``daphne``."""
    import daphne.server  # noqa: F401  (installs the asyncio reactor before anything imports Twisted)
    from daphne.cli import CommandLineInterface

    class GracefulCommandLine(CommandLineInterface):  # type: ignore[misc]
        server_class = _server_class()

    GracefulCommandLine().run(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    # Run through the importable module, so is_draining() reads the same flag everywhere.
    from realtime.lifecycle import main as _main

    _main()
