"""Live updates for the simulator's phone page: one socket per open phone, one group per customer.

Frames are ``{"type": "message.new" | "message.status" | "typing", "data": {...}}``, the shape of
the main real-time protocol's envelope. There is no login (the simulator is a development tool),
so the page's Origin is all that tells a browser on our own pages from anything else: the socket
is closed (4003) without an Origin, or with one that ``/ws/`` would refuse.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from realtime.protocol import origin_allowed
from simulator import services


def browser_origin_allowed(scope: dict[str, Any]) -> bool:
    """``/ws/``'s Origin check, without its pass for clients that send none: there, a token
    authenticates them; here nothing would."""
    has_origin = any(key == b"origin" for key, _value in scope.get("headers", []))
    return has_origin and origin_allowed(scope)


class SimulatorPhoneConsumer(AsyncJsonWebsocketConsumer):
    group: str | None = None

    async def connect(self) -> None:
        query = parse_qs(self.scope.get("query_string", b"").decode())
        phone_number_id = (query.get("phone_number_id") or [""])[0]
        wa_id = (query.get("wa_id") or [""])[0]
        if not browser_origin_allowed(self.scope) or not phone_number_id.isdigit() or not wa_id.isdigit():
            await self.close(code=4003)
            return
        self.group = services.phone_group(phone_number_id, wa_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("action") == "ping":
            await self.send_json({"type": "pong", "data": {}})

    async def simulator_frame(self, event: dict[str, Any]) -> None:
        await self.send_json(event["frame"])
