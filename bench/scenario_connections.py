"""Issue 7, scenarios 3 and 4: idle connections and the reconnect storm.

``python -m bench.scenario_connections --scenario idle|storm [--quick]``

Idle: real PyTake agent sockets (one agent and token each; ``hello`` checked; ``ping`` on hello's
heartbeat) ramped in plateaus (1k, 5k, 10k, 20k; ``--quick``: 1k, 2k). At each plateau, once the
connect storm is quiet (no presence frames for 2 s and the servers' CPU low), it reads the servers'
RSS and their CPU over an idle window of ``--idle-seconds`` (30; heartbeats only). RSS per
connection is (RSS now - RSS with 0 sockets) / sockets, summed over the server processes, where
"0 sockets" is read after a warm-up round (a few sockets opened and closed, so that one-time
imports, database connections and thread pools are not charged to the connections); the
marginal cost between two plateaus is given too. Target (issue 7): 20,000 held, < 30 KB each.

Storm: N agents (5,000; ``--quick``: 500) connected and quiet; every client closes at once
(client side, no close frame); 50 events are written through the event log
(``bench.publisher --kind pytake``: ``event_record`` in a transaction, then the channel layer)
while they are away; then all reconnect at once and ``resume`` from the last id each had. It
measures the time from the reconnect until every socket is connected again and until every socket
has all 50 missed events, completeness (missed events received / expected) and duplicates, and
the servers' CPU. The ``restart`` variant SIGTERMs the server instead, publishes the 50 events
while it is down and starts it again; clients reconnect by themselves with the browser client's
backoff (static/pytake/realtime.js: exponential from 0.5 s, equal jitter) and resume. Target (issue 7): 100 % caught up in < 10 s.

The fd limit here is 20,000 per process, hard: 20,000 sockets need two server processes and two
client processes (``--servers``, ``--clients``); client process k connects from 127.0.0.(k+1).
Servers are pinned to the server core, clients to the client core (``bench.common``). Output:
``var/bench/connections-<scenario>.json`` and ``.png``, a Markdown table on stdout, process
logs in ``var/bench/conn-<timestamp>/``. ``--py-spy`` records a server profile of every ramp and
storm phase there. Every process started here is stopped in a ``finally`` (also on SIGTERM).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from bench.common import (
    CLIENT_CORE,
    PYTHON,
    ROOT,
    SERVER_CORE,
    Proc,
    command_line,
    cpu_or_zero,
    free_port,
    new_log_dir,
    number_list,
    py_spy_argv,
    raise_fd_limit,
    redis_server_pid,
    rss_bytes,
    setup_django,
    stop_on_sigterm,
    wait_port,
)
from bench.common import percentile as _percentile
from bench.report import machine, markdown_table, pyplot, raw_stacks, save_figure
from bench.run import pytake_env
from bench.targets import TARGETS, Running

OUT = ROOT / "var" / "bench"  # git-ignored; docs/bench/ keeps summaries (bench.summary)
DATABASE_URL = os.environ.get("BENCH_CONN_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/pytake_bench_conn")
REDIS_URL = os.environ.get("BENCH_CONN_REDIS_URL", "redis://127.0.0.1:6379/7")
RSS_TARGET_BYTES = 30 * 1024
STORM_TARGET_SECONDS = 10.0
MISSED_EVENTS = 50
WARMUP_SOCKETS = 50
KB = 1024


def progress(text: str) -> None:
    tqdm.write(text, file=sys.stderr)


def conn_env() -> dict[str, str]:
    return {**pytake_env(), "DATABASE_URL": DATABASE_URL, "REDIS_URL": REDIS_URL}


def flush_redis() -> None:
    """Empty this scenario's own Redis db (7): presence keys of earlier runs."""
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()


def setup_agents(n: int, log_dir: Path, tenants: int = 1) -> tuple[int, str]:
    """``n`` agents in this scenario's own database, one access token each (in agent order): in
    one tenant (``bench.pytake_setup``), or spread over ``tenants`` tenants (``setup_tenants``)."""
    tokens = str(log_dir / f"tokens-{n}.txt")
    if tenants == 1:
        argv = [PYTHON, "-m", "bench.pytake_setup", "--agents", str(n), "--tokens", tokens]
    else:
        argv = [PYTHON, "-m", "bench.scenario_connections", "--setup-tenants", str(tenants)]
        argv += ["--agents", str(n), "--tokens", tokens]
    for attempt in range(1, 6):
        out = subprocess.run(
            argv, cwd=ROOT, env={**os.environ, **conn_env()}, capture_output=True, text=True, timeout=900
        )
        if out.returncode == 0:
            break
        # PostgreSQL is shared with other suites here and sometimes has no connection slot left.
        if "too many clients" not in out.stderr or attempt == 5:
            raise RuntimeError(f"agent setup failed: {out.stderr[-3000:]}")
        progress(f"PostgreSQL had no free connection; setup again in {10 * attempt}s")
        time.sleep(10 * attempt)
    info = json.loads(out.stdout.strip().splitlines()[-1])
    return int(info["tenant"]), tokens


def setup_tenants(tenants: int, agents: int, tokens_path: str) -> None:
    """As ``bench.pytake_setup``, with agent i in tenant ``bench-conn-<i % tenants>``: a PyTake
    host serving many teams. Runs in a subprocess (Django set up on the bench database)."""
    setup_django(os.environ["DATABASE_URL"])
    from django.contrib.auth.hashers import make_password
    from rest_framework_simplejwt.tokens import RefreshToken

    from conversations.models import Role, Tenant, User

    teams = [
        Tenant.objects.get_or_create(slug=f"bench-conn-{k}", defaults={"name": f"Bench team {k}"})[0]
        for k in range(tenants)
    ]
    emails = [f"agent{i}@bench-conn-{i % tenants}.invalid" for i in range(agents)]
    have = set(User.objects.filter(email__in=emails).values_list("email", flat=True))
    unusable = make_password(None)
    User.objects.bulk_create(
        [
            User(email=email, name=f"Agent {i}", tenant=teams[i % tenants], role=Role.AGENT, password=unusable)
            for i, email in enumerate(emails)
            if email not in have
        ],
        batch_size=2000,
    )
    users = {user.email: user for user in User.objects.filter(email__in=emails)}
    tokens = [str(RefreshToken.for_user(users[email]).access_token) for email in emails]
    Path(tokens_path).write_text("\n".join(tokens) + "\n")
    print(
        json.dumps({"event": "setup", "tenant": teams[0].pk, "tenants": len(teams), "agents": len(tokens)}), flush=True
    )


# --- processes ------------------------------------------------------------------------------


class Clients:
    """The client processes (``bench.conn_client``), each read by a thread into one queue."""

    def __init__(self, urls: list[str], tokens: str, n: int, count: int, log_dir: Path) -> None:
        self.procs: list[Proc] = []
        self.queue: queue.Queue[tuple[int, dict[str, Any]]] = queue.Queue()
        per = -(-n // count)
        self.sources = [f"127.0.0.{k + 1}" for k in range(count)]
        try:
            for k in range(count):
                argv = [PYTHON, "-m", "bench.conn_client", "--tokens", tokens, "--first", str(k * per)]
                argv += ["--count", str(min(per, n - k * per)), "--source", self.sources[k]]
                for url in urls:
                    argv += ["--url", url]
                proc = Proc(
                    f"conn-client-{k}", argv, core=CLIENT_CORE, log_dir=log_dir, stdin_pipe=True, stdout_pipe=True
                )
                self.procs.append(proc)
                threading.Thread(target=self._read, args=(k, proc), daemon=True).start()
            self.ready = self.collect("ready", 60)
        except BaseException:
            self.stop()
            raise
        self.slots = [r["slots"] for r in self.ready]

    def _read(self, k: int, proc: Proc) -> None:
        assert proc.popen.stdout is not None
        for line in proc.popen.stdout:
            if line.startswith("{"):
                self.queue.put((k, json.loads(line)))
        self.queue.put((k, {"event": "eof"}))

    def send(self, k: int, **command: Any) -> None:
        self.procs[k].send(**command)

    def send_all(self, **command: Any) -> None:
        for proc in self.procs:
            proc.send(**command)

    def collect(self, event: str, timeout: float, bar: tqdm | None = None, key: str = "open") -> list[dict[str, Any]]:
        """One ``event`` message from every client; ``progress`` messages meanwhile move ``bar``
        (the sum over clients of their ``key``)."""
        results: list[dict[str, Any] | None] = [None] * len(self.procs)
        counts = [0] * len(self.procs)
        deadline = time.monotonic() + timeout
        while any(r is None for r in results):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"clients: no {event!r} in {timeout}s; log: {self.procs[0].log_tail()}")
            try:
                k, message = self.queue.get(timeout=left)
            except queue.Empty:
                continue
            kind = message.get("event")
            if kind == "eof":
                raise RuntimeError(f"client {k} exited: {self.procs[k].log_tail()}")
            if kind == "progress" and bar is not None:
                counts[k] = int(message.get(key, 0))
                bar.n = sum(counts)
                bar.refresh()
            elif kind == event:
                results[k] = message
        done = [r for r in results if r is not None]
        if bar is not None and key != "open":
            bar.n = sum(int(r.get(key, 0)) for r in done)
            bar.refresh()
        return done

    def ask(self, command: str, event: str, wait: float, **fields: Any) -> list[dict[str, Any]]:
        """Send ``command`` to every client and wait ``wait`` seconds for each one's ``event``."""
        self.send_all(cmd=command, **fields)
        return self.collect(event, wait)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.popen.poll() is None and proc.popen.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.send(cmd="quit")
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(timeout=5)
            proc.stop()

    def cpu(self) -> float:
        return sum(p.cpu() for p in self.procs)

    def rss(self) -> int:
        return sum(rss_bytes(p.pid) for p in self.procs)


def hub_catch_ups(running: Running) -> int:
    """How often the servers' hubs decided the channel layer had been away and made every socket
    catch up from the event log (a log line each; cumulative over the run)."""
    return sum(p.log_path.read_text().count("the channel layer is back") for p in running.procs)


def server_rss(running: Running) -> list[int]:
    return [rss_bytes(p.pid) for p in running.procs]


def wait_server_quiet(running: Running, *, below: float = 0.3, hold: int = 3, timeout: float = 180) -> dict[str, Any]:
    """Wait until the servers' connect or disconnect work (auth, registry, presence, the agents'
    queue bookkeeping) is done: ``hold`` consecutive one-second windows in which the servers
    together used under ``below`` of a core, or used a steady share (within 5 points: the
    heartbeats of many idle sockets can keep them above ``below``)."""
    started = time.monotonic()
    previous, utils = running.cpu(), []

    def settled() -> bool:
        last = utils[-hold:]
        return len(last) == hold and (max(last) < below or max(last) - min(last) < 0.05)

    while not settled() and time.monotonic() - started < timeout:
        time.sleep(1.0)
        current = running.cpu()
        utils.append(current - previous)
        previous = current
    return {"seconds": time.monotonic() - started, "timed_out": not settled(), "last_util": utils[-hold:]}


class Profiler:
    """``py-spy record`` of every server process for ``seconds`` (in the background); raw
    collapsed stacks in the log directory, summarised later by ``profile_summary``."""

    def __init__(self, enabled: bool, log_dir: Path) -> None:
        self.enabled, self.log_dir = enabled, log_dir
        self.running: list[tuple[subprocess.Popen[bytes], Path]] = []
        self.done: dict[str, list[str]] = {}

    def start(self, name: str, running: Running, seconds: float) -> None:
        if not self.enabled:
            return
        for k, proc in enumerate(running.procs):
            path = self.log_dir / f"py-spy-{name}-{k}.txt"
            argv = py_spy_argv(proc.pid, max(1, round(seconds)), path)
            log = (self.log_dir / f"py-spy-{name}-{k}.log").open("w")
            self.running.append((subprocess.Popen(argv, stdout=log, stderr=log), path))

    def stop(self) -> None:
        for popen, path in self.running:
            try:
                popen.wait(timeout=60)
            except subprocess.TimeoutExpired:
                popen.terminate()
                popen.wait(timeout=10)
            if path.exists():
                self.done.setdefault(path.stem.rsplit("-", 1)[0], []).append(str(path))
        self.running = []


# Frames on (nearly) every stack: the interpreter, uvicorn's and asyncio's run loop, worker threads.
BOILERPLATE = (
    "<frozen runpy>",
    "click/core.py",
    "uvicorn/main.py",
    "uvicorn/__main__.py",
    "uvicorn/_compat.py",
    "uvicorn/server.py",
    "asyncio/runners.py",
    "asyncio/events.py",
    "threading.py",
    "concurrent/futures/thread.py",
)


def profile_summary(paths: list[str], top: int = 20) -> dict[str, list[str]]:
    """From py-spy's raw output (busy samples only: py-spy leaves out threads that wait), the
    share of samples per function, line numbers dropped: ``inclusive`` (the function is on the
    stack; the frames every stack has, ``BOILERPLATE``, left out) and ``self`` (it is the leaf;
    a leaf in the event loop's own frame is native code: uvloop, the C parts of libraries)."""
    total, inclusive, leaves = 0, {}, {}
    for path in paths:
        for stack, count in raw_stacks(path):
            total += count
            names = []
            for frame in stack:
                function, _, where = frame.partition(" (")
                names.append((f"{function} ({where.rsplit(':', 1)[0]})", where.rsplit(":", 1)[0]))
            for name in {name for name, filename in names if not filename.endswith(BOILERPLATE)}:
                inclusive[name] = inclusive.get(name, 0) + count
            leaf, filename = names[-1]
            if filename.endswith(("threading.py", "concurrent/futures/thread.py")):
                leaf = "(a worker thread between jobs)"
            elif filename.endswith(BOILERPLATE):
                leaf = "(native code under the event loop: uvloop, C extensions)"
            leaves[leaf] = leaves.get(leaf, 0) + count

    def ranked(table: dict[str, int]) -> list[str]:
        rows = sorted(table.items(), key=lambda kv: -kv[1])[:top]
        return [f"{100 * c / total:5.1f}% {name}" for name, c in rows]

    return {"samples": [str(total)], "inclusive": ranked(inclusive), "self": ranked(leaves)} if total else {}


def start_servers(args: argparse.Namespace, log_dir: Path) -> Running:
    """``--servers`` processes of the target, with the ``--env`` overrides."""
    base = TARGETS[args.target]
    target = dataclasses.replace(base, processes=args.servers, env={**base.env, **server_overrides(args)})
    return target.start({"pytake_env": conn_env(), "redis_url": REDIS_URL}, log_dir)  # type: ignore[dict-item]


def server_overrides(args: argparse.Namespace) -> dict[str, str]:
    return dict(item.split("=", 1) for item in args.env)


def server_layout(running: Running) -> list[dict[str, Any]]:
    return [{"pid": p.pid, "url": u, "core": SERVER_CORE} for p, u in zip(running.procs, running.urls, strict=True)]


def client_layout(clients: Clients) -> list[dict[str, Any]]:
    return [
        {"pid": p.pid, "source": s, "slots": n, "core": CLIENT_CORE}
        for p, s, n in zip(clients.procs, clients.sources, clients.slots, strict=True)
    ]


def warm_up(clients: Clients, running: Running, timeout: float) -> None:
    """The first sockets import code, open database connections and thread pools: open a few
    (``WARMUP_SOCKETS`` in all), close them, and wait until the servers are quiet again."""
    clients.ask("open", "opened", timeout, n=WARMUP_SOCKETS // len(clients.procs), concurrency=10)
    clients.ask("quiet", "quiet", 60, seconds=2.0)
    clients.ask("drop", "dropped", 60)
    wait_server_quiet(running)


def open_all(args: argparse.Namespace, n: int, clients: Clients, running: Running) -> list[dict[str, Any]]:
    """Every client opens all its slots (``n`` sockets in all); then wait until the presence
    frames and the servers are quiet. Returns the clients' ``opened`` reports."""
    clients.send_all(cmd="open", n=max(clients.slots), concurrency=args.concurrency)
    with tqdm(total=n, desc=f"open {n}", unit="sock", leave=False) as bar:
        opened = clients.collect("opened", args.timeout, bar)
    clients.ask("quiet", "quiet", args.timeout + 10, seconds=2.0, timeout=args.timeout)
    wait_server_quiet(running)
    return opened


# --- idle ---------------------------------------------------------------------------------


def idle(args: argparse.Namespace, log_dir: Path, result: dict[str, Any], write: Any) -> None:
    steps = number_list(args.steps or ("1000,2000" if args.quick else "1000,5000,10000,20000"))
    n_max = max(steps)
    progress(f"setting up {n_max} agents in {args.tenants} tenant(s) in {DATABASE_URL}")
    tenant, tokens = setup_agents(n_max, log_dir, args.tenants)
    running = start_servers(args, log_dir)
    clients: Clients | None = None
    profiler = Profiler(args.py_spy, log_dir)
    redis_pid = redis_server_pid()
    result["layout"] = {"servers": server_layout(running), "tenant": tenant, "tenants": args.tenants}
    try:
        clients = Clients(running.urls, tokens, n_max, args.clients, log_dir)
        result["layout"]["clients"] = client_layout(clients)
        progress(f"servers {running.urls}; clients from {clients.sources}")
        wait_server_quiet(running)
        result["rss_cold"] = server_rss(running)
        warm_up(clients, running, 120)
        result["rss_warm"] = server_rss(running)
        baseline = sum(result["rss_warm"])
        progress(f"server RSS with 0 sockets: cold {_mb(sum(result['rss_cold']))}, after warm-up {_mb(baseline)}")
        previous: dict[str, Any] | None = None
        for n in steps:
            row = idle_plateau(args, n, running, clients, profiler, redis_pid, baseline, previous)
            if row.get("stalled"):
                result["stalled"] = row
                break
            result["steps"].append(row)
            write()
            previous = row
            progress(
                f"  {n:>6} sockets: open {row['open']} in {row['connect_seconds']:.1f}s; RSS {_mb(row['server_rss'])}"
                f" = {row['rss_per_conn'] / KB:.1f} KB/conn (marginal {_kb(row['rss_marginal_per_conn'])}); idle CPU "
                f"{row['idle_server_util']:.1%} of a core; closes {row['closes']}"
            )
            if row["open"] < n:
                progress(f"  stopping the ramp: {n - row['open']} sockets not open")
                break
    finally:
        profiler.stop()
        if clients is not None:
            clients.stop()
        running.stop()
    result["profiles"] = {name: profile_summary(paths) for name, paths in profiler.done.items()}


def idle_plateau(
    args: argparse.Namespace,
    n: int,
    running: Running,
    clients: Clients,
    profiler: Profiler,
    redis_pid: int | None,
    baseline: int,
    previous: dict[str, Any] | None,
) -> dict[str, Any]:
    per = [min(s, -(-n // args.clients)) for s in clients.slots]
    cpu0, wall0 = running.cpu(), time.monotonic()
    profiler.start(f"ramp-{n}", running, args.profile_seconds)
    clients.send_all(cmd="open", n=per[0], concurrency=args.concurrency)
    with tqdm(total=sum(per), desc=f"open {n}", unit="sock", leave=False) as bar:
        try:
            opened = clients.collect("opened", args.timeout, bar)
        except TimeoutError:
            return stalled_plateau(args, n, bar.n, running, profiler, cpu0, wall0)
    connect_seconds = time.monotonic() - wall0
    clients.ask("quiet", "quiet", args.timeout + 10, seconds=2.0, timeout=args.timeout)
    settle = wait_server_quiet(running)
    cpu1, wall1 = running.cpu(), time.monotonic()
    profiler.stop()
    before = clients.ask("stats", "stats", 30)
    profiler.start(f"idle-{n}", running, args.idle_seconds)
    s0, r0, c0, w0 = running.cpu(), cpu_or_zero(redis_pid), clients.cpu(), time.monotonic()
    for _ in tqdm(range(int(args.idle_seconds)), desc=f"idle {n}", unit="s", leave=False):
        time.sleep(1.0)
    s1, r1, c1, w1 = running.cpu(), cpu_or_zero(redis_pid), clients.cpu(), time.monotonic()
    profiler.stop()
    after = clients.ask("stats", "stats", 30)
    rss = server_rss(running)
    open_now = sum(s["open"] for s in after)
    frames_before, frames_after = _sum_counters(before, "frames"), _sum_counters(after, "frames")
    window_frames = {k: frames_after.get(k, 0) - frames_before.get(k, 0) for k in frames_after}
    row = {
        "n": n,
        "open": open_now,
        "connect_failed": sum(o["failed"] for o in opened),
        "connect_retries": sum(o["retries"] for o in opened),
        "hub_catch_ups": hub_catch_ups(running),
        "first_connect_error": next((o["first_error"] for o in opened if o["first_error"]), None),
        "connect_seconds": connect_seconds,
        "connects_per_s": (n - (previous["n"] if previous else 0)) / connect_seconds,
        "settle_seconds": wall1 - wall0,
        "settle_timed_out": settle["timed_out"],
        "server_cpu_ramp_s": cpu1 - cpu0,
        "server_cpu_ms_per_connect": (cpu1 - cpu0) / max(1, n - (previous["n"] if previous else 0)) * 1000,
        "server_rss_per_process": rss,
        "server_rss": sum(rss),
        "rss_per_conn": (sum(rss) - baseline) / max(1, open_now),
        "rss_marginal_per_conn": (
            (sum(rss) - previous["server_rss"]) / max(1, open_now - previous["open"]) if previous else None
        ),
        "idle_seconds": w1 - w0,
        "idle_server_cpu_s": s1 - s0,
        "idle_server_util": (s1 - s0) / (w1 - w0),
        "idle_server_util_per_1k": (s1 - s0) / (w1 - w0) / max(1, open_now) * 1000,
        "idle_redis_util": (r1 - r0) / (w1 - w0) if redis_pid else None,
        "idle_client_util": (c1 - c0) / (w1 - w0),
        "idle_frames": window_frames,
        "idle_pings": sum(a["pings"] for a in after) - sum(b["pings"] for b in before),
        "closes": _sum_counters(after, "closes"),
        "errors": [e for a in after for e in a["errors"]][:10],
        "client_rss": clients.rss(),
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
    }
    return row


def stalled_plateau(
    args: argparse.Namespace, n: int, opened: int, running: Running, profiler: Profiler, cpu0: float, wall0: float
) -> dict[str, Any]:
    """The ramp did not reach ``n`` within ``--timeout``: record how far it got, and what the
    servers were doing then (a py-spy record of ``--profile-seconds`` when ``--py-spy``)."""
    profiler.stop()
    progress(f"  the ramp to {n} stalled: {opened} open after {time.monotonic() - wall0:.0f}s")
    profiler.start(f"stall-{n}", running, args.profile_seconds)
    profiler.stop()
    cpu1, wall1 = running.cpu(), time.monotonic()
    return {
        "n": n,
        "stalled": True,
        "open": opened,
        "connect_seconds": wall1 - wall0,
        "server_cpu_ramp_s": cpu1 - cpu0,
        "server_util_ramp": (cpu1 - cpu0) / (wall1 - wall0),
        "hub_catch_ups": hub_catch_ups(running),
        "server_rss": sum(server_rss(running)),
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
    }


# --- storm --------------------------------------------------------------------------------


def storm(args: argparse.Namespace, log_dir: Path, result: dict[str, Any], write: Any) -> None:
    n = args.n or (500 if args.quick else 5000)
    progress(f"setting up {n} agents in {DATABASE_URL}")
    tenant, tokens = setup_agents(n, log_dir)
    running = start_servers(args, log_dir)
    clients: Clients | None = None
    publisher: Proc | None = None
    profiler = Profiler(args.py_spy, log_dir)
    result["n"] = n
    result["layout"] = {"servers": server_layout(running), "tenant": tenant}
    try:
        publisher = Proc(
            "publisher",
            [PYTHON, "-m", "bench.publisher", "--kind", "pytake", "--tenant", str(tenant)],
            core=None,
            env=running.env,
            log_dir=log_dir,
            stdin_pipe=True,
            stdout_pipe=True,
        )
        publisher.read_until("ready", 60)
        clients = Clients(running.urls, tokens, n, args.clients, log_dir)
        result["layout"]["clients"] = client_layout(clients)
        wait_server_quiet(running)
        started = time.monotonic()
        opened = open_all(args, n, clients, running)
        result["initial_connect"] = {
            "open": sum(o["open"] for o in opened),
            "failed": sum(o["failed"] for o in opened),
            "seconds_until_quiet": time.monotonic() - started,
        }
        progress(f"{result['initial_connect']['open']} agents connected and quiet in {time.monotonic() - started:.1f}s")
        if result["initial_connect"]["open"] < n:
            raise RuntimeError(f"only {result['initial_connect']['open']} of {n} sockets open: {opened}")
        variants = ["drop", "restart"] if args.variant == "both" else [args.variant]
        for step, variant in enumerate(variants, start=1):
            if result["variants"] and result["variants"][-1]["all_caught_up_s"] is None:
                result["skipped"] = f"{variant}: the {result['variants'][-1]['variant']} variant did not finish"
                progress(f"  {result['skipped']}; not run")
                break
            run = storm_drop if variant == "drop" else storm_restart
            row = run(args, tenant, step, n, running, clients, publisher, profiler, log_dir)
            row["loadavg"] = Path("/proc/loadavg").read_text().split()[:3]
            result["variants"].append(row)
            write()
            progress(
                f"  {variant}: all connected in {row['all_connected_s']:.2f}s, all caught up in "
                f"{_s(row['all_caught_up_s'])}; completeness {row['completeness']:.4f}, duplicates "
                f"{row['duplicates']}; server CPU {row['server_cpu_s']:.1f}s"
            )
            wait_server_quiet(running)
    finally:
        profiler.stop()
        if clients is not None:
            clients.stop()
        if publisher is not None:
            publisher.stop()
        running.stop()
    result["profiles"] = {name: profile_summary(paths) for name, paths in profiler.done.items()}


def publish_missed(publisher: Proc, step: int) -> dict[str, Any]:
    publisher.send(cmd="publish", step=step, rate=500, count=MISSED_EVENTS)
    return publisher.read_until("published", 120)


def wait_absences(tenant: int, n: int, timeout: float) -> dict[str, Any]:
    """Wait until the server has finished every dropped socket's ``disconnect``: the last step of
    an agent's last socket closing is ``flow.agent_went_away``, which writes an ``AgentAbsence``
    row (its CPU use says little: that work waits on the database, one agent at a time)."""
    import psycopg

    started = time.monotonic()
    query = (
        "SELECT count(*) FROM conversations_agentabsence a JOIN conversations_user u ON u.id = a.user_id "
        "WHERE u.tenant_id = %s AND u.email = ANY(%s)"
    )
    emails = [f"agent{i}@bench.invalid" for i in range(n)]  # bench.pytake_setup's agents of this run
    count = 0
    with psycopg.connect(DATABASE_URL.replace("postgres://", "postgresql://", 1), autocommit=True) as conn:
        while time.monotonic() - started < timeout:
            row = conn.execute(query, [tenant, emails]).fetchone()
            count = int(row[0]) if row else 0
            if count >= n:
                break
            time.sleep(0.5)
    return {"seconds": time.monotonic() - started, "absences": count, "timed_out": count < n}


def storm_drop(
    args: argparse.Namespace,
    tenant: int,
    step: int,
    n: int,
    running: Running,
    clients: Clients,
    publisher: Proc,
    profiler: Profiler,
    log_dir: Path,
) -> dict[str, Any]:
    """Every client drops at once; 50 events; every client reconnects at once and resumes."""
    catch_ups = hub_catch_ups(running)
    dropped = clients.ask("drop", "dropped", 60)
    quiet = wait_absences(tenant, n, args.timeout)
    progress(f"  drop: {sum(d['dropped'] for d in dropped)} dropped; server done with them in {quiet['seconds']:.1f}s")
    published = publish_missed(publisher, step)
    concurrency = args.storm_concurrency or n
    command = {
        "cmd": "reconnect",
        "step": step,
        "expect": MISSED_EVENTS,
        "concurrency": concurrency,
        "timeout": args.timeout,
    }
    reports, cpu = storm_window("storm-drop", command, args, n, running, clients, profiler)
    started = min(r["started_wall"] for r in reports)
    row = storm_row("drop", n, reports, started, *cpu)
    row["disconnect_processing_s"] = quiet["seconds"]
    row["disconnect_processing_timed_out"] = quiet["timed_out"]
    row["hub_catch_ups"] = hub_catch_ups(running) - catch_ups
    row["publish"] = published
    row["reconnect_concurrency"] = concurrency
    return row


def storm_restart(
    args: argparse.Namespace,
    tenant: int,
    step: int,
    n: int,
    running: Running,
    clients: Clients,
    publisher: Proc,
    profiler: Profiler,
    log_dir: Path,
) -> dict[str, Any]:
    """SIGTERM every server; 50 events while they are down; start them again on the same ports.
    Clients reconnect by themselves (the browser client's backoff) and resume."""
    clients.ask("watch", "watching", 30, step=step, expect=MISSED_EVENTS, backoff_base=args.backoff_base)
    killed = time.time()
    old = list(running.procs)
    for proc in old:
        os.killpg(proc.pid, signal.SIGTERM)
    shutdown: list[float] = []
    for proc in old:
        try:
            proc.popen.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.popen.wait(timeout=10)
        shutdown.append(time.time() - killed)
        proc.stop()
    published = publish_missed(publisher, step)
    for k, proc in enumerate(old):
        argv = list(proc.popen.args)[3:]  # without "taskset -c <core>"
        new = Proc(f"{proc.name}-restarted", argv, core=SERVER_CORE, env=running.env, log_dir=log_dir)
        running.procs[k] = new
        wait_port(int(running.urls[k].rsplit(":", 1)[1]), 60, new)
    ready = time.time()
    command = {"cmd": "watch_report", "started_wall": ready, "timeout": args.timeout}
    reports, cpu = storm_window("storm-restart", command, args, n, running, clients, profiler)
    row = storm_row("restart", n, reports, ready, *cpu)
    row["server_down_s"] = ready - killed
    row["hub_catch_ups"] = hub_catch_ups(running)  # of the restarted processes
    row["server_shutdown_s"] = shutdown
    row["all_caught_up_since_kill_s"] = (
        row["all_caught_up_s"] + (ready - killed) if row["all_caught_up_s"] is not None else None
    )
    row["publish"] = published
    row["backoff"] = {"base_s": args.backoff_base, "max_s": 30.0, "jitter": "equal (as static/pytake/realtime.js)"}
    return row


def storm_window(
    name: str,
    command: dict[str, Any],
    args: argparse.Namespace,
    n: int,
    running: Running,
    clients: Clients,
    profiler: Profiler,
) -> tuple[list[dict[str, Any]], tuple[float, float, float]]:
    """Send ``command`` to every client and collect their ``storm`` reports (every slot caught up,
    or the timeout), profiled as ``name``. Returns the reports and the CPU seconds the servers,
    Redis and the clients used meanwhile."""
    cpu0, redis_pid = running.cpu(), redis_server_pid()
    redis0, client0 = cpu_or_zero(redis_pid), clients.cpu()
    profiler.start(name, running, args.profile_seconds)
    clients.send_all(**command)
    with tqdm(total=n, desc="caught up", unit="sock", leave=False) as bar:
        reports = clients.collect("storm", args.timeout + 30, bar, key="caught")
    cpu1, redis1, client1 = running.cpu(), cpu_or_zero(redis_pid), clients.cpu()
    profiler.stop()
    return reports, (cpu1 - cpu0, redis1 - redis0, client1 - client0)


def storm_row(
    variant: str,
    n: int,
    reports: list[dict[str, Any]],
    started: float,
    server_cpu: float,
    redis_cpu: float,
    client_cpu: float,
) -> dict[str, Any]:
    connected = sorted(t - started for r in reports for t in r["connected_at"] if t)
    caught = sorted(t - started for r in reports for t in r["caught_at"] if t)
    all_caught = len(caught) == n
    finished = max(r["finished_wall"] for r in reports) - started
    return {
        "variant": variant,
        "n": n,
        "connected": len(connected),
        "caught_up": len(caught),
        "all_connected_s": connected[-1] if len(connected) == n else float("nan"),
        "all_caught_up_s": caught[-1] if all_caught else None,
        "caught_up_p50_s": _percentile(caught, 50),
        "caught_up_p99_s": _percentile(caught, 99),
        "connected_p50_s": _percentile(connected, 50),
        "connected_p99_s": _percentile(connected, 99),
        "expected_missed": n * MISSED_EVENTS,
        "received_missed": sum(r["received_missed"] for r in reports),
        "completeness": sum(r["received_missed"] for r in reports) / (n * MISSED_EVENTS),
        "duplicates": sum(r["duplicates"] for r in reports),
        "overlap_frames": sum(r["overlap"] for r in reports),
        "stray_events": sum(r["stray"] for r in reports),
        "resyncs": sum(r["resyncs"] for r in reports),
        "replayed_acked": sum(1 for r in reports for x in r["replayed"] if x is not None),
        "connect_failures": sum(r["connect_failures"] for r in reports),
        "attempts_max": max((a for r in reports for a in r["attempts"]), default=0),
        "closes": _sum_counters(reports, "closes"),
        "expected_closes": _sum_counters(reports, "expected_closes"),
        "errors": [e for r in reports for e in r["errors"]][:10],
        "server_cpu_s": server_cpu,
        "server_util": server_cpu / finished if finished > 0 else None,
        "redis_cpu_s": redis_cpu,
        "client_cpu_s": client_cpu,
        "client_util": client_cpu / finished if finished > 0 else None,
        "met_target": all_caught and caught[-1] < STORM_TARGET_SECONDS,
        # Seconds by which q % of the sockets had caught up (connected), q = 0..100: the plot's curves.
        "caught_up_curve": [_percentile(caught, q) for q in range(101)] if caught else [],
        "connected_curve": [_percentile(connected, q) for q in range(101)] if connected else [],
    }


# --- memory: where a connection's bytes go -------------------------------------------------


def serve_traced(port: int, ws: str, frames: int) -> None:
    """A PyTake server as production runs it (``realtime.serve``'s settings; ``ws`` may pick
    uvicorn's other WebSocket protocol), with ``tracemalloc`` tracing ``frames`` frames per
    allocation (0: not traced). SIGUSR1 writes a snapshot to
    ``$BENCH_SNAPSHOT_DIR/snapshot-<n>.tracemalloc`` (n = 1, 2, ...)."""
    import gc
    import tracemalloc

    import uvicorn

    if frames:
        tracemalloc.start(frames)
    taken = [0]

    def snapshot(signum: int, frame: object) -> None:
        gc.collect()
        taken[0] += 1
        final = Path(os.environ["BENCH_SNAPSHOT_DIR"]) / f"snapshot-{taken[0]}.tracemalloc"
        temporary = final.with_suffix(".partial")
        if tracemalloc.is_tracing():
            tracemalloc.take_snapshot().dump(str(temporary))
        else:
            temporary.write_text("")
        temporary.rename(final)

    signal.signal(signal.SIGUSR1, snapshot)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pytake.settings")
    from realtime.serve import APPLICATION, config

    server_config = config(uvicorn.importer.import_from_string(APPLICATION), "127.0.0.1", port)
    server_config.ws = ws
    uvicorn.Server(server_config).run()


def take_snapshot(server: Proc, directory: Path, number: int) -> Path:
    path = directory / f"snapshot-{number}.tracemalloc"
    os.kill(server.pid, signal.SIGUSR1)
    deadline = time.monotonic() + 300
    while not path.exists():
        if time.monotonic() > deadline or server.popen.poll() is not None:
            raise TimeoutError(f"no snapshot {path}: {server.log_tail()}")
        time.sleep(0.2)
    return path


def memory(args: argparse.Namespace, log_dir: Path, result: dict[str, Any], write: Any) -> None:
    """One server (traced unless ``--trace-frames 0``), ``--n`` idle sockets (default 2,000):
    RSS and traced bytes per connection, and the allocation sites that grew, per connection."""
    import tracemalloc

    n = args.n or 2000
    progress(f"setting up {n} agents in {DATABASE_URL}")
    tenant, tokens = setup_agents(n, log_dir)
    port = free_port()
    run_id = f"mem{os.getpid()}"
    env = {
        **conn_env(),
        "PYTAKE_CHANNEL_LAYER": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "PYTAKE_CHANNEL_PREFIX": f"bench-{run_id}",
        "PYTAKE_PRESENCE_PREFIX": f"bench-presence-{run_id}",
        "BENCH_SNAPSHOT_DIR": str(log_dir),
        **server_overrides(args),
    }
    argv = [PYTHON, "-m", "bench.scenario_connections", "--serve-traced", str(port), "--ws", args.ws]
    argv += ["--trace-frames", str(args.trace_frames)]
    server = Proc(f"traced-server-{port}", argv, core=SERVER_CORE, env=env, log_dir=log_dir)
    running = Running([server], [f"ws://127.0.0.1:{port}"], "pytake", "pytake", env=env)
    clients: Clients | None = None
    result.update(n=n, ws=args.ws, trace_frames=args.trace_frames, layout={"servers": [{"pid": server.pid}]})
    try:
        wait_port(port, 120, server)
        clients = Clients(running.urls, tokens, n, 1, log_dir)
        warm_up(clients, running, 300)
        rss0 = rss_bytes(server.pid)
        before = take_snapshot(server, log_dir, 1)
        opened = open_all(args, n, clients, running)
        for _ in tqdm(range(int(args.idle_seconds)), desc="idle", unit="s", leave=False):
            time.sleep(1.0)
        held = sum(s["open"] for s in clients.ask("stats", "stats", 30))
        rss1 = rss_bytes(server.pid)
        after = take_snapshot(server, log_dir, 2)
        result["open"] = held
        result["failed"] = sum(o["failed"] for o in opened)
        result["rss_before"], result["rss_after"] = rss0, rss1
        result["rss_per_conn"] = (rss1 - rss0) / max(1, held)
        if args.trace_frames:
            old, new = tracemalloc.Snapshot.load(str(before)), tracemalloc.Snapshot.load(str(after))
            result.update(allocation_sites(old, new, held))
    finally:
        if clients is not None:
            clients.stop()
        server.stop()


def allocation_sites(old: Any, new: Any, held: int, top: int = 30) -> dict[str, Any]:
    """What grew between two snapshots, per held connection: by line, by file, and the biggest
    tracebacks (innermost frames first)."""
    ignore = [tracemalloc_filter(False, "<frozen importlib._bootstrap>"), tracemalloc_filter(False, "<unknown>")]
    old, new = old.filter_traces(ignore), new.filter_traces(ignore)
    traced = sum(s.size for s in new.statistics("filename")) - sum(s.size for s in old.statistics("filename"))

    def rows(key: str) -> list[dict[str, Any]]:
        out = []
        for stat in new.compare_to(old, key)[:top]:
            frame = stat.traceback[0]
            where = _short(frame.filename) + (f":{frame.lineno}" if key == "lineno" else "")
            out.append(
                {"where": where, "bytes_per_conn": stat.size_diff / held, "count_per_conn": stat.count_diff / held}
            )
        return out

    tracebacks = []
    for stat in new.compare_to(old, "traceback")[:12]:
        frames = [f"{_short(f.filename)}:{f.lineno}" for f in list(stat.traceback)[::-1][:8]]
        tracebacks.append({"bytes_per_conn": stat.size_diff / held, "frames": frames})
    return {
        "traced_per_conn": traced / max(1, held),
        "by_line": rows("lineno"),
        "by_file": rows("filename"),
        "tracebacks": tracebacks,
    }


def tracemalloc_filter(inclusive: bool, pattern: str) -> Any:
    import tracemalloc

    return tracemalloc.Filter(inclusive, pattern)


def _short(filename: str) -> str:
    for prefix in ("site-packages/", "/lib/python3.11/", str(ROOT) + "/"):
        if prefix in filename:
            return filename.split(prefix, 1)[1]
    return filename


def memory_table(result: dict[str, Any]) -> str:
    lines = [
        f"{result['open']:,} idle sockets, uvicorn --ws {result['ws']}: RSS {result['rss_per_conn'] / KB:.1f} KB per "
        f"connection (traced server: tracemalloc adds its own bookkeeping to RSS)",
    ]
    if "by_file" in result:
        lines += [
            f"traced Python allocations: {result['traced_per_conn'] / KB:.1f} KB per connection",
            "",
            allocation_table("file", result["by_file"][:20]),
            "",
            allocation_table("line", result["by_line"][:25]),
        ]
    return "\n".join(lines)


def allocation_table(where: str, rows: list[dict[str, Any]]) -> str:
    cells = [[r["where"], f"{r['bytes_per_conn'] / KB:.2f}", f"{r['count_per_conn']:.1f}"] for r in rows]
    return markdown_table(f"{where} | KB / connection | allocations / connection", "lrr", cells)


# --- output -------------------------------------------------------------------------------


def idle_table(result: dict[str, Any]) -> str:
    header = (
        "sockets held | connect time s | server CPU ms / connect | server RSS MB | RSS / connection KB"
        " | marginal KB / connection | idle server CPU (% of a core) | idle Redis CPU %"
        " | unexpected closes"
    )
    rows = [
        [
            f"{r['open']:,} of {r['n']:,}",
            f"{r['connect_seconds']:.1f}",
            f"{r['server_cpu_ms_per_connect']:.2f}",
            f"{r['server_rss'] / KB / KB:.0f}",
            f"{r['rss_per_conn'] / KB:.1f}",
            _kb(r["rss_marginal_per_conn"]),
            f"{100 * r['idle_server_util']:.1f}",
            _pct(r["idle_redis_util"]),
            _closes(r["closes"]),
        ]
        for r in result["steps"]
    ]
    stalled = result.get("stalled")
    if stalled:
        held = f"{stalled['open']:,} of {stalled['n']:,}: **stalled** after {stalled['connect_seconds']:.0f} s"
        held += f" (hub catch-ups so far: {stalled['hub_catch_ups']})"
        rows.append([held, "", "", f"{stalled['server_rss'] / KB / KB:.0f}", "", "", "", "", ""])
    return markdown_table(header, "rrrrrrrrl", rows)


def storm_table(result: dict[str, Any]) -> str:
    header = (
        "variant | N | all connected s | all caught up s | p50 / p99 caught up s | completeness"
        " | duplicates | overlap frames | server CPU s | client CPU s | connect failures | target < 10 s"
    )
    rows = [
        [
            r["variant"],
            f"{r['n']:,}",
            f"{r['all_connected_s']:.2f}",
            _s(r["all_caught_up_s"]),
            f"{r['caught_up_p50_s']:.2f} / {r['caught_up_p99_s']:.2f}",
            f"{r['completeness']:.4f}",
            str(r["duplicates"]),
            f"{r['overlap_frames']:,}",
            f"{r['server_cpu_s']:.1f}",
            f"{r['client_cpu_s']:.1f}",
            f"{r['connect_failures']:,}",
            "met" if r["met_target"] else "**not met**",
        ]
        for r in result["variants"]
    ]
    return markdown_table(header, "lrrrlrrrrrrl", rows)


def plot_idle(result: dict[str, Any], path: Path) -> None:
    plt = pyplot()
    steps = result["steps"]
    xs = [s["open"] for s in steps]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    left.plot(xs, [s["rss_per_conn"] / KB for s in steps], marker="o", label="(RSS − RSS at 0) / sockets")
    marginal = [(s["open"], s["rss_marginal_per_conn"] / KB) for s in steps if s["rss_marginal_per_conn"] is not None]
    if marginal:
        left.plot(*zip(*marginal, strict=True), marker="s", linestyle="--", label="marginal, between plateaus")
    left.axhline(RSS_TARGET_BYTES / KB, color="grey", linestyle=":", label="target 30 KB")
    left.set_xlabel("idle sockets held")
    left.set_ylabel("server RSS per connection (KB)")
    left.set_ylim(bottom=0)
    left.legend(fontsize=8)
    right.plot(xs, [100 * s["idle_server_util"] for s in steps], marker="o", label="servers")
    right.plot(xs, [100 * (s["idle_redis_util"] or 0) for s in steps], marker="^", label="Redis")
    right.set_xlabel("idle sockets held")
    right.set_ylabel(f"CPU over {result['idle_seconds']:.0f} s idle (% of a core)")
    right.set_ylim(bottom=0)
    right.legend(fontsize=8)
    fig.suptitle(f"PyTake idle connections ({result['target']}, {len(result['layout']['servers'])} server processes)")
    save_figure(fig, path)


def plot_storm(result: dict[str, Any], path: Path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for r in result["variants"]:
        for curve, count, style, what in (
            ("connected_curve", "connected", "--", "connected"),
            ("caught_up_curve", "caught_up", "-", "caught up"),
        ):
            if r[curve]:
                share = r[count] / r["n"]  # the curve covers only the sockets that got there
                ax.plot(r[curve], [q * share for q in range(101)], linestyle=style, label=f"{r['variant']}: {what}")
    ax.axvline(STORM_TARGET_SECONDS, color="grey", linestyle=":", label="target 10 s")
    ax.set_xlabel("seconds since the reconnect started (restart: since the server listens again)")
    ax.set_ylabel("% of sockets")
    ax.set_ylim(0, 101)
    ax.legend(fontsize=8)
    ax.set_title(f"PyTake reconnect storm, N = {result['n']:,}, {MISSED_EVENTS} missed events each")
    save_figure(fig, path)


def _sum_counters(reports: list[dict[str, Any]], key: str) -> dict[str, int]:
    total: dict[str, int] = {}
    for r in reports:
        for k, v in r[key].items():
            total[k] = total.get(k, 0) + v
    return total


def _mb(value: float) -> str:
    return f"{value / KB / KB:.0f} MB"


def _kb(value: float | None) -> str:
    return "–" if value is None else f"{value / KB:.1f}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def _s(value: float | None) -> str:
    return "not all" if value is None else f"{value:.2f}"


def _closes(closes: dict[str, int]) -> str:
    return ", ".join(f"{code}: {count}" for code, count in sorted(closes.items())) or "0"


def pytake_version() -> dict[str, Any]:
    """The commit the servers ran, and the product files that differed from it (the checkout is
    shared: other work may be in progress in it)."""

    def git(*argv: str) -> str:
        return subprocess.run(["git", "-C", str(ROOT), *argv], capture_output=True, text=True).stdout.rstrip()

    changed = git("status", "--porcelain", "--", "realtime", "pytake", "conversations", "whatsapp").splitlines()
    return {"commit": git("log", "-1", "--format=%h %s"), "uncommitted": [line[3:] for line in changed]}


def main() -> None:
    stop_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", choices=["idle", "storm", "memory"])
    parser.add_argument("--serve-traced", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--ws", default="websockets-sansio", help="memory: uvicorn's --ws implementation")
    parser.add_argument("--trace-frames", type=int, default=12, help="memory: tracemalloc frames (0: off)")
    parser.add_argument("--quick", action="store_true", help="idle: 1k and 2k sockets, 10 s idle each; storm: N = 500")
    parser.add_argument(
        "--target", default="pytake-uvicorn-pubsub", choices=[t for t in TARGETS if t.startswith("pytake")]
    )
    parser.add_argument(
        "--tenants", type=int, default=1, help="idle: spread the agents over this many tenants (default: one team)"
    )
    parser.add_argument("--setup-tenants", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--agents", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--tokens", help=argparse.SUPPRESS)
    parser.add_argument("--steps", help="idle: comma-separated plateaus (default 1000,5000,10000,20000)")
    parser.add_argument("--n", type=int, help="storm: sockets (default 5,000; --quick 500)")
    parser.add_argument("--variant", choices=["drop", "restart", "both"], default="both", help="storm variant(s)")
    parser.add_argument("--servers", type=int, default=None, help="server processes (idle: 2, storm: 1)")
    parser.add_argument("--clients", type=int, default=None, help="client processes (idle: 2, storm: 1)")
    parser.add_argument("--concurrency", type=int, default=50, help="handshakes in flight per client while ramping")
    parser.add_argument("--storm-concurrency", type=int, default=0, help="handshakes in flight in the storm (0: all)")
    parser.add_argument(
        "--backoff-base", type=float, default=0.5, help="restart: the browser client's reconnect backoff base (s)"
    )
    parser.add_argument("--idle-seconds", type=float, default=None, help="idle time measured (30 s; --quick 10 s)")
    parser.add_argument("--timeout", type=float, default=900.0, help="per ramp step / storm, seconds")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="server setting override")
    parser.add_argument("--py-spy", action="store_true", help="record server profiles (var/bench/conn-*/)")
    parser.add_argument("--profile-seconds", type=float, default=20.0)
    parser.add_argument("--out", default=None, help="JSON path (default var/bench/connections-<scenario>.json)")
    args = parser.parse_args()
    if args.setup_tenants:
        setup_tenants(args.setup_tenants, args.agents, args.tokens)
        return
    if args.serve_traced:
        serve_traced(args.serve_traced, args.ws, args.trace_frames)
        return
    if args.scenario is None:
        parser.error("--scenario is required")
    args.idle_seconds = args.idle_seconds or (10.0 if args.quick else 30.0)
    args.servers = args.servers or (2 if args.scenario == "idle" else 1)
    args.clients = args.clients or (2 if args.scenario == "idle" else 1)
    fd_limit = raise_fd_limit()
    log_dir = new_log_dir("conn-")
    # A quick run checks the harness: its figures go to the run's log directory, not over the
    # last full run's (as scenario_e2e and scenario_rest do).
    default_out = (
        log_dir / f"connections-{args.scenario}-quick.json" if args.quick else OUT / f"connections-{args.scenario}.json"
    )
    out = Path(args.out) if args.out else default_out
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.time()
    result: dict[str, Any] = {
        "scenario": args.scenario,
        "mode": "quick" if args.quick else "full",
        "command": command_line("bench.scenario_connections"),
        "machine": {**machine(node=True), "fd_limit": fd_limit},
        "pytake": pytake_version(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)),
        "target": args.target,
        "server_env_overrides": server_overrides(args),
        "database": DATABASE_URL,
        "redis": REDIS_URL,
        "idle_seconds": args.idle_seconds,
        "concurrency": args.concurrency,
        "logs": str(log_dir.relative_to(ROOT)),
        "steps": [],
        "variants": [],
    }
    progress(f"logs in {log_dir}; load average {result['machine']['loadavg_at_start']}")

    def write() -> None:
        """After every plateau / variant, so an interrupted run keeps what it measured."""
        result["seconds"] = time.time() - started
        out.write_text(json.dumps(result, indent=1))

    flush_redis()
    try:
        {"idle": idle, "storm": storm, "memory": memory}[args.scenario](args, log_dir, result, write)
    finally:
        write()
        flush_redis()
    if args.scenario == "memory":
        print(memory_table(result))
    elif args.scenario == "idle":
        if result["steps"]:
            plot_idle(result, out.with_suffix(".png"))
        print(idle_table(result))
    else:
        if result["variants"]:
            plot_storm(result, out.with_suffix(".png"))
        print(storm_table(result))
    for name, summary in result.get("profiles", {}).items():
        if summary:
            print(f"\npy-spy, {name}: {summary['samples'][0]} busy samples; inclusive share:")
            print("\n".join(summary["inclusive"][:15]) + "\nself (leaf) share:\n" + "\n".join(summary["self"][:10]))
    progress(f"wrote {out} in {time.time() - started:.0f}s")


if __name__ == "__main__":
    main()
