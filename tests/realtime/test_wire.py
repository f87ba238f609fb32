"""realtime.wire: an event's frame, serialised once, written straight to a socket of uvicorn's
sans-I/O protocol (the production server) is byte for byte what that protocol's own ``send``
writes, and it is written only when that ``send`` would write at once."""

import asyncio
import json

import pytest
from uvicorn.config import Config
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState

from realtime.wire import Wire, event_frame, frame

HANDSHAKE = (
    b"GET /ws/ HTTP/1.1\r\nHost: testserver\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


class Transport(asyncio.Transport):
    """What the protocol writes, kept in order."""

    def __init__(self):
        super().__init__()
        self.written = []
        self.closing = False

    def write(self, data):
        self.written.append(bytes(data))

    def take(self):
        data, self.written = b"".join(self.written), []
        return data

    def is_closing(self):
        return self.closing

    def close(self):
        self.closing = True

    def get_extra_info(self, name, default=None):
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def pause_reading(self):
        pass

    def resume_reading(self):
        pass


async def open_socket(headers=b"", **config):
    """A real protocol of uvicorn's, past the handshake with a minimal application: (the
    protocol, its transport, the application's ``send``)."""
    accepted = asyncio.get_running_loop().create_future()

    async def app(scope, receive, send):
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        accepted.set_result(send)
        await asyncio.Event().wait()

    settings = Config(app=app, ws="websockets-sansio", lifespan="off", **config)
    settings.load()
    protocol = WebSocketsSansIOProtocol(settings, ServerState(), {})
    transport = Transport()
    protocol.connection_made(transport)
    protocol.data_received(HANDSHAKE[:-2] + headers + b"\r\n")
    send = await asyncio.wait_for(accepted, 5)
    assert transport.take().startswith(b"HTTP/1.1 101")
    return protocol, transport, send


@pytest.mark.parametrize("size", [10, 300, 70_000])  # the three length encodings of a frame
async def test_a_direct_write_is_what_uvicorns_send_writes(size):
    protocol, transport, send = await open_socket(ws_per_message_deflate=False)
    text = json.dumps({"type": "message.new", "id": 7, "data": {"text": "é" * size}})
    await send({"type": "websocket.send", "text": text})
    through_asgi = transport.take()
    wire = Wire.of(send)
    assert wire is not None
    assert wire.write(frame(text)) is True
    assert transport.take() == through_asgi
    protocol.connection_lost(None)


async def test_an_events_frame_is_serialised_once_for_every_socket():
    message = {"type": "realtime.event", "text": '{"type":"presence"}'}
    first = event_frame(message)
    assert first == frame(message["text"])
    message["text"] = "changed"  # not read again: every socket gets the same bytes
    assert event_frame(message) is first


async def test_nothing_is_written_directly_when_the_protocols_send_would_wait_or_refuse():
    protocol, transport, send = await open_socket(ws_per_message_deflate=False)
    wire = Wire.of(send)
    data = frame("x")
    protocol.pause_writing()  # the transport's buffer is over its high-water mark
    assert wire.write(data) is False and transport.take() == b""
    protocol.resume_writing()
    assert wire.write(data) is True and transport.take() == data
    protocol.data_received(b"\x88\x82abcd" + bytes(b ^ m for b, m in zip(b"\x03\xe8", b"ab", strict=True)))
    assert wire.write(data) is False  # the client sent close: the connection is closing
    assert data not in transport.take()
    protocol.connection_lost(None)


async def test_after_the_servers_close_nothing_is_written_directly():
    protocol, transport, send = await open_socket(ws_per_message_deflate=False)
    wire = Wire.of(send)
    await send({"type": "websocket.close", "code": 1012})
    transport.take()
    assert wire.write(frame("late")) is False and transport.take() == b""
    protocol.connection_lost(None)
    assert wire.write(frame("later")) is False and transport.take() == b""


async def test_other_servers_and_compressed_sockets_send_through_asgi():
    async def send(message):
        pass

    assert Wire.of(send) is None  # daphne's, Channels' test communicator's: not uvicorn's protocol
    deflate = b"Sec-WebSocket-Extensions: permessage-deflate\r\n"
    protocol, transport, uvicorn_send = await open_socket(deflate, ws_per_message_deflate=True)
    assert protocol.conn.extensions and Wire.of(uvicorn_send) is None  # frames compressed per socket
    protocol.connection_lost(None)
    protocol, transport, uvicorn_send = await open_socket(ws_per_message_deflate=True)
    assert Wire.of(uvicorn_send) is not None  # the client asked for no extension: none negotiated
    protocol.connection_lost(None)


async def test_a_replay_goes_out_in_few_writes_in_order_and_waits_on_back_pressure():
    """A resume's frames (``RealtimeConsumer._send_all``) go out in writes of ~WRITE_BYTES, in
    order; while the transport is paused they go through uvicorn's own send, which waits."""
    from realtime.consumers import WRITE_BYTES, RealtimeConsumer

    protocol, transport, send = await open_socket(ws_per_message_deflate=False)
    consumer = RealtimeConsumer()
    consumer.base_send, consumer.wire = send, Wire.of(send)
    texts = [json.dumps({"type": "message.new", "id": n, "pad": "x" * 1000}) for n in range(100)]
    await consumer._send_all(texts)
    writes = transport.written
    assert b"".join(writes) == b"".join(map(frame, texts))
    assert 1 < len(writes) <= -(-100 * 1030 // WRITE_BYTES)  # ~4 writes, not 100
    transport.take()
    protocol.pause_writing()
    sending = asyncio.ensure_future(consumer._send_all(texts[:3]))
    for _ in range(10):  # let it run as far as it can
        await asyncio.sleep(0)
    assert not sending.done() and transport.take() == b""  # waits, as uvicorn's send does
    protocol.resume_writing()
    await asyncio.wait_for(sending, 5)
    assert transport.take() == b"".join(map(frame, texts[:3]))
    protocol.connection_lost(None)


def _staff_consumer(send):
    """A consumer as ``connect`` leaves it, on the protocol behind ``send``."""
    from datetime import UTC, datetime

    from conversations.models import User
    from realtime.auth import Principal
    from realtime.consumers import RealtimeConsumer

    consumer = RealtimeConsumer()
    consumer.base_send, consumer.wire = send, Wire.of(send)
    consumer.principal = Principal(tenant_id=1, expires_at=datetime.now(tz=UTC), user=User(pk=9, role="agent"))
    consumer.ready, consumer.joined, consumer.held, consumer.channel_name = True, set(), None, "hub#1"
    return consumer


async def test_replies_are_written_directly_too():
    protocol, transport, send = await open_socket(ws_per_message_deflate=False)

    async def no_asgi(message):
        raise AssertionError(f"went through ASGI: {message}")

    consumer = _staff_consumer(send)
    consumer.base_send = no_asgi
    await consumer._send_json({"type": "pong", "ref": 1})
    assert transport.take() == frame('{"type":"pong","ref":1}')
    protocol.connection_lost(None)


async def test_a_frame_never_overtakes_one_waiting_for_the_transport_to_drain():
    """A reply that waits in uvicorn's ``send`` (the transport is paused) goes out before an
    event the hub delivers as soon as writing resumes, and before a later reply: one order per
    socket. Before, the event was written directly while the reply's task was still to run."""
    from realtime.hub import Hub

    protocol, transport, send = await open_socket(ws_per_message_deflate=False)
    consumer = _staff_consumer(send)
    hub = Hub(layer=None, loop=asyncio.get_running_loop())
    hub.members["tenant.1"] = {consumer.channel_name: consumer}
    protocol.pause_writing()
    reply = asyncio.ensure_future(consumer._send_json({"type": "ack", "ref": 1}))
    for _ in range(10):
        await asyncio.sleep(0)
    assert not reply.done() and transport.take() == b""
    protocol.resume_writing()  # the reply's task is woken, not run yet
    text = '{"type":"conversation.updated","id":5}'
    hub.deliver(
        {"type": "realtime.event", "group": "tenant.1", "event_type": "conversation.updated", "id": 5, "text": text}
    )
    later = asyncio.ensure_future(consumer._send_json({"type": "pong", "ref": 2}))
    await asyncio.wait_for(asyncio.gather(reply, later, *hub._tasks), 5)
    expected = [frame('{"type":"ack","ref":1}'), frame(text), frame('{"type":"pong","ref":2}')]
    assert transport.take() == b"".join(expected)
    assert consumer.sending is None and not hub._backlogs
    await consumer._send_json({"type": "pong", "ref": 3})  # nothing waits any more: direct again
    assert transport.written == [frame('{"type":"pong","ref":3}')]
    protocol.connection_lost(None)


async def test_the_hubs_inline_offer_writes_at_once_or_changes_nothing():
    """``RealtimeConsumer.offer``: the event's frame written with no coroutine when the wire is
    ready; None, the dedupe untouched, when the send must go the way that may wait (a paused
    transport, a revocation that makes the socket leave, a presence batch naming its user)."""
    protocol, transport, send = await open_socket(ws_per_message_deflate=False)
    consumer = _staff_consumer(send)

    def event(n, **extra):
        return {
            "type": "realtime.event",
            "event_type": "conversation.updated",
            "id": n,
            "text": f'{{"id":{n}}}',
            **extra,
        }

    protocol.pause_writing()
    assert consumer.offer(event(1)) is None and consumer.last_id == 0 and transport.take() == b""
    protocol.resume_writing()
    assert consumer.offer(event(1, event_type="conversation.revoked", conversation_id=3)) is None
    assert consumer.offer(event(1, presence_users=[9])) is None and consumer.last_id == 0
    assert consumer.offer(event(1)) is True and transport.take() == frame('{"id":1}')
    assert consumer.offer(event(1)) is False  # already sent: the dedupe
    assert consumer.offer(event(2, exclude_channel=consumer.channel_name)) is False
    assert consumer.offer(event(3, recipients={"audience": "user", "user_id": 8})) is False
    assert transport.take() == b""
    protocol.connection_lost(None)
