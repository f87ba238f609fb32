"""A page that loads static/pytake/*.js straight from the checkout (no server), with a scripted
fake WebSocket, to test the client module's protocol logic in the real browser engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

STATIC = Path(__file__).resolve().parents[2] / "static"
ORIGIN = "http://pytake.test"

PAGE = """<!doctype html><html><head><meta charset="utf-8"></head><body>
<script>
// A WebSocket the test drives: it records what the client sends; the test opens it, pushes
// frames and closes it with a code, as the server would.
window.sockets = [];
class FakeWebSocket {
  constructor(url, protocols) {
    this.url = url; this.protocols = protocols; this.sent = []; this.readyState = 0;
    window.sockets.push(this);
  }
  send(text) { if (this.readyState !== 1) throw new Error("not open"); this.sent.push(JSON.parse(text)); }
  close(code = 1000, reason = "") { this._closed(code, reason); }
  // --- driven by the test ---
  serverOpen() { this.readyState = 1; this.onopen && this.onopen({}); }
  push(frame) { this.onmessage && this.onmessage({ data: JSON.stringify(frame) }); }
  serverClose(code, reason = "") { this._closed(code, reason); }
  _closed(code, reason) {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.onclose && this.onclose({ code, reason });
  }
  sentOf(action) { return this.sent.filter((f) => f.action === action); }
}
window.FakeWebSocket = FakeWebSocket;
window.last = () => window.sockets[window.sockets.length - 1];
</script>
<script type="module">
import * as realtime from "/static/pytake/realtime.js";
window.realtime = realtime;
window.harnessReady = true;
</script>
</body></html>"""


def open_harness(page: Any) -> Any:
    def serve(route: Any) -> None:
        path = route.request.url.removeprefix(ORIGIN)
        if path.startswith("/static/"):
            file = (STATIC / path.removeprefix("/static/")).resolve()
            if STATIC in file.parents and file.is_file():
                route.fulfill(body=file.read_bytes(), content_type="text/javascript")
                return
            route.fulfill(status=404, body="not found")
            return
        route.fulfill(body=PAGE, content_type="text/html")

    page.route(f"{ORIGIN}/**", serve)
    page.goto(f"{ORIGIN}/")
    page.wait_for_function("window.harnessReady === true")
    return page
