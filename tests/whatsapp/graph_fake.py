"""A Graph API stand-in for the template tests (no tests here): answers the template list page by
page with Meta's cursors and records every message sent, through httpx's MockTransport in place
of the client's pooled connection."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from whatsapp import client as graph_client

WABA_ID = "102290129340398"  # the entry id of the account-level fixtures


def meta_template(name: str, language: str, *, status: str = "APPROVED", **extra: Any) -> dict[str, Any]:
    """A template as ``GET /{waba-id}/message_templates`` describes it."""
    components = extra.pop(
        "components",
        [
            {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}"},
            {"type": "BODY", "text": "Hi {{1}}, your order {{2}} was updated."},
            {"type": "FOOTER", "text": "Thanks"},
            {
                "type": "BUTTONS",
                "buttons": [
                    {"type": "URL", "text": "Track", "url": "https://example.com/orders/{{1}}"},
                    {"type": "QUICK_REPLY", "text": "Talk to us"},
                    {"type": "PHONE_NUMBER", "text": "Call", "phone_number": "+15550001111"},
                ],
            },
        ],
    )
    return {
        "id": extra.pop("id", str(abs(hash((name, language))) % 10**15)),
        "name": name,
        "language": language,
        "status": status,
        "category": extra.pop("category", "UTILITY"),
        "components": components,
        "quality_score": {"score": extra.pop("quality", "GREEN")},
        **extra,
    }


@dataclass
class FakeGraph:
    templates: list[dict[str, Any]] = field(default_factory=list)
    page_size: int = 2
    sent: list[dict[str, Any]] = field(default_factory=list)
    list_calls: list[str] = field(default_factory=list)
    send_error: tuple[int, int, str] | None = None  # (http status, Meta code, message) for the next sends
    fail_after: str | None = None  # the list page at this cursor answers 500
    wa_ids: dict[str, str] = field(default_factory=dict)  # a number sent to -> the WhatsApp id Meta answers

    def handle(self, request: httpx.Request) -> httpx.Response:
        url = urlparse(str(request.url))
        if request.method == "GET" and url.path.endswith("/message_templates"):
            self.list_calls.append(str(request.url))
            after = parse_qs(url.query).get("after", ["0"])[0]
            if after == self.fail_after:
                return httpx.Response(500, json={"error": {"message": "Unexpected error", "code": 2}})
            start = int(after or 0)
            page = self.templates[start : start + self.page_size]
            body: dict[str, Any] = {"data": page, "paging": {"cursors": {"before": str(start), "after": ""}}}
            if start + self.page_size < len(self.templates):
                body["paging"]["cursors"]["after"] = str(start + self.page_size)
                body["paging"]["next"] = f"https://graph.example/next?after={start + self.page_size}"
            return httpx.Response(200, json=body)
        if request.method == "POST" and url.path.endswith("/messages"):
            payload = json.loads(request.content)
            if payload.get("status") == "read":
                return httpx.Response(200, json={"success": True})
            if self.send_error is not None:
                status, code, message = self.send_error
                return httpx.Response(
                    status, json={"error": {"message": message, "type": "OAuthException", "code": code}}
                )
            self.sent.append(payload)
            wamid = f"wamid.fake{len(self.sent)}"
            to = str(payload.get("to") or "")
            contacts = [{"input": to, "wa_id": self.wa_ids.get(to, to)}] if to else []
            return httpx.Response(
                200, json={"contacts": contacts, "messages": [{"id": wamid, "message_status": "accepted"}]}
            )
        return httpx.Response(404, json={"error": {"message": "Unknown path", "code": 100}})


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    fake = FakeGraph()
    graph_client.http_client_close()
    graph_client._client = httpx.Client(transport=httpx.MockTransport(fake.handle))
    yield fake
    graph_client.http_client_close()
