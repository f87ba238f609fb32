"""End-to-end bench (issue 7, scenario 2): signed WhatsApp webhooks → ``message.new`` at the agents.

``python -m bench.scenario_e2e [--quick] [--rate 50,100,200] [--agents 1000] [--profile SECONDS]``

The real path, every piece a separate process: the poster POSTs signed webhooks to
``/webhooks/whatsapp/`` (PyTake as production runs it: ``python -m realtime.serve``) at a fixed
rate; the view verifies the signature, stores the raw event in PostgreSQL and enqueues
``whatsapp.process_webhook`` on Redis after commit; a Celery worker parses it, writes the message
and its events (event log, PostgreSQL), and on commit publishes them through the channel layer
(Redis pub/sub); the server's hub delivers ``message.new`` to the socket of the agent who holds the
conversation and joined it.

Setup (``bench.e2e_setup``): N agents, N contacts, contact i's open conversation assigned to agent
i, each agent's one socket joined to it. Webhook i comes from contact i mod N. Per webhook, the
sockets receive exactly one ``message.new`` (the assignee's socket: ``message.*`` events go to the
conversation's group, i.e. the sockets that joined it) and one ``conversation.updated`` (the
assignee's ``user`` group; supervisors too, none is connected here). No bot runs: the bot only
answers conversations nobody holds (the flow task still runs and returns at once, as in production).

Process layout: server on core 0 (taskset), agents and poster on core 1, Celery worker (prefork,
2 processes, as ``deploy/celery-worker``), PostgreSQL and Redis unpinned. Latency = arrival of
``message.new`` at the agent's socket − the moment the poster began the POST (same clock), so
time a request waited for one of the poster's ``--connections`` (32) counts: the schedule is open
loop, a slow server does not slow the offered rate. A POST unanswered after ``--post-timeout``
seconds (30; quick 10) has failed, as Meta would count it.

Per step: sent, HTTP 200s, delivered, lost (accepted webhooks whose ``message.new`` did not arrive:
waited out until no frame came for 10 s, 5 s quick), duplicates, latency p50/p90/p99/max, POST
p50/p99, stored → processed (the webhook row's ``received_at`` → ``processed_at``: Celery queue
wait + processing), the deepest Celery queue seen, and the CPU of the server, the worker (all its
processes), this database's PostgreSQL backends (live ones: the server's per-request connections
are missed; ``postgres_all`` in the JSON is every PostgreSQL process of the machine) and Redis,
also per webhook. A step whose client core passed 90 % is refused (not reported as a figure).
Between steps the previous step's work is waited out (queue empty, nothing stored for 2 s).
Output: ``var/bench/e2e.json`` and ``.png`` (``--quick``: in the run's log directory), a Markdown
table on stdout, process logs and the py-spy profiles in ``var/bench/e2e-<timestamp>/``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import (
    CLIENT_CORE,
    PYTHON,
    ROOT,
    SERVER_CORE,
    Proc,
    command_line,
    cpu_seconds,
    free_port,
    new_log_dir,
    number_list,
    percentile,
    py_spy_argv,
    read_text,
    redis_server_pid,
    rss_bytes,
    stop_on_sigterm,
    wait_port,
)
from bench.report import fmt, machine, markdown_table, progress, pyplot, raw_stacks, save_figure
from bench.run import pytake_env as bench_env
from bench.targets import LAYERS, pytake_server_argv

DATABASE_URL = os.environ.get("BENCH_E2E_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/pytake_bench_e2e")
REDIS_URL = os.environ.get("BENCH_E2E_REDIS_URL", "redis://127.0.0.1:6379/8")
CELERY = str(ROOT / ".venv" / "bin" / "celery")
RESULTS = ROOT / "var" / "bench"  # git-ignored; docs/bench/ keeps summaries (bench.summary)
CLIENT_LIMIT = 0.90
TARGET_P50_MS, TARGET_P99_MS = 15.0, 50.0
CELERY_QUEUE = "celery"
# As deploy/: the ASGI server closes its database connection after each request (each request runs
# its sync code in a thread of its own; persistent connections piled up and ran PostgreSQL out of
# connections, see pytake/settings.py), the Celery worker (sync, long-lived) keeps its own.
SERVER_ENV = {"DATABASE_CONN_MAX_AGE": "0"}
WORKER_ENV = {
    "DATABASE_CONN_MAX_AGE": "60",
    "REMAP_SIGTERM": "SIGQUIT",
}  # Celery's default queue (WHATSAPP_CELERY_QUEUE is empty)


def pytake_env(run_id: str, server_url: str) -> dict[str, str]:
    """``bench.run``'s settings, on this scenario's database and Redis db."""
    return {
        **bench_env(),
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": REDIS_URL,  # also the Celery broker (CELERY_BROKER_URL defaults to it)
        "PYTAKE_CHANNEL_LAYER": LAYERS["pubsub"],
        "PYTAKE_CHANNEL_PREFIX": f"e2e-{run_id}",
        "PYTAKE_PRESENCE_PREFIX": f"e2e-presence-{run_id}",
        # Nothing is sent in this scenario (no bot reply); were something sent, it would reach the
        # bench's own server (a 404), never Meta.
        "WHATSAPP_GRAPH_BASE_URL": f"{server_url}/no-graph-api",
        "PYTAKE_PUBLIC_URL": server_url,
        "CELERY_TASK_ALWAYS_EAGER": "0",
    }


# --- /proc readings -------------------------------------------------------------------------------


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (the Celery worker's pool processes)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = read_text(f"/proc/{entry.name}/stat")
            if stat:
                ppid = int(stat.rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def database_backends(name: str) -> list[int]:
    """PostgreSQL backends connected to database ``name`` (their title names it)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            title = read_text(f"/proc/{entry.name}/cmdline").replace("\0", " ")
            if title.startswith("postgres: ") and f" {name} " in title:
                pids.append(int(entry.name))
    return pids


def postgres_processes() -> list[int]:
    """Every PostgreSQL process (the postmaster's reaped children count in its own figure): all
    databases, other users of this machine included."""
    return [
        int(e.name)
        for e in Path("/proc").iterdir()
        if e.name.isdigit() and read_text(f"/proc/{e.name}/comm").strip() == "postgres"
    ]


def cpu_of(pids: list[int]) -> dict[int, float]:
    readings = {}
    for pid in pids:
        try:
            readings[pid] = cpu_seconds(pid)
        except (OSError, IndexError):
            continue
    return readings


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU used between two readings of a changing set of processes (new ones count in full)."""
    return sum(value - before.get(pid, 0.0) for pid, value in after.items())


class Sampler:
    """The Celery queue's depth (``LLEN``), sampled every 50 ms while a step runs."""

    def __init__(self, redis_url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(redis_url)
        self.max_depth = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.max_depth = 0
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.max_depth = max(self.max_depth, int(self.client.llen(CELERY_QUEUE)))

    def stop(self) -> int:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        return self.max_depth

    def wait_empty(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.client.llen(CELERY_QUEUE) == 0:
                return True
            time.sleep(0.1)
        return False


def webhook_rows(after_id: int) -> list[tuple[int, float, float | None]]:
    """(id, received_at, processed_at) of the webhooks stored since ``after_id``."""
    import psycopg

    url = DATABASE_URL.replace("postgres://", "postgresql://", 1)
    for attempt in range(20):  # the server may hold every connection slot for a while (see docs)
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                rows = conn.execute(
                    "SELECT id, extract(epoch FROM received_at), extract(epoch FROM processed_at) "
                    "FROM whatsapp_webhookevent WHERE id > %s ORDER BY id",
                    [after_id],
                ).fetchall()
            break
        except psycopg.OperationalError:
            if attempt == 19:
                raise
            time.sleep(0.5)
    return [(int(r[0]), float(r[1]), float(r[2]) if r[2] is not None else None) for r in rows]


def last_webhook_id() -> int:
    rows = webhook_rows(0)
    return rows[-1][0] if rows else 0


# --- processes ------------------------------------------------------------------------------------


def wait_log(proc: Proc, needle: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}: {proc.log_tail()}")
        if needle in proc.log_tail(20000):
            return
        time.sleep(0.2)
    raise TimeoutError(f"{proc.name}: {needle!r} not in its log after {timeout}s: {proc.log_tail()}")


def run_setup(agents: int, env: dict[str, str], log_dir: Path) -> tuple[dict[str, Any], Path]:
    out = subprocess.run(
        [PYTHON, "-m", "bench.e2e_setup", "--agents", str(agents), "--out", str(log_dir / f"agents-{agents}.txt")],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    if out.returncode != 0:
        raise RuntimeError(f"bench.e2e_setup failed: {out.stderr[-3000:]}")
    info = json.loads(out.stdout.strip().splitlines()[-1])
    path = log_dir / "setup.json"
    path.write_text(json.dumps(info))
    return info, path


# --- profile --------------------------------------------------------------------------------------

_FRAME = re.compile(r"^(?P<name>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")
# Plumbing every sample passes through: left out of the inclusive list so that it shows the work.
_PLUMBING = (
    "threading.py",
    "concurrent/futures/",
    "asgiref/",
    "click/",
    "celery/bin/",
    "celery/bootsteps.py",
    "billiard/",
    "runpy",
    "<frozen",
    "asyncio/",
    "django/utils/deprecation.py",
    "django/core/handlers/",
)


def profile_summary(raw: Path, top: int = 30) -> dict[str, Any]:
    """A py-spy ``-f raw`` file in short: the share of samples under each function (``name
    (file)``, inclusive; plumbing left out) and the functions the samples were in (self)."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for stack, n in raw_stacks(raw):
        total += n
        frames = []
        for frame in stack:
            match = _FRAME.match(frame)
            frames.append(
                f"{match['name']} ({match['file'].split('site-packages/')[-1].replace(str(ROOT) + '/', '')})"
                if match
                else frame
            )
        own[frames[-1]] += n
        for frame in set(frames):
            if not frame.startswith("process ") and not any(p in frame for p in _PLUMBING):
                inclusive[frame] += n

    def share(counter: Counter[str]) -> list[str]:
        return [f"{100 * n / total:5.1f}% {frame}" for frame, n in counter.most_common(top)] if total else []

    return {"samples": total, "inclusive": share(inclusive), "self": share(own)}


def spy(pid: int, seconds: int, out: Path, log_dir: Path, *, subprocesses: bool = False) -> Proc:
    argv = py_spy_argv(pid, seconds, out, subprocesses=subprocesses)
    return Proc(f"py-spy-{pid}", argv, core=None, log_dir=log_dir)


# --- the scenario ---------------------------------------------------------------------------------


class Scenario:
    def __init__(self, args: argparse.Namespace, log_dir: Path) -> None:
        self.args = args
        self.log_dir = log_dir
        self.procs: dict[str, Proc] = {}
        self.sampler = Sampler(REDIS_URL)
        self.redis_pid = redis_server_pid()
        self.database = DATABASE_URL.rsplit("/", 1)[1]

    def start(self) -> dict[str, Any]:
        args = self.args
        import redis

        redis.Redis.from_url(REDIS_URL).flushdb()  # db 8 is this bench's: no task left from an aborted run
        run_id = uuid.uuid4().hex[:8]
        port = free_port()
        env = pytake_env(run_id, f"http://127.0.0.1:{port}")
        progress(f"setup: {args.agents} agents, contacts and assigned conversations in {self.database}")
        t0 = time.monotonic()
        setup, setup_path = run_setup(args.agents, env, self.log_dir)
        info: dict[str, Any] = {"setup_seconds": time.monotonic() - t0, "tenant": setup["tenant"]}
        server_argv = pytake_server_argv(port)
        server_env = env | SERVER_ENV | dict(kv.split("=", 1) for kv in args.server_env)
        self.procs["server"] = Proc("server", server_argv, core=SERVER_CORE, env=server_env, log_dir=self.log_dir)
        wait_port(port, 60, self.procs["server"])
        worker_argv = [
            CELERY,
            "-A",
            "pytake",
            "worker",
            "--loglevel=INFO",
            f"--concurrency={args.worker_concurrency}",
            f"--pool={args.worker_pool}",
            f"--hostname=e2e-{run_id}@%h",
        ]
        self.procs["worker"] = Proc(
            "worker",
            worker_argv,
            core=args.worker_core,
            env=env | WORKER_ENV | dict(kv.split("=", 1) for kv in args.worker_env),
            log_dir=self.log_dir,
        )
        wait_log(self.procs["worker"], " ready.", 90)
        self.procs["agents"] = Proc(
            "agents",
            [PYTHON, "-m", "bench.e2e_client", "--role", "agents", "--url", f"ws://127.0.0.1:{port}"]
            + ["--n", str(args.agents), "--agents-file", setup["agents_file"]],
            core=CLIENT_CORE,
            log_dir=self.log_dir,
            stdin_pipe=True,
            stdout_pipe=True,
        )
        t0 = time.monotonic()
        connected = self.procs["agents"].read_until("connected", 600)
        if connected["failed"]:
            raise RuntimeError(f"{connected['failed']} agents failed to connect: {connected['first_error']}")
        progress(f"{connected['n']} agents connected and joined in {connected['seconds']:.1f}s; waiting for quiet")
        self.procs["agents"].send(cmd="quiet", seconds=2.0, timeout=600)
        quiet = self.procs["agents"].read_until("quiet", 620)
        info |= {
            "connect_seconds": connected["seconds"],
            "settle_seconds": time.monotonic() - t0,
            "frames_while_connecting": quiet["other"],
            "quiet_waited_out": quiet["waited_out"],
        }
        progress(f"quiet after {info['settle_seconds']:.1f}s ({quiet['other']} presence/other frames)")
        self.procs["poster"] = Proc(
            "poster",
            [PYTHON, "-m", "bench.e2e_client", "--role", "poster", "--url", f"http://127.0.0.1:{port}"]
            + ["--n", str(args.agents), "--setup", str(setup_path), "--connections", str(args.connections)]
            + ["--timeout", str(args.post_timeout)],
            core=CLIENT_CORE,
            log_dir=self.log_dir,
            stdin_pipe=True,
            stdout_pipe=True,
        )
        self.procs["poster"].read_until("ready", 60)
        info["server_rss_bytes_after_connect"] = rss_bytes(self.procs["server"].pid)
        return info

    def cpu_readings(self) -> dict[str, dict[int, float]]:
        """CPU seconds so far of each process of each part (``cpu_delta`` subtracts two)."""
        return {
            "server": cpu_of([self.procs["server"].pid]),
            "worker": cpu_of(descendants(self.procs["worker"].pid)),
            "postgres": cpu_of(database_backends(self.database)),
            "postgres_all": cpu_of(postgres_processes()),
            "redis": cpu_of([self.redis_pid] if self.redis_pid else []),
            "client": cpu_of([self.procs["agents"].pid, self.procs["poster"].pid]),
        }

    def step(self, step: int, rate: float, seconds: float) -> dict[str, Any]:
        agents, poster = self.procs["agents"], self.procs["poster"]
        count = max(5, round(rate * seconds))
        first_id = last_webhook_id()
        loadavg = read_text("/proc/loadavg").split()[:3]
        agents.send(cmd="begin", step=step)
        agents.read_until("begun", 10)
        before = self.cpu_readings()
        wall0 = time.monotonic()
        self.sampler.start()
        poster.send(cmd="post", step=step, rate=rate, count=count)
        posted = poster.read_until("posted", seconds * 20 + 120)
        # Every sent webhook may arrive (a POST that timed out may still have been stored): wait for
        # all, or until none came for `stall` seconds, or `deadline` seconds in all.
        agents.send(cmd="expect", count=count, stall=self.args.stall, limit=self.args.deadline)
        complete = agents.read_until("complete", self.args.deadline + 30)
        wall = time.monotonic() - wall0
        after = self.cpu_readings()
        max_depth = self.sampler.stop()
        agents.send(cmd="end")
        stats = agents.read_until("step", 30)
        queue_drained = self.settle(first_id)
        rows = webhook_rows(first_id)
        lags = sorted(p - r for _, r, p in rows if p is not None)
        cpu = {k: cpu_delta(before[k], after[k]) for k in before}
        sent = set(range(posted["first"], posted["first"] + count))
        failed = set(posted["failed"])
        accepted = sent - failed
        seen = set(stats["seen"])
        row: dict[str, Any] = {
            "step": step,
            "rate": rate,
            "achieved_rate": posted["achieved_rate"],
            "max_late_ms": posted["max_late_ms"],
            "loadavg": loadavg,
            "sent": count,
            "http_200": len(accepted),
            "statuses": posted["statuses"],
            "post_errors": posted["errors"],
            # one message.new per accepted webhook, to one socket: its conversation's assignee (joined)
            "expected_deliveries": len(accepted),
            "delivered": len(accepted & seen),
            "lost": len(accepted - seen),
            "delivered_after_failed_post": len(failed & seen),
            "duplicates": stats["duplicates"],
            "misrouted": stats["misrouted"],
            "conversation_updates": stats["conversation_updates"],
            "stalled": bool(complete.get("stalled")),
            "p50_ms": stats["p50_ms"],
            "p90_ms": stats["p90_ms"],
            "p99_ms": stats["p99_ms"],
            "max_ms": stats["max_ms"],
            "post_ms": posted["post"],
            "post_to_event_ms": stats["to_event"],
            "event_to_socket_ms": stats["from_event"],
            "stored": len(rows),
            "processed": len(lags),
            "stored_to_processed_ms": {
                "p50_ms": percentile(lags, 50) * 1000,
                "p99_ms": percentile(lags, 99) * 1000,
                "max_ms": (lags[-1] * 1000) if lags else float("nan"),
            },
            "max_queue_depth": max_depth,
            "queue_drained": queue_drained,
            "window_seconds": wall,
            "cpu_seconds": cpu,
            "cpu_ms_per_webhook": {k: v * 1000 / count for k, v in cpu.items()},
            "util": {k: v / wall for k, v in cpu.items()},
            "client_util": cpu["client"] / wall,
            "client_bound": cpu["client"] / wall > CLIENT_LIMIT,
            "max_in_flight": posted["max_in_flight"],
            "open_sockets": stats["open_sockets"],
            "socket_errors": stats["errors"],
            "latency_sample": stats["latency_sample"],
        }
        row["met"] = (
            row["lost"] == 0
            and row["http_200"] == count
            and row["duplicates"] == 0
            and row["p50_ms"] < TARGET_P50_MS
            and row["p99_ms"] < TARGET_P99_MS
            and not row["client_bound"]
        )
        u = row["util"]
        c = row["cpu_ms_per_webhook"]
        progress(
            f"  step {step}: {rate:.0f}/s ({posted['achieved_rate']:.0f} achieved) sent {count} 200 {len(accepted)} "
            f"delivered {row['delivered']} lost {row['lost']} dup {row['duplicates']} | p50 {row['p50_ms']:.1f} "
            f"p90 {row['p90_ms']:.1f} p99 {row['p99_ms']:.1f} max {row['max_ms']:.0f} ms | POST p50 "
            f"{posted['post']['p50_ms']:.1f} p99 {posted['post']['p99_ms']:.1f} | stored→processed p50 "
            f"{row['stored_to_processed_ms']['p50_ms']:.1f} p99 {row['stored_to_processed_ms']['p99_ms']:.1f} | "
            f"queue≤{max_depth} | srv {u['server']:.0%} wrk {u['worker']:.0%} pg {u['postgres']:.0%} "
            f"redis {u['redis']:.0%} cli {u['client']:.0%} | CPU ms/webhook srv {c['server']:.1f} wrk {c['worker']:.1f} "
            f"pg {c['postgres']:.1f} redis {c['redis']:.1f}" + (" CLIENT-BOUND: refused" if row["client_bound"] else "")
        )
        return row

    def settle(self, first_id: int) -> bool:
        """Wait until the last step's work is done before the next: the Celery queue is empty (the
        flow tasks behind the last webhooks) and no webhook was stored for 2 s (requests whose
        POST the poster gave up on still run to the end in the server). False at the deadline."""
        deadline = time.monotonic() + self.args.deadline
        stored, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            now_stored = len(webhook_rows(first_id))
            if now_stored != stored:
                stored, since = now_stored, time.monotonic()
            if time.monotonic() - since >= 2.0 and self.sampler.wait_empty(0.2):
                return True
            time.sleep(0.3)
        return False

    def idle(self, seconds: float) -> dict[str, float]:
        """CPU use with every agent connected and no traffic (heartbeats, watchdogs, probes)."""
        worker = self.procs["worker"].pid
        before = {"server": cpu_of([self.procs["server"].pid]), "worker": cpu_of(descendants(worker))}
        time.sleep(seconds)
        after = {"server": cpu_of([self.procs["server"].pid]), "worker": cpu_of(descendants(worker))}
        return {f"{k}_util": cpu_delta(before[k], after[k]) / seconds for k in before}

    def profile(self, rate: float, seconds: int) -> dict[str, Any]:
        """An extra step at ``rate`` with py-spy on the server and on the worker (not reported as a
        figure: sampling costs CPU)."""
        raw_server = self.log_dir / "profile-server.txt"
        raw_worker = self.log_dir / "profile-worker.txt"
        spies = [
            spy(self.procs["server"].pid, seconds, raw_server, self.log_dir),
            spy(self.procs["worker"].pid, seconds, raw_worker, self.log_dir, subprocesses=True),
        ]
        try:
            row = self.step(999, rate, seconds + 2)
            for s in spies:
                s.popen.wait(timeout=seconds + 60)
        finally:
            for s in spies:
                s.stop()
        return {
            "rate": rate,
            "seconds": seconds,
            "command": "py-spy record --pid <pid> --duration N -f raw -r 100 --nonblocking [--subprocesses]",
            "server_raw": str(raw_server),
            "worker_raw": str(raw_worker),
            "server_top": profile_summary(raw_server),
            "worker_top": profile_summary(raw_worker),
            "step": {k: v for k, v in row.items() if k != "latency_sample"},
        }

    def stop(self) -> None:
        for name in ("poster", "agents", "worker", "server"):
            proc = self.procs.pop(name, None)
            if proc is not None:
                if name in ("poster", "agents") and proc.popen.poll() is None:
                    try:
                        proc.send(cmd="quit")
                        proc.read_until("bye", 10)
                    except (OSError, RuntimeError, TimeoutError, ValueError):
                        pass
                proc.stop()


def table(steps: list[dict[str, Any]]) -> str:
    header = (
        "webhooks/s (achieved) | sent | HTTP 200 | delivered | lost | dup | p50 ms | p90 ms | p99 ms"
        " | max ms | POST p50 / p99 ms | stored → processed p50 / p99 ms | max queue"
        " | CPU ms per webhook: server / worker / PostgreSQL (this db) / Redis | server core"
        " | client core | load avg | target met"
    )
    rows = []
    for s in steps:
        u, c = s["util"], s["cpu_ms_per_webhook"]
        rate = f"{s['rate']:.0f} ({s['achieved_rate']:.0f})"
        if s["client_bound"]:
            rows.append([rate, f"refused: client core at {u['client']:.0%}"] + [""] * 16)
            continue
        rows.append(
            [
                rate,
                str(s["sent"]),
                str(s["http_200"]),
                str(s["delivered"]),
                str(s["lost"]),
                str(s["duplicates"]),
                fmt(s["p50_ms"]),
                fmt(s["p90_ms"]),
                fmt(s["p99_ms"]),
                fmt(s["max_ms"], "{:.0f}"),
                f"{fmt(s['post_ms']['p50_ms'])} / {fmt(s['post_ms']['p99_ms'])}",
                f"{fmt(s['stored_to_processed_ms']['p50_ms'])} / {fmt(s['stored_to_processed_ms']['p99_ms'])}",
                str(s["max_queue_depth"]),
                f"{c['server']:.1f} / {c['worker']:.1f} / {c['postgres']:.1f} / {c['redis']:.1f}",
                f"{u['server']:.0%}",
                f"{u['client']:.0%}",
                " ".join(s["loadavg"]),
                "yes" if s["met"] else "**no**",
            ]
        )
    return markdown_table(header, "rrrrrrrrrrllrlrrll", rows)


def plot(steps: list[dict[str, Any]], path: Path, title: str) -> None:
    plt = pyplot()
    good = [s for s in steps if not s["client_bound"]]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    xs = [s["rate"] for s in good]
    for key, marker in (("p50_ms", "o"), ("p90_ms", "s"), ("p99_ms", "^"), ("max_ms", "x")):
        left.plot(xs, [s[key] for s in good], marker=marker, label=key.replace("_ms", ""))
    left.axhline(TARGET_P50_MS, color="tab:blue", linestyle="--", linewidth=1, label="target p50 15 ms")
    left.axhline(TARGET_P99_MS, color="tab:green", linestyle="--", linewidth=1, label="target p99 50 ms")
    left.set_yscale("log")
    left.set_xlabel("webhooks/s")
    left.set_ylabel("POST → message.new at the agent (ms)")
    left.set_title(title)
    left.legend(fontsize=7)
    for key, label in (
        ("post_ms", "POST response"),
        ("post_to_event_ms", "POST began → event written"),
        ("event_to_socket_ms", "event written → socket"),
    ):
        right.plot(xs, [s[key]["p50_ms"] for s in good], marker="o", label=f"{label} p50")
        right.plot(xs, [s[key]["p99_ms"] for s in good], marker="^", linestyle=":", label=f"{label} p99")
    right.set_yscale("log")
    right.set_xlabel("webhooks/s")
    right.set_ylabel("ms")
    right.set_title("Where the latency is")
    right.legend(fontsize=7)
    save_figure(fig, path)


def main() -> None:
    stop_on_sigterm()
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="100 agents, 50 and 200 webhooks/s, 5 s steps")
    parser.add_argument("--rate", default=None, help="comma-separated webhooks/s (default 50,100,200)")
    parser.add_argument("--agents", type=int, default=None, help="default 1000 (--quick: 100)")
    parser.add_argument("--step-seconds", type=float, default=None, help="default 20 (--quick: 5)")
    parser.add_argument("--worker-pool", default="prefork", choices=["prefork", "threads", "solo"])
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument("--worker-core", default=None, help="pin the worker to a core (default: unpinned)")
    parser.add_argument(
        "--connections", type=int, default=32, help="poster: HTTP connections at most (a proxy's upstream pool)"
    )
    parser.add_argument(
        "--post-timeout", type=float, default=None, help="seconds a POST may take, then it failed (30; --quick: 10)"
    )
    parser.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE", help="server only")
    parser.add_argument("--worker-env", action="append", default=[], metavar="KEY=VALUE", help="worker only")
    parser.add_argument(
        "--profile", type=int, default=0, metavar="SECONDS", help="then py-spy the server and worker at the lowest rate"
    )
    parser.add_argument("--out", default=None, help="results JSON (default var/bench/e2e.json; --quick: log dir)")
    args = parser.parse_args()
    args.stall = 5.0 if args.quick else 10.0  # seconds without a new message.new: the rest are lost
    args.deadline = 30.0 if args.quick else 120.0  # at most this long after the last POST answered
    args.post_timeout = args.post_timeout or (10.0 if args.quick else 30.0)
    args.agents = args.agents or (100 if args.quick else 1000)
    rates = number_list(args.rate or ("50,200" if args.quick else "50,100,200"), float)
    seconds = args.step_seconds or (5.0 if args.quick else 20.0)
    log_dir = new_log_dir("e2e-")
    out = Path(args.out) if args.out else (log_dir / "e2e-quick.json" if args.quick else RESULTS / "e2e.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    progress(f"logs in {log_dir}")
    started = time.time()
    result: dict[str, Any] = {
        "scenario": "e2e-webhook",
        "mode": "quick" if args.quick else "full",
        "command": command_line("bench.scenario_e2e"),
        "machine": machine(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)),
        "agents": args.agents,
        "step_seconds": seconds,
        "targets": {"p50_ms": TARGET_P50_MS, "p99_ms": TARGET_P99_MS, "lost": 0, "at_rate": 200},
        "layout": {
            "server": "python -m realtime.serve (uvicorn: uvloop, httptools, websockets, no deflate), 1 process, "
            f"core {SERVER_CORE}",
            "worker": f"celery worker --pool={args.worker_pool} --concurrency={args.worker_concurrency}, "
            + (f"core {args.worker_core}" if args.worker_core else "unpinned"),
            "agents": f"{args.agents} sockets, picows + uvloop, 1 process, core {CLIENT_CORE}",
            "poster": f"httpx AsyncClient (keep-alive, at most {args.connections} connections) + uvloop, "
            f"1 process, core {CLIENT_CORE}",
            "postgresql_redis": "unpinned (shared with the rest of the machine)",
            "channel_layer": LAYERS["pubsub"],
            "server_env": [f"{k}={v}" for k, v in SERVER_ENV.items()] + args.server_env,
            "worker_env": [f"{k}={v}" for k, v in WORKER_ENV.items()] + args.worker_env,
            "database": DATABASE_URL.rsplit("/", 1)[1],
            "redis": REDIS_URL,
            "deliveries_per_webhook": "message.new: 1 (the assignee's socket, joined to the conversation); "
            "conversation.updated: 1 (the assignee's user group)",
        },
        "steps": [],
    }
    scenario = Scenario(args, log_dir)

    def write() -> None:
        result["seconds"] = time.time() - started
        out.write_text(json.dumps(result, indent=1))
        if result["steps"]:
            plot(result["steps"], out.with_suffix(".png"), f"Webhook → agent, {args.agents} agents")

    try:
        result["connect"] = scenario.start()
        result["idle"] = scenario.idle(5.0)
        progress(f"idle with {args.agents} agents: server {result['idle']['server_util']:.0%} of a core")
        progress("warm-up: 20 webhooks/s for 2 s (not reported)")
        warm = scenario.step(0, 20.0, 2.0)
        result["warmup"] = {k: v for k, v in warm.items() if k != "latency_sample"}
        for number, rate in enumerate(rates, start=1):
            result["steps"].append(scenario.step(number, rate, seconds))
            write()
        if args.profile:
            progress(f"profile: {min(rates):.0f} webhooks/s with py-spy on the server and the worker")
            result["profile"] = scenario.profile(min(rates), args.profile)
            for name in ("server_top", "worker_top"):
                top = result["profile"][name]
                progress(f"--- {name} ({top['samples']} samples), inclusive:\n" + "\n".join(top["inclusive"][:25]))
                progress(f"--- {name}, self:\n" + "\n".join(top["self"][:12]))
    finally:
        scenario.stop()
        write()
    progress(f"wrote {out} and {out.with_suffix('.png')} in {time.time() - started:.0f}s")
    print(table(result["steps"]))


if __name__ == "__main__":
    main()
