"""An event's WebSocket frame, built once per process and written to every socket as is.

A server-to-client text frame is the same bytes for every socket that gets the same text: no
mask, and no extension here (``realtime.serve`` turns compression off). Through ASGI, though,
each socket's ``websocket.send`` has the server encode the text and build and serialise its
own frame: at N = 1,000 that per-socket work was what kept the fan-out behind Node Socket.IO,
which, like ``websockets.broadcast()``, encodes a packet once and writes it to every socket
(docs/benchmarks.md, history: commit 1914e25, 2026-11-22).

So when a socket is served by uvicorn's sans-I/O ``websockets`` protocol (the production
server), ``Wire`` writes the event's frame, serialised once for all sockets by ``websockets``
itself, to the socket's transport, as that protocol's own ``send`` would after encoding it, and
only when that ``send`` would write at once: the connection open, no close sent, the transport
not paused by back-pressure. Otherwise (a full buffer, a closing socket, another server such as
daphne, an extension negotiated) the consumer sends through ASGI as before, and the hub's
slow-reader handling applies unchanged.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State

from realtime.events import customer_event_text


def frame(text: str) -> bytes:
    """The bytes of an unmasked, unfragmented text frame of ``text`` (a server's frame)."""
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False, extensions=[])


def event_frame(message: dict[str, Any]) -> bytes:
    """The frame of an event's text, serialised once per event: the hub hands the same message
    to every socket of the process."""
    try:
        return message["_frame"]  # type: ignore[no-any-return]
    except KeyError:
        data = message["_frame"] = frame(message["text"])
        return data


def customer_event_frame(message: dict[str, Any]) -> bytes:
    """``event_frame`` of the web-chat customer's form of the event (``customer_event_text``)."""
    try:
        return message["_customer_frame"]  # type: ignore[no-any-return]
    except KeyError:
        data = message["_customer_frame"] = frame(customer_event_text(message))
        return data


class Wire:
    """Direct writes to one socket of uvicorn's sans-I/O protocol (see the module docstring)."""

    __slots__ = ("protocol",)

    def __init__(self, protocol: Any) -> None:
        self.protocol = protocol

    @classmethod
    def of(cls, send: Any) -> Wire | None:
        """The wire behind an ASGI ``send`` callable, or None when it is not uvicorn's sans-I/O
        protocol with no extension negotiated (then frames go through ``send``)."""
        protocol = getattr(send, "__self__", None)
        if not isinstance(protocol, WebSocketsSansIOProtocol) or protocol.conn.extensions:
            return None
        return cls(protocol)

    def ready(self) -> bool:
        """Whether the protocol's own ``send`` would write a frame at once: the connection is
        open, no close was sent, the transport is not paused by back-pressure."""
        protocol = self.protocol
        return (
            protocol.writable.is_set()
            and not protocol.close_sent
            and not protocol.disconnected
            and protocol.conn.state is State.OPEN
        )

    def put(self, data: bytes) -> None:
        """Write a frame, ``ready()`` having just said so (nothing ran in between)."""
        self.protocol.transport.write(data)

    def write(self, data: bytes) -> bool:
        """Write a frame if the protocol's own ``send`` would write it at once; False (nothing
        written) when it would wait or refuse: send through ASGI then."""
        if not self.ready():
            return False
        self.put(data)
        return True
