"""Helpers for WebSocket tests: connect with a token, wait for frames with timeouts."""

import json
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from pytake.asgi import application
from tests.conftest import access_token_for

TIMEOUT = 5


class Communicator(WebsocketCommunicator):
    """A test socket whose close waits up to ``TIMEOUT`` for the application's disconnect (the
    registry, presence, groups) to finish: channels' default of one second cancels it on a busy
    machine, and the user then stays online in the registry."""

    async def disconnect(self, code: int = 1000, timeout: float = TIMEOUT) -> None:
        await super().disconnect(code, timeout)


async def connect(user_or_token: Any, *, query: bool = False, headers: list | None = None) -> WebsocketCommunicator:
    """Open /ws/ as a user (or with a raw token) and read the hello frame."""
    token = (
        user_or_token
        if isinstance(user_or_token, str)
        else await database_sync_to_async(access_token_for)(user_or_token)
    )
    if query:
        comm = Communicator(application, f"/ws/?token={token}", headers=headers or [])
    else:
        comm = Communicator(application, "/ws/", subprotocols=["bearer", token], headers=headers or [])
    connected, _ = await comm.connect(timeout=TIMEOUT)
    assert connected
    hello = await comm.receive_json_from(timeout=TIMEOUT)
    assert hello["type"] == "hello", hello
    comm.hello = hello  # type: ignore[attr-defined]
    return comm


async def expect_close(comm: WebsocketCommunicator, code: int, timeout: float = TIMEOUT) -> None:
    while True:
        output = await comm.receive_output(timeout=timeout)
        if output["type"] == "websocket.close":
            assert output.get("code") == code, output
            return


async def send(comm: WebsocketCommunicator, **frame: Any) -> None:
    await comm.send_to(text_data=json.dumps(frame))


def _skipped(comm: WebsocketCommunicator) -> list[dict]:
    """Frames ``command`` read past while waiting for its answer (live events are delivered as
    they happen: one a command causes may arrive before the command's ack)."""
    if not hasattr(comm, "skipped"):
        comm.skipped = []  # type: ignore[attr-defined]
    return comm.skipped  # type: ignore[attr-defined]


async def command(comm: WebsocketCommunicator, **frame: Any) -> dict:
    """Send a command with a ref and return its ack/error/pong; frames in between are kept for
    ``next_of``."""
    frame.setdefault("ref", "r")
    await send(comm, **frame)
    while True:
        reply = await comm.receive_json_from(timeout=TIMEOUT)
        if reply.get("ref") == frame["ref"] and reply["type"] in {"ack", "error", "pong", "resync"}:
            return reply
        _skipped(comm).append(reply)


async def next_of(comm: WebsocketCommunicator, type_: str, timeout: float = TIMEOUT) -> dict:
    """The next frame of a type (first among those ``command`` read past), skipping others."""
    skipped = _skipped(comm)
    for i, frame in enumerate(skipped):
        if frame["type"] == type_:
            del skipped[: i + 1]
            return frame
    skipped.clear()
    while True:
        frame = await comm.receive_json_from(timeout=timeout)
        if frame["type"] == type_:
            return frame


async def flush_layer() -> None:
    """A fresh channel layer for this test's event loop (channels-redis binds locks to a loop)."""
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    layer = get_channel_layer()
    if hasattr(layer, "flush"):
        await layer.flush()


async def close_layer() -> None:
    from channels.layers import channel_layers

    for layer in list(channel_layers.backends.values()):
        if hasattr(layer, "close_pools"):
            await layer.close_pools()
    channel_layers.backends.clear()
