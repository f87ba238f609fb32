"""Load generator of the end-to-end webhook bench (``bench.scenario_e2e``), in two roles, each its
own process, both pinned to the client core by the runner.

``--role agents``: N PyTake agent sockets (picows on uvloop, one agent per socket). Each socket
waits for ``hello``, joins its one conversation (``message.new`` goes to the sockets that joined
the conversation) and pings every 20 s. Every frame is parsed. A bench message's text is
``bench-<step>-<i>-<t>``, ``t`` being the poster's wall clock when its POST began (same machine,
same clock), so each ``message.new`` gives latency = arrival − t; the envelope's ``ts`` (when the
worker wrote the event) splits it into POST → event written, and event written → socket. A frame
for a conversation the socket did not join, or a second copy of one webhook, is counted.

``--role poster``: signed webhooks POSTed to ``/webhooks/whatsapp/`` at a fixed rate, open loop
(one task per request: a slow answer does not slow the schedule), over one keep-alive httpx
client. Webhook ``i`` is a text message from the contact of agent ``i mod N``, in Meta's Cloud API
shape (Meta's envelope, from bench.e2e_setup), signed with the account's app secret
(``X-Hub-Signature-256``, as ``whatsapp.services.signature_for``). It reports per-request status and
response time.

Control: JSON lines on stdin, reports as JSON lines on stdout (as ``bench.client``).
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import hashlib
import hmac
import json
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import uvloop
from picows import WSMsgType, WSTransport, ws_connect

from bench.loadgen import (
    OtherFrames,
    TextSocket,
    commands,
    connect_all,
    disconnect_all,
    emit,
    heartbeat,
    own_cpu,
    summary_ms,
)

TEXT_PREFIX = "bench-"


def bench_text(step: int, index: int, sent_at: float) -> str:
    return f"{TEXT_PREFIX}{step}-{index}-{sent_at:.6f}"


def parse_bench_text(text: str) -> tuple[int, int, float] | None:
    if not text.startswith(TEXT_PREFIX):
        return None
    step, index, sent_at = text[len(TEXT_PREFIX) :].split("-", 2)
    return int(step), int(index), float(sent_at)


# --- agents ---------------------------------------------------------------------------------------


class Step:
    """What the agent sockets saw of one step's webhooks."""

    def __init__(self, step: int | None) -> None:
        self.step = step
        self.seen: set[int] = set()
        self.latencies: list[float] = []
        self.to_event: list[float] = []  # POST began → event row written (worker)
        self.from_event: list[float] = []  # event row written → frame at the socket
        self.duplicates = 0
        self.misrouted = 0
        self.updates = 0  # conversation.updated carrying a bench preview (to the assignee)
        self.expected: int | None = None
        self.complete_sent = False
        self.started_wall = time.monotonic()
        self.started_cpu = own_cpu()


class Agents(OtherFrames):
    def __init__(self) -> None:
        super().__init__()
        self.current = Step(None)
        self.late = 0  # bench frames of a step that had ended (counted lost there)
        self.errors: list[str] = []
        self.clients: list[AgentSocket] = []

    def on_message_new(self, socket: AgentSocket, frame: dict[str, Any], now: float) -> None:
        data = frame.get("data") or {}
        parsed = parse_bench_text(data.get("text") or "")
        if parsed is None:
            self.note_other()
            return
        step, index, sent_at = parsed
        current = self.current
        if step != current.step:
            self.late += 1
            return
        if frame.get("conversation_id") != socket.conversation_id:
            current.misrouted += 1
            return
        if index in current.seen:
            current.duplicates += 1
            return
        current.seen.add(index)
        current.latencies.append(now - sent_at)
        written = datetime.fromisoformat(frame["ts"]).timestamp()
        current.to_event.append(written - sent_at)
        current.from_event.append(now - written)
        if current.expected is not None and len(current.seen) >= current.expected and not current.complete_sent:
            current.complete_sent = True
            emit(event="complete", step=step, received=len(current.seen))


AGENTS = Agents()


class AgentSocket(TextSocket):
    before_ready = "before its join was acked"

    def __init__(self, index: int, conversation_id: int) -> None:
        super().__init__(index, AGENTS.errors)
        self.conversation_id = conversation_id

    def on_text(self, transport: WSTransport, text: str) -> None:
        now = time.time()
        payload = json.loads(text)
        kind = payload.get("type")
        if kind == "message.new":
            AGENTS.on_message_new(self, payload, now)
        elif kind == "conversation.updated":
            preview = (payload.get("data") or {}).get("last_message_preview") or ""
            if preview.startswith(TEXT_PREFIX):
                AGENTS.current.updates += 1
            else:
                AGENTS.note_other()
        elif kind == "hello":
            join = {"action": "join", "conversation_id": self.conversation_id, "ref": "join"}
            transport.send(WSMsgType.TEXT, json.dumps(join).encode())
        elif kind == "ack" and payload.get("ref") == "join":
            self.set_ready()
        elif kind == "error" and payload.get("ref") == "join":
            if not self.ready.done():
                self.ready.set_exception(RuntimeError(f"join refused: {payload}"))
        elif kind in ("pong", "ack"):
            return  # heartbeat answers are not part of the connect storm
        else:
            AGENTS.note_other()  # presence and anything else: what "quiet" waits out


async def open_agent(url: str, index: int, token: str, conversation_id: int) -> AgentSocket:
    _transport, client = await ws_connect(
        lambda: AgentSocket(index, conversation_id), f"{url}/ws/?token={token}", websocket_handshake_timeout=120
    )
    await asyncio.wait_for(client.ready, 120)
    AGENTS.clients.append(client)  # heartbeats start now: a slow ramp must not trip the server's 4008
    return client


async def watch_stall(step: Step, stall: float, limit: float) -> None:
    """Report the step complete once its frames stop arriving for ``stall`` seconds (the rest are
    lost), or after ``limit`` seconds in all."""
    seen, quiet_since, started = -1, time.monotonic(), time.monotonic()
    while AGENTS.current is step and not step.complete_sent:
        now = time.monotonic()
        if len(step.seen) != seen:
            seen, quiet_since = len(step.seen), now
        elif now - quiet_since > stall or now - started > limit:
            step.complete_sent = True
            emit(event="complete", step=step.step, received=len(step.seen), stalled=True)
            return
        await asyncio.sleep(0.1)


async def run_agents(args: argparse.Namespace) -> None:
    rows = [line.split() for line in Path(args.agents_file).read_text().splitlines() if line.strip()]
    if len(rows) < args.n:
        raise SystemExit(f"need {args.n} agents, the file has {len(rows)}")

    async def open_one(i: int) -> AgentSocket:
        token, conversation_id, _wa_id = rows[i]
        return await open_agent(args.url, i, token, int(conversation_id))

    hb = asyncio.create_task(heartbeat(AGENTS.clients, "pytake", args.heartbeat))
    await connect_all(args.n, args.concurrency, open_one)
    async for command in commands():
        cmd = command["cmd"]
        if cmd == "quiet":
            # Until no presence (or other non-bench frame) came for `seconds`: the connect storm is over.
            await AGENTS.quiet(command)
        elif cmd == "begin":
            AGENTS.current = Step(command["step"])
            emit(event="begun", step=command["step"])
        elif cmd == "expect":
            step = AGENTS.current
            step.expected = command["count"]
            if len(step.seen) >= step.expected:
                step.complete_sent = True
                emit(event="complete", step=step.step, received=len(step.seen))
            else:
                asyncio.create_task(watch_stall(step, command.get("stall", 10.0), command.get("limit", 180.0)))
        elif cmd == "end":
            step = AGENTS.current
            wall = time.monotonic() - step.started_wall
            cpu = own_cpu() - step.started_cpu
            lat = sorted(step.latencies)
            emit(
                event="step",
                step=step.step,
                received=len(step.seen),
                duplicates=step.duplicates,
                misrouted=step.misrouted,
                conversation_updates=step.updates,
                late_frames_total=AGENTS.late,
                wall=wall,
                agents_cpu=cpu,
                **summary_ms(lat),
                to_event=summary_ms(step.to_event),
                from_event=summary_ms(step.from_event),
                open_sockets=sum(1 for c in AGENTS.clients if c.closed_code is None),
                errors=AGENTS.errors[:5],
                latency_sample=lat[:: max(1, len(lat) // 2000)],
                seen=sorted(step.seen),
            )
            AGENTS.current = Step(None)
        elif cmd == "quit":
            break
    hb.cancel()
    disconnect_all(AGENTS.clients)
    emit(event="bye")


# --- poster ---------------------------------------------------------------------------------------


class Poster:
    def __init__(self, args: argparse.Namespace) -> None:
        setup = json.loads(Path(args.setup).read_text())
        self.secret: bytes = setup["app_secret"].encode()
        self.envelope: dict[str, Any] = setup["envelope"]
        self.profile_name: str = setup["profile_name"]
        rows = [line.split() for line in Path(setup["agents_file"]).read_text().splitlines() if line.strip()]
        self.wa_ids = [row[2] for row in rows[: args.n]]
        self.url = f"{args.url}/webhooks/whatsapp/"
        self.index = 0  # grows across steps: webhook i goes to contact i mod N

    def body(self, step: int, index: int, sent_at: float) -> bytes:
        wa_id = self.wa_ids[index % len(self.wa_ids)]
        payload = copy.deepcopy(self.envelope)
        value = payload["entry"][0]["changes"][0]["value"]
        value["contacts"] = [{"profile": {"name": self.profile_name}, "wa_id": wa_id}]
        value["messages"] = [
            {
                "from": wa_id,
                "id": f"wamid.bench-{step}-{index}-{int(sent_at * 1e6)}",
                "timestamp": str(int(sent_at)),
                "type": "text",
                "text": {"body": bench_text(step, index, sent_at)},
            }
        ]
        return json.dumps(payload, separators=(",", ":")).encode()

    def signature(self, body: bytes) -> str:
        return "sha256=" + hmac.new(self.secret, body, hashlib.sha256).hexdigest()


class Posting:
    """The requests of one step: statuses, response times, how many were in flight at most."""

    def __init__(self, http: Any, poster: Poster, step: int, timeout: float, slots: asyncio.Semaphore) -> None:
        self.http, self.poster, self.step, self.timeout, self.slots = http, poster, step, timeout, slots
        self.statuses: Counter[str] = Counter()
        self.durations: list[float] = []
        self.errors: list[str] = []
        self.failed: list[int] = []  # indices whose POST did not answer 200
        self.in_flight = self.max_in_flight = 0

    def fail(self, index: int, status: str | None, error: str) -> None:
        if status is not None:
            self.statuses[status] += 1
        self.failed.append(index)
        if len(self.errors) < 5:
            self.errors.append(error)

    async def post(self, index: int) -> None:
        import httpx

        sent_at = time.time()  # the POST begins: latency is measured from here
        began = time.perf_counter()
        body = self.poster.body(self.step, index, sent_at)
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": self.poster.signature(body)}
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            # Requests wait for one of the poster's connections here, in a FIFO semaphore, never in
            # httpx's pool: its queue costs O(waiting) per request (the poster became the
            # bottleneck with thousands waiting), and a request cancelled while it waits there
            # leaks the pool slot for good (encode/httpcore#1093): so only this wait is cancelled.
            try:
                async with asyncio.timeout(self.timeout):
                    await self.slots.acquire()
            except TimeoutError:
                self.fail(index, "timeout", f"no connection free within {self.timeout:.0f}s")
                return
            try:
                left = max(0.1, self.timeout - (time.perf_counter() - began))
                response = await self.http.post(self.poster.url, content=body, headers=headers, timeout=left)
            except httpx.HTTPError as exc:
                self.fail(index, "timeout" if isinstance(exc, httpx.TimeoutException) else "error", repr(exc))
                return
            finally:
                self.slots.release()
            self.statuses[str(response.status_code)] += 1
            if response.status_code != 200:
                self.fail(index, None, f"{response.status_code}: {response.text[:200]}")
        finally:
            self.in_flight -= 1
            self.durations.append(time.perf_counter() - began)  # failed ones too, at the time they gave up


async def run_poster(args: argparse.Namespace) -> None:
    import httpx

    poster = Poster(args)
    limits = httpx.Limits(max_connections=args.connections, max_keepalive_connections=args.connections)
    slots = asyncio.Semaphore(args.connections)
    async with httpx.AsyncClient(limits=limits, timeout=args.timeout) as http:
        emit(event="ready")
        async for command in commands():
            if command["cmd"] == "quit":
                break
            step, rate, count = int(command["step"]), float(command["rate"]), int(command["count"])
            posting = Posting(http, poster, step, args.timeout, slots)
            first = poster.index
            interval = 1.0 / rate
            start = time.monotonic()
            cpu0 = own_cpu()
            late = 0.0
            tasks = []
            for k in range(count):
                due = start + k * interval
                now = time.monotonic()
                if due > now:
                    await asyncio.sleep(due - now)
                else:
                    late = max(late, now - due)
                tasks.append(asyncio.create_task(posting.post(poster.index)))
                poster.index += 1
            send_seconds = time.monotonic() - start
            await asyncio.gather(*tasks)
            emit(
                event="posted",
                step=step,
                first=first,
                count=count,
                ok=posting.statuses.get("200", 0),
                statuses=dict(posting.statuses),
                send_seconds=send_seconds,
                achieved_rate=count / (send_seconds + interval),
                max_late_ms=late * 1000,
                max_in_flight=posting.max_in_flight,
                seconds=time.monotonic() - start,
                poster_cpu=own_cpu() - cpu0,
                post=summary_ms(posting.durations),
                errors=posting.errors,
                failed=sorted(posting.failed),
            )
    emit(event="bye")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--role", choices=["agents", "poster"], required=True)
    parser.add_argument("--url", required=True, help="http://host:port (poster) or ws://host:port (agents)")
    parser.add_argument("--n", type=int, required=True, help="agents")
    parser.add_argument("--agents-file", help="agents: one 'token conversation_id wa_id' line per agent")
    parser.add_argument("--setup", help="poster: the JSON line bench.e2e_setup printed")
    parser.add_argument("--concurrency", type=int, default=20, help="agents: sockets opening at once")
    parser.add_argument("--heartbeat", type=float, default=20.0)
    parser.add_argument("--connections", type=int, default=32, help="poster: keep-alive HTTP connections")
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="poster: seconds a POST may take, waiting for a connection included"
    )
    args = parser.parse_args()
    uvloop.run(run_agents(args) if args.role == "agents" else run_poster(args))


if __name__ == "__main__":
    main()
