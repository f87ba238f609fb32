"""A resilient client for the /ws/ protocol, as a browser tab behaves: pings on the server's
heartbeat, reconnects with backoff, re-joins, resumes from the last id it saw, dedupes by id, and
resumes on a per-conversation ``seq`` gap, and stays away once evicted (4009). Used by the fault
tests to count what each client really received, and how each connection attempt ended."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import websockets


@dataclass
class ResilientClient:
    url: str
    token: str
    conversation_id: int | None = None
    ids: set[int] = field(default_factory=set)
    messages: list[int] = field(default_factory=list)  # message.new data ids, in arrival order
    duplicates: int = 0
    reconnects: int = 0
    resyncs: int = 0
    last_id: int | None = None
    seq: int | None = None
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    # How each attempt ended: the close code of a session, or the error of a failed attempt.
    endings: Counter[str] = field(default_factory=Counter)
    _stop: bool = False

    async def run(self) -> None:
        delay = 0.1
        while not self._stop:
            try:
                async with websockets.connect(
                    self.url, subprotocols=["bearer", self.token], open_timeout=10, compression=None
                ) as ws:
                    try:
                        await self._session(ws)
                    finally:
                        if ws.close_code is not None:
                            self.endings[str(ws.close_code)] += 1
                    delay = 0.1
            except (OSError, websockets.ConnectionClosed, websockets.InvalidHandshake, TimeoutError) as exc:
                if not isinstance(exc, websockets.ConnectionClosed):  # a close is counted above
                    self.endings[type(exc).__name__] += 1
            if self._stop or self.endings["4009"]:
                # 4009: evicted for a newer socket of the same user; the protocol (and the
                # browser client) does not reconnect: that would evict another, and so on.
                self.connected.clear()
                return
            self.connected.clear()
            self.reconnects += 1
            await asyncio.sleep(delay * (0.5 + random.random()))  # backoff with jitter
            delay = min(delay * 2, 2.0)

    async def _session(self, ws: Any) -> None:
        hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert hello["type"] == "hello"
        heartbeat = asyncio.create_task(self._heartbeat(ws, float(hello["data"]["heartbeat_seconds"])))
        try:
            await self._frames(ws, hello)
        finally:
            heartbeat.cancel()

    @staticmethod
    async def _heartbeat(ws: Any, seconds: float) -> None:
        # A silent client is a dead one to the server (closed with 4008 after two heartbeats).
        while True:
            await asyncio.sleep(seconds)
            try:
                await ws.send(json.dumps({"action": "ping"}))
            except websockets.ConnectionClosed:
                return

    async def _frames(self, ws: Any, hello: dict[str, Any]) -> None:
        if self.conversation_id is not None:
            await ws.send(json.dumps({"action": "join", "conversation_id": self.conversation_id, "ref": "join"}))
        if self.last_id is None:
            self.last_id = hello["data"]["last_event_id"]
        else:
            await ws.send(json.dumps({"action": "resume", "last_event_id": self.last_id, "ref": "resume"}))
        self.connected.set()
        async for raw in ws:
            frame = json.loads(raw)
            kind = frame["type"]
            if kind == "ack" and frame.get("ref") == "join":
                self.seq = max(self.seq or 0, frame["data"]["seq"]) if self.seq is not None else frame["data"]["seq"]
                continue
            if kind == "resync":
                self.resyncs += 1
                self.last_id = frame["data"]["last_event_id"]
                continue
            event_id = frame.get("id")
            if event_id is None:
                continue
            if event_id in self.ids:
                self.duplicates += 1
                continue
            self.ids.add(event_id)
            self.last_id = max(self.last_id or 0, event_id)
            if kind == "message.new":
                self.messages.append(frame["data"]["id"])
            seq = frame.get("seq")
            if seq is not None and frame.get("conversation_id") == self.conversation_id:
                if self.seq is not None and seq > self.seq + 1:
                    # A gap: something was lost on the fast path. Ask the log for it.
                    await ws.send(json.dumps({"action": "resume", "last_event_id": self._resume_from(), "ref": "gap"}))
                self.seq = max(self.seq or 0, seq)

    def _resume_from(self) -> int:
        # Resume from before the gap; the overlap and the id set take care of what we have.
        return max(0, (self.last_id or 0) - 50)

    def stop(self) -> None:
        self._stop = True
