"""What a media file costs the worker: a 10 MB inbound download (Graph API → temporary file,
counted and hashed while reading → storage) and a 10 MB outbound upload (storage → the Graph
API's ``/{phone-number-id}/media``, multipart, streamed), each timed, with the peak of Python
allocations (tracemalloc) during it; and, for comparison, the same download read whole into
memory as ``GraphClient.media_download`` did before. Reproduces the figure in docs/benchmarks.md
("Media"):

    env -u DATABASE_URL -u REDIS_URL DJANGO_SECRET_KEY=bench-only-0123456789abcdef \\
        .venv/bin/python -m bench.media 10

A local HTTP server (a thread of this process, on a loopback port of its own) plays Meta: it
serves the file behind a bearer token and swallows uploads. No database is used.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pytake.settings")
os.environ.setdefault("PYTAKE_MEDIA_ROOT", tempfile.mkdtemp(prefix="pytake-bench-media-"))

import django

django.setup()

from conversations import files  # noqa: E402
from whatsapp.client import GraphClient  # noqa: E402

TOKEN = "bench-token"


def make_server(payload: bytes) -> ThreadingHTTPServer:
    class Meta(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return None

        def _authorised(self) -> bool:
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self.send_response(401)
                self.end_headers()
                return False
            return True

        def do_GET(self) -> None:
            if not self._authorised():
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/pdf")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            view = memoryview(payload)
            for start in range(0, len(payload), 256 * 1024):
                self.wfile.write(view[start : start + 256 * 1024])

        def do_POST(self) -> None:
            if not self._authorised():
                return
            remaining = int(self.headers.get("Content-Length") or 0)
            while remaining:
                remaining -= len(self.rfile.read(min(remaining, 256 * 1024)))
            body = b'{"id": "1234567890"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Meta)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def measure(name: str, fn: Callable[[], Any], runs: int) -> None:
    times, peaks = [], []
    for _ in range(runs):
        tracemalloc.start()
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    times.sort()
    print(
        f"{name:<42} median {times[len(times) // 2] * 1000:7.1f} ms   best {times[0] * 1000:7.1f} ms"
        f"   peak Python allocations {max(peaks) / 1024 / 1024:6.2f} MB"
    )


def main(megabytes: int, runs: int = 5) -> None:
    payload = os.urandom(4096) * (megabytes * 256)  # megabytes MB, incompressible enough
    payload = b"%PDF-1.7\n" + payload[9:]
    server = make_server(payload)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    client = GraphClient(phone_number_id="100", access_token=TOKEN, base_url=url)
    expected = hashlib.sha256(payload).hexdigest()
    storage = files.media_storage()
    stored: list[str] = []

    def download() -> None:
        with client.media_stream(url=f"{url}/file", max_bytes=100 * 1024 * 1024) as chunks:
            spooled = files.spool(chunks, max_bytes=100 * 1024 * 1024)
        assert spooled.sha256 == expected and spooled.size == len(payload)
        stored.append(storage.save("bench/download.pdf", spooled.handle))
        spooled.close()

    def upload() -> None:
        with storage.open(stored[0], "rb") as handle:
            assert client.media_upload(handle=handle, filename="bench.pdf", mime_type="application/pdf")

    def download_whole() -> None:  # the former way: the whole body in memory
        from whatsapp.client import http_client

        body = http_client().get(f"{url}/file", headers={"Authorization": f"Bearer {TOKEN}"}).content
        assert hashlib.sha256(body).hexdigest() == expected

    print(f"{megabytes} MB file, {runs} runs each, Python {sys.version.split()[0]}")
    measure("download, streamed to storage (now)", download, runs)
    measure("upload from storage, streamed multipart", upload, runs)
    measure("download read whole into memory (before)", download_whole, runs)
    for name in stored:
        storage.delete(name)
    server.shutdown()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
