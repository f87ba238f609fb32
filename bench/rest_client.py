"""The REST load generator of ``bench.scenario_rest``: httpx on uvloop, pinned to the client core
by the runner. One process, driven by JSON lines on stdin; each ``run`` command sends ``count``
GET requests (cycling through ``urls``) with ``concurrency`` requests in flight, and answers one
JSON line with the latency percentiles, the request rate, the errors and its own CPU use.

Every response is checked: a status other than 200, or a body without a ``results`` list, is an
error. Connections are kept per token across runs, so a measured run never pays the TCP connect
of its warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import httpx
import uvloop

from bench.loadgen import commands, emit, own_cpu, summary_ms


class Runner:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.clients: dict[tuple[str, int], httpx.AsyncClient] = {}

    def client(self, token: str, concurrency: int) -> httpx.AsyncClient:
        key = (token, concurrency)
        if key not in self.clients:
            self.clients[key] = httpx.AsyncClient(
                base_url=self.base_url,
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
                timeout=httpx.Timeout(30.0),
            )
        return self.clients[key]

    async def run(self, *, name: str, urls: list[str], count: int, concurrency: int, token: str) -> dict[str, Any]:
        client = self.client(token, concurrency)
        latencies: list[float] = []
        errors: list[str] = []
        rows: list[int] = []
        issued = 0

        async def worker() -> None:
            nonlocal issued
            while issued < count:
                url = urls[issued % len(urls)]
                issued += 1
                started = time.perf_counter()
                try:
                    response = await client.get(url)
                    body = response.content
                except httpx.HTTPError as exc:
                    errors.append(f"{url}: {exc!r}")
                    continue
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    errors.append(f"{url}: HTTP {response.status_code} {body[:200]!r}")
                    continue
                answer = json.loads(body)
                results = answer.get("results", answer.get("messages"))  # search answers "messages"
                if not isinstance(results, list):
                    errors.append(f"{url}: no results list")
                    continue
                rows.append(len(results))

        cpu0, wall0 = own_cpu(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        cpu1, wall1 = own_cpu(), time.perf_counter()
        seconds = wall1 - wall0
        return {
            "name": name,
            "requests": len(latencies),
            "concurrency": concurrency,
            "seconds": seconds,
            "requests_per_s": len(latencies) / seconds if seconds else 0.0,
            **summary_ms(latencies),
            "mean_ms": sum(latencies) * 1000 / len(latencies) if latencies else float("nan"),
            "errors": len(errors),
            "first_errors": errors[:5],
            "rows_min": min(rows) if rows else 0,
            "rows_max": max(rows) if rows else 0,
            "client_cpu_s": cpu1 - cpu0,
            "client_util": (cpu1 - cpu0) / seconds if seconds else 0.0,
        }

    async def close(self) -> None:
        for client in self.clients.values():
            await client.aclose()


async def main_async(base_url: str) -> None:
    runner = Runner(base_url)
    emit(event="ready")
    try:
        async for command in commands():
            if command["cmd"] == "run":
                stats = await runner.run(
                    name=command["name"],
                    urls=command["urls"],
                    count=command["count"],
                    concurrency=command["concurrency"],
                    token=command["token"],
                )
                emit(event="done", **stats)
            elif command["cmd"] == "quit":
                break
    finally:
        await runner.close()
    emit(event="bye")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    args = parser.parse_args()
    uvloop.run(main_async(args.base_url))


if __name__ == "__main__":
    main()
