"""The bench runner: ``python -m bench.run [--quick] [--scenario fanout] [--targets a,b] [--n 100,1000]``.

Fan-out: N clients (one core) connected to one target (the other core); events of ~300 bytes are
published at a rising rate; each step reports delivered msgs/s, p50/p99/max latency, reach
(received / (events x N)), server CPU-seconds per 1,000 delivered messages, Redis CPU, and the
client's own CPU. A step where the client used more than 90% of its core is marked client-bound
and ends the ramp for that target: its latency measures the client, not the server.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import (
    CLIENT_CORE,
    PYTHON,
    ROOT,
    Proc,
    command_line,
    cpu_or_zero,
    new_log_dir,
    number_list,
    py_spy_argv,
    redis_server_pid,
    rss_bytes,
    stop_on_sigterm,
)
from bench.report import fmt, machine, markdown_table, progress, pyplot, raw_stacks, save_figure
from bench.targets import TARGETS, Target

RESULTS = ROOT / "var" / "bench"  # git-ignored; docs/bench/ keeps the summaries (bench.summary) and plots
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/pytake_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/6")
SECRET = "bench-only-secret-key-0123456789abcdef-not-for-production"
P99_LIMIT_MS = 100.0
CLIENT_LIMIT = 0.90
QUICK_TARGETS = [
    "pytake-daphne-core",
    "pytake-uvicorn-pubsub",
    "websockets-broadcast",
    "socketio-redis",
    "node-socketio-redis",
]


def pytake_env() -> dict[str, str]:
    return {
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": REDIS_URL,
        "DJANGO_SECRET_KEY": SECRET,
        "DJANGO_DEBUG": "0",
        "PYTAKE_DATA_DIR": str(ROOT / "var" / "bench"),
        "JWT_ACCESS_MINUTES": "120",
    }


def setup_pytake(n: int, log_dir: Path) -> tuple[int, str]:
    tokens = str(log_dir / f"tokens-{n}.txt")
    out = subprocess.run(
        [PYTHON, "-m", "bench.pytake_setup", "--agents", str(n), "--tokens", tokens],
        cwd=ROOT,
        env={**os.environ, **pytake_env()},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    info = json.loads(out.stdout.strip().splitlines()[-1])
    return int(info["tenant"]), tokens


def profile_start(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    """py-spy on a server for one step (raw collapsed stacks: ``summarise_profile`` reads them)."""
    argv = py_spy_argv(pid, max(1, int(seconds)), out, rate=200)
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def summarise_profile(path: Path, top: int = 25) -> dict[str, list[tuple[str, float]]]:
    """Inclusive and self shares of the frames in a py-spy raw profile, largest first."""
    from collections import Counter

    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for frames, count in raw_stacks(path):
        total += count
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
    share = lambda c: [(f, round(100 * v / max(total, 1), 1)) for f, v in c.most_common(top)]  # noqa: E731
    return {"samples": [("total", float(total))], "inclusive": share(inclusive), "self": share(own)}


def fanout(
    target: Target, n: int, rates: list[float], step_seconds: float, log_dir: Path, profile: bool = False
) -> dict[str, Any]:
    cfg: dict[str, Any] = {"pytake_env": pytake_env(), "redis_url": REDIS_URL}
    tenant, tokens = setup_pytake(n, log_dir) if target.family == "pytake" else (0, "")
    running = target.start(cfg, log_dir)
    client = publisher = None
    redis_pid = redis_server_pid()
    result: dict[str, Any] = {"target": target.name, "label": target.label, "n": n, "steps": []}
    try:
        pub_argv = [PYTHON, "-m", "bench.publisher", "--kind", running.publisher_kind]
        if running.publisher_kind.startswith("pytake"):
            pub_argv += ["--tenant", str(tenant)]
        else:
            pub_argv += ["--redis", REDIS_URL, "--channel", running.channel]
        publisher = Proc(
            f"publisher-{target.name}-{n}",
            pub_argv,
            core=None,
            env=running.env or cfg["pytake_env"],
            log_dir=log_dir,
            stdin_pipe=True,
            stdout_pipe=True,
        )
        publisher.read_until("ready", 60)
        client_argv = [PYTHON, "-m", "bench.client", "--kind", running.client_kind, "--n", str(n)]
        for url in running.urls:
            client_argv += ["--url", url]
        if tokens:
            client_argv += ["--tokens", tokens]
        client = Proc(
            f"client-{target.name}-{n}",
            client_argv,
            core=CLIENT_CORE,
            log_dir=log_dir,
            stdin_pipe=True,
            stdout_pipe=True,
        )
        t0 = time.monotonic()
        connected = client.read_until("connected", 300)
        result["connect_seconds"] = connected["seconds"]
        if connected["failed"]:
            raise RuntimeError(f"{connected['failed']} sockets failed to connect: {connected['first_error']}")
        client.send(cmd="quiet", seconds=1.5, timeout=240)
        quiet = client.read_until("quiet", 250)
        result["settle_seconds"] = time.monotonic() - t0
        result["frames_while_connecting"] = quiet["other"]
        result["server_rss_bytes"] = sum(rss_bytes(p.pid) for p in running.procs)
        for step, rate in enumerate(rates, start=1):
            count = max(5, round(rate * step_seconds))
            client.send(cmd="begin", step=step)
            client.read_until("begun", 10)
            cpu0, redis0, wall0 = running.cpu(), cpu_or_zero(redis_pid), time.monotonic()
            profile_path = log_dir / f"profile-{target.name}-{n}-step{step}.raw"
            spy = profile_start(running.procs[0].pid, step_seconds, profile_path) if profile else None
            publisher.send(cmd="publish", step=step, rate=rate, count=count)
            published = publisher.read_until("published", step_seconds * 20 + 60)
            expected = count * n
            client.send(cmd="expect", count=expected)
            client.read_until("complete", 120)  # all frames, or none for 3 s (the rest are lost)
            cpu1, redis1, wall1 = running.cpu(), cpu_or_zero(redis_pid), time.monotonic()
            client.send(cmd="end")
            stats = client.read_until("step", 30)
            received = stats["received"]
            row = {
                "step": step,
                "event_rate": rate,
                "offered_msgs_s": rate * n,
                "achieved_event_rate": published["achieved_rate"],
                "events": count,
                "expected": expected,
                "received": received,
                "reach": received / expected,
                "duplicates": stats["duplicates"],
                "delivered_msgs_s": received / max(published["seconds"], stats["receive_span"], 1e-9),
                "p50_ms": stats["p50_ms"],
                "p90_ms": stats["p90_ms"],
                "p99_ms": stats["p99_ms"],
                "max_ms": stats["max_ms"],
                "server_cpu_s": cpu1 - cpu0,
                "server_util": (cpu1 - cpu0) / (wall1 - wall0),
                "server_cpu_s_per_1k": (cpu1 - cpu0) / max(received, 1) * 1000,
                "redis_cpu_s_per_1k": (redis1 - redis0) / max(received, 1) * 1000 if redis_pid else None,
                "client_util": stats["client_util"],
                "client_bound": stats["client_util"] > CLIENT_LIMIT,
                "publisher_bound": published["achieved_rate"] < 0.9 * rate,
                "open_sockets": stats["open_sockets"],
                "errors": stats["errors"],
                "latency_sample": stats["latency_sample"],
            }
            if spy is not None:
                spy.wait(timeout=step_seconds + 30)
                if profile_path.exists():
                    row["profile"] = summarise_profile(profile_path)
                    row["profile_path"] = str(profile_path)
            result["steps"].append(row)
            progress(
                f"  {target.name:24} N={n:<5} step {step}: offered {row['offered_msgs_s']:>8.0f}/s delivered "
                f"{row['delivered_msgs_s']:>8.0f}/s p50 {row['p50_ms']:6.1f} p99 {row['p99_ms']:7.1f} ms reach "
                f"{row['reach']:.4f} srv {row['server_util']:.0%} cli {row['client_util']:.0%} "
                f"cpu/1k {row['server_cpu_s_per_1k']:.3f}s"
                + (" CLIENT-BOUND" if row["client_bound"] else "")
                + (" PUBLISHER-BOUND" if row["publisher_bound"] else "")
            )
            if row["p99_ms"] > P99_LIMIT_MS or row["reach"] < 0.999 or row["client_bound"] or row["publisher_bound"]:
                break
        client.send(cmd="quit")
        client.read_until("bye", 30)
    finally:
        for proc in (client, publisher):
            if proc is not None:
                proc.stop()
        running.stop()
    result["summary"] = summarise(result["steps"])
    return result


def summarise(steps: list[dict[str, Any]]) -> dict[str, Any]:
    """The best step that met the bar (p99 <= 100 ms, reach 1.0, neither side saturated), and the
    CPU cost per 1,000 delivered messages over every step with reach 1.0."""
    good = [
        s
        for s in steps
        if s["p99_ms"] <= P99_LIMIT_MS and s["reach"] >= 0.999 and not s["client_bound"] and not s["publisher_bound"]
    ]
    full = [s for s in steps if s["reach"] >= 0.999] or steps
    cpu = sum(s["server_cpu_s"] for s in full)
    received = sum(s["received"] for s in full)
    best = max(good, key=lambda s: s["delivered_msgs_s"]) if good else None
    return {
        "best_delivered_msgs_s": best["delivered_msgs_s"] if best else 0.0,
        "best_p50_ms": best["p50_ms"] if best else None,
        "best_p99_ms": best["p99_ms"] if best else None,
        "best_max_ms": best["max_ms"] if best else None,
        "reach_at_best": best["reach"] if best else None,
        "server_cpu_s_per_1k": cpu / max(received, 1) * 1000,
        "capacity_msgs_s_per_core": received / cpu if cpu else None,  # delivered per server CPU-second
        "min_reach": min(s["reach"] for s in steps) if steps else None,
        "limited_by": _limit(steps),
    }


def _limit(steps: list[dict[str, Any]]) -> str:
    if not steps:
        return "no steps"
    last = steps[-1]
    if last["client_bound"]:
        return "client core saturated"
    if last["publisher_bound"]:
        return "publisher could not keep the rate"
    if last["reach"] < 0.999:
        return "lost messages"
    if last["p99_ms"] > P99_LIMIT_MS:
        return "p99 > 100 ms"
    return "rate schedule exhausted"


def table(results: list[dict[str, Any]]) -> str:
    header = (
        "target | N | best delivered msgs/s (p99 ≤ 100 ms) | p50 ms | p99 ms | max ms | reach"
        " | server CPU-s / 1k delivered | delivered per server CPU-s | limited by"
    )
    rows = []
    for r in results:
        s = r["summary"]
        rows.append(
            [
                r["label"],
                str(r["n"]),
                f"{s['best_delivered_msgs_s']:.0f}",
                fmt(s["best_p50_ms"]),
                fmt(s["best_p99_ms"]),
                fmt(s["best_max_ms"], "{:.0f}"),
                fmt(s["min_reach"], "{:.4f}"),
                f"{s['server_cpu_s_per_1k']:.3f}",
                fmt(s["capacity_msgs_s_per_core"], "{:.0f}"),
                s["limited_by"],
            ]
        )
    return markdown_table(header, "lrrrrrrrrl", rows)


def plot(results: list[dict[str, Any]], path: Path) -> None:
    plt = pyplot()
    ns = sorted({r["n"] for r in results})
    fig, axes = plt.subplots(1, len(ns), figsize=(6 * len(ns), 4.5), squeeze=False)
    for ax, n in zip(axes[0], ns, strict=True):
        for r in (r for r in results if r["n"] == n):
            xs = [s["delivered_msgs_s"] for s in r["steps"]]
            ys = [s["p99_ms"] for s in r["steps"]]
            ax.plot(xs, ys, marker="o", label=r["target"])
        ax.axhline(P99_LIMIT_MS, color="grey", linestyle="--", linewidth=1)
        ax.set_yscale("log")
        ax.set_title(f"Fan-out, N = {n}")
        ax.set_xlabel("delivered messages/s")
        ax.set_ylabel("p99 latency (ms)")
        ax.legend(fontsize=7)
    save_figure(fig, path)


# The other scenarios live in their own modules; ``--scenario`` runs them from here.
SCENARIOS = {
    "e2e": ["bench.scenario_e2e"],
    "idle": ["bench.scenario_connections", "--scenario", "idle"],
    "storm": ["bench.scenario_connections", "--scenario", "storm"],
    "rest": ["bench.scenario_rest"],
}


def run_scenario(name: str, quick: bool) -> int:
    argv = [PYTHON, "-m", *SCENARIOS[name], *(["--quick"] if quick else [])]
    progress(f"=== scenario {name}: {' '.join(argv[2:])}")
    return subprocess.run(argv, cwd=ROOT, env={**os.environ, **pytake_env()}).returncode


def main() -> None:
    stop_on_sigterm()
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--scenario",
        default="fanout",
        choices=["fanout", *SCENARIOS, "all"],
        help="fanout (default), e2e, idle, storm, rest, or all of them in turn",
    )
    parser.add_argument("--quick", action="store_true", help="N=100 and 1,000, short steps: under 5 minutes")
    parser.add_argument("--targets", default=None, help="comma-separated (default: all; --quick: QUICK_TARGETS)")
    parser.add_argument("--n", default=None, help="comma-separated socket counts")
    parser.add_argument("--step-seconds", type=float, default=None)
    parser.add_argument("--out", default=None, help="JSON name in var/bench/ (default fanout-quick/fanout-full)")
    parser.add_argument("--profile", action="store_true", help="py-spy the (first) server process during each step")
    args = parser.parse_args()
    if args.scenario != "fanout":
        failed = [
            name
            for name in (list(SCENARIOS) if args.scenario == "all" else [args.scenario])
            if run_scenario(name, args.quick) != 0
        ]
        if args.scenario == "all":
            fanout_main(args)
        sys.exit(f"scenarios failed: {', '.join(failed)}" if failed else 0)
    fanout_main(args)


def fanout_main(args: argparse.Namespace) -> None:
    mode = "quick" if args.quick else "full"
    # --quick: N=100 only. With N=1,000 PyTake spends 60-90 s connecting on this machine (every new agent's
    # presence reaches every connected agent: O(N^2) frames), which alone breaks the 5-minute budget.
    ns = number_list(args.n or ("100" if args.quick else "100,1000"))
    step_seconds = args.step_seconds or (2.0 if args.quick else 5.0)
    delivered_targets = (
        [5000, 10000, 20000, 30000, 40000]
        if args.quick
        else [2000, 5000, 10000, 15000, 20000, 30000, 40000, 50000, 60000]
    )
    log_dir = new_log_dir()
    progress(f"logs in {log_dir}")
    results: list[dict[str, Any]] = []
    started = time.time()
    # A quick run without --out checks the harness: its figures stay next to its logs.
    out_dir = log_dir if args.quick and not args.out else RESULTS
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{args.out or 'fanout-' + mode}.json"

    def write(results: list[dict[str, Any]]) -> None:
        """Written after every target, so an interrupted run keeps what it measured."""
        payload = {
            "scenario": "fanout",
            "mode": mode,
            "command": command_line("bench.run"),
            "machine": machine(node=True),
            "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)),
            "seconds": time.time() - started,
            "step_seconds": step_seconds,
            "results": results,
        }
        out.write_text(json.dumps(payload, indent=1))
        if results:
            plot(results, out.with_suffix(".png"))

    for n in ns:
        names = args.targets.split(",") if args.targets else (QUICK_TARGETS if args.quick else list(TARGETS))
        for name in names:
            target = TARGETS[name]
            rates = [d / n for d in delivered_targets]
            try:
                results.append(fanout(target, n, rates, step_seconds, log_dir, args.profile))
            except Exception as exc:  # one broken target must not hide the others' numbers
                progress(f"  {name} N={n} FAILED: {exc!r}")
                results.append(
                    {
                        "target": name,
                        "label": target.label,
                        "n": n,
                        "steps": [],
                        "error": repr(exc),
                        "summary": summarise([]),
                    }
                )
            write(results)
    write(results)
    progress(f"wrote {out} and {out.with_suffix('.png')} in {time.time() - started:.0f}s")
    print(table(results))


if __name__ == "__main__":
    main()
