"""Run the production topology on this machine, without Docker: `make stack` / `make stack-down`.

    python deploy/stack.py up     [--dir var/stack] [--port 8080] [--web-ports 8001,8002] ...
    python deploy/stack.py down   [--dir var/stack]
    python deploy/stack.py status [--dir var/stack]
    python deploy/stack.py up --only web1 --skip-migrate     (restart one stopped process)

`up` uses the machine's PostgreSQL and Redis (creating the database if missing), migrates, then
starts every process of deploy/Procfile (two ASGI servers, a Celery worker, Celery beat, nginx
in front) with a pid file and a log each under the stack directory, and returns once /readyz
answers 200 through nginx and on each server. `down` stops exactly the processes whose pid files
it finds, after checking each one really belongs to this stack (its environment carries
PYTAKE_STACK_DIR=<this directory>); it never touches PostgreSQL or Redis.
Only the standard library and psycopg (for CREATE DATABASE) are used.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import string
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pytake.database import ensure_database  # noqa: E402

DEPLOY = ROOT / "deploy"
PROCFILE = DEPLOY / "Procfile"
# How long `down` waits for a process after its stop signal before SIGKILL (servers bound
# themselves at PYTAKE_SHUTDOWN_TIMEOUT = 10 s, Celery at its soft shutdown of 8 s).
STOP_TIMEOUT = 15.0
# nginx stops gracefully on SIGQUIT; everything else on SIGTERM.
STOP_SIGNALS = {"nginx": signal.SIGQUIT}


def parse_procfile(path: Path = PROCFILE) -> list[tuple[str, str]]:
    entries = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, command = line.partition(":")
        entries.append((name.strip(), command.strip()))
    return entries


def expand(command: str, env: dict[str, str]) -> list[str]:
    def replace(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in env:
            raise SystemExit(f"Procfile uses ${{{key}}}, which is not set")
        return env[key]

    return shlex.split(re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", replace, command))


def pid_file(stack_dir: Path, name: str) -> Path:
    return stack_dir / f"{name}.pid"


def read_pid(stack_dir: Path, name: str) -> int | None:
    try:
        return int(pid_file(stack_dir, name).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def belongs_to_stack(pid: int, stack_dir: Path) -> bool:
    """True if ``pid`` is alive and was started by this stack (not a recycled pid)."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except (FileNotFoundError, ProcessLookupError):
        return False
    # nginx rewrites its environment (setproctitle) but keeps its arguments, which name the stack dir.
    if f"PYTAKE_STACK_DIR={stack_dir}".encode() not in environ and f"{stack_dir}/".encode() not in cmdline:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def http_get(url: str, timeout: float = 3.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def secret_key(stack_dir: Path) -> str:
    """The stack's own DJANGO_SECRET_KEY, kept across restarts so issued tokens stay valid."""
    if os.environ.get("DJANGO_SECRET_KEY"):
        return os.environ["DJANGO_SECRET_KEY"]
    path = stack_dir / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def stack_env(args: argparse.Namespace, stack_dir: Path) -> dict[str, str]:
    web_ports = [p.strip() for p in args.web_ports.split(",")]
    env = dict(os.environ)
    env.update(
        {
            "PYTAKE_STACK_DIR": str(stack_dir),
            "PYTHON": args.python,
            "PATH": f"{Path(args.python).parent}:{env.get('PATH', '/usr/bin:/bin')}",
            "PYTAKE_NGINX": args.nginx,  # not NGINX: nginx reads that one (inherited sockets)
            "PYTAKE_WEB1_PORT": web_ports[0],
            "PYTAKE_WEB2_PORT": web_ports[1],
            "DATABASE_URL": args.database_url,
            "REDIS_URL": args.redis_url,
            "DJANGO_SECRET_KEY": secret_key(stack_dir),
            "DJANGO_ALLOWED_HOSTS": env.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost"),
            "PYTAKE_PUBLIC_URL": env.get("PYTAKE_PUBLIC_URL", f"http://127.0.0.1:{args.port}"),
            "PYTAKE_DATA_DIR": str(stack_dir / "data"),
            "PYTAKE_SECURE_COOKIES": env.get("PYTAKE_SECURE_COOKIES", "0"),  # plain HTTP on loopback
            "PYTAKE_TRUSTED_PROXIES": "1",  # nginx, in front of every web process
            "PROMETHEUS_MULTIPROC_DIR": str(stack_dir / "metrics"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    if args.channel_prefix:
        env["PYTAKE_CHANNEL_PREFIX"] = args.channel_prefix
    env.pop("DJANGO_DEBUG", None)  # production settings: JSON logs, no debug pages
    return env


def write_nginx_conf(stack_dir: Path, port: int, web_ports: list[str]) -> None:
    nginx_dir = stack_dir / "nginx"
    for sub in ("tmp/body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi"):
        (nginx_dir / sub).mkdir(parents=True, exist_ok=True)
    servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;" for p in web_ports)
    template = string.Template((DEPLOY / "nginx" / "stack.conf.template").read_text())
    conf = template.safe_substitute(
        dir=str(nginx_dir), deploy=str(DEPLOY), listen=f"127.0.0.1:{port}", upstream_servers=servers
    )
    (nginx_dir / "nginx.conf").write_text(conf)


def running(stack_dir: Path, names: list[str]) -> dict[str, int]:
    alive = {}
    for name in names:
        pid = read_pid(stack_dir, name)
        if pid is not None and belongs_to_stack(pid, stack_dir):
            alive[name] = pid
    return alive


def manage(env: dict[str, str], *args: str) -> None:
    # One-off commands keep their (empty) metrics out of the stack's directory.
    env = {k: v for k, v in env.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    subprocess.run([env["PYTHON"], "manage.py", *args], cwd=ROOT, env=env, check=True)


def up(args: argparse.Namespace) -> int:
    stack_dir = Path(args.dir).resolve()
    stack_dir.mkdir(parents=True, exist_ok=True)
    entries = [(n, c) for n, c in parse_procfile() if not args.only or n in args.only.split(",")]
    names = [n for n, _ in entries]
    already = running(stack_dir, names)
    if already:
        print(f"already running in {stack_dir}: {already}; run `make stack-down` first", file=sys.stderr)
        return 1
    env = stack_env(args, stack_dir)
    if ensure_database(args.database_url):
        print("created the stack's database")
    metrics_dir = stack_dir / "metrics"
    if not running(stack_dir, [n for n, _ in parse_procfile()]):
        # prometheus-client: wipe before the processes start (not when restarting one of them).
        shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(exist_ok=True)
    (stack_dir / "logs").mkdir(exist_ok=True)
    if not args.skip_migrate:
        manage(env, "migrate", "--noinput", "-v", "0")
        manage(env, "collectstatic", "--noinput", "-v", "0")
    web_ports = [env["PYTAKE_WEB1_PORT"], env["PYTAKE_WEB2_PORT"]]
    write_nginx_conf(stack_dir, args.port, web_ports)

    started: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, command in entries:
            log = (stack_dir / "logs" / f"{name}.log").open("ab")
            proc = subprocess.Popen(
                expand(command, env), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
            log.close()
            pid_file(stack_dir, name).write_text(f"{proc.pid}\n")
            started[name] = proc
        urls = {f"web{i + 1}": f"http://127.0.0.1:{p}/readyz" for i, p in enumerate(web_ports)}
        if "nginx" in started:
            urls["nginx"] = f"http://127.0.0.1:{args.port}/readyz"
        wait_ready(started, {k: v for k, v in urls.items() if k in started}, args.timeout, stack_dir)
    except BaseException:
        print("start-up failed; stopping what was started", file=sys.stderr)
        stop(stack_dir, list(started))
        raise
    base = f"http://127.0.0.1:{args.port}"
    print(f"PyTake stack up ({stack_dir}):")
    print(f"  inbox     {base}/")
    print(f"  API docs  {base}/api/docs/")
    print(f"  ready     {base}/readyz    metrics {base}/metrics")
    print("  servers   " + "  ".join(f"http://127.0.0.1:{p}" for p in web_ports))
    print(f"  logs      {stack_dir}/logs/    stop: make stack-down")
    return 0


def wait_ready(
    started: dict[str, subprocess.Popen[bytes]], urls: dict[str, str], timeout: float, stack_dir: Path
) -> None:
    deadline = time.monotonic() + timeout
    pending = dict(urls)
    while pending:
        for name, proc in started.items():
            if proc.poll() is not None:
                tail = (stack_dir / "logs" / f"{name}.log").read_text(errors="replace")[-3000:]
                raise SystemExit(f"{name} exited with {proc.returncode}:\n{tail}")
        for name, url in list(pending.items()):
            try:
                status, _ = http_get(url, timeout=2)
            except OSError:
                continue
            if status == 200:
                del pending[name]
        if time.monotonic() > deadline:
            raise SystemExit(f"not ready within {timeout:g}s: {', '.join(pending)}")
        if pending:
            time.sleep(0.2)  # polling the servers' readiness


def stop(stack_dir: Path, names: list[str]) -> dict[str, float]:
    """Signal each named process of this stack, wait for it, SIGKILL its group past the bound."""
    stopping: dict[str, int] = {}
    for name in names:
        pid = read_pid(stack_dir, name)
        if pid is None:
            continue
        if belongs_to_stack(pid, stack_dir):
            os.kill(pid, STOP_SIGNALS.get(name, signal.SIGTERM))
            stopping[name] = pid
        else:
            pid_file(stack_dir, name).unlink(missing_ok=True)  # stale: that process is gone
    took: dict[str, float] = {}
    started = time.monotonic()
    while stopping and time.monotonic() - started < STOP_TIMEOUT:
        for name, pid in list(stopping.items()):
            _reap(pid)
            if not belongs_to_stack(pid, stack_dir):
                took[name] = time.monotonic() - started
                del stopping[name]
        time.sleep(0.1)  # polling the processes' exit
    for name, pid in stopping.items():
        print(f"{name} (pid {pid}) did not stop within {STOP_TIMEOUT:g}s: SIGKILL", file=sys.stderr)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)  # its own session: the worker's children go too
        took[name] = STOP_TIMEOUT
    for name in names:
        if name not in stopping:
            pid_file(stack_dir, name).unlink(missing_ok=True)
    for name in stopping:
        pid_file(stack_dir, name).unlink(missing_ok=True)
    return took


def _reap(pid: int) -> None:
    # Processes started by this same Python (`up` failing half-way) must be waited for.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def down(args: argparse.Namespace) -> int:
    stack_dir = Path(args.dir).resolve()
    names = [n for n, _ in parse_procfile()]
    # nginx first, so no new request reaches a server that is going away.
    names.sort(key=lambda n: n != "nginx")
    alive = running(stack_dir, names)
    if not alive:
        print(f"nothing of the stack in {stack_dir} is running")
    took = stop(stack_dir, [n for n in names if pid_file(stack_dir, n).exists()])
    for name, seconds in took.items():
        print(f"stopped {name} in {seconds:.1f}s")
    return 0


def status(args: argparse.Namespace) -> int:
    stack_dir = Path(args.dir).resolve()
    names = [n for n, _ in parse_procfile()]
    alive = running(stack_dir, names)
    for name in names:
        pid = read_pid(stack_dir, name)
        state = f"running (pid {alive[name]})" if name in alive else ("stale pid file" if pid else "stopped")
        print(f"{name:8} {state}")
    conf = stack_dir / "nginx" / "nginx.conf"
    if "nginx" in alive and conf.exists():
        listen = re.search(r"listen (\S+);", conf.read_text())
        if listen:
            try:
                code, body = http_get(f"http://{listen.group(1)}/readyz")
                print(f"readyz   {code} {json.dumps(json.loads(body).get('checks', {}))}")
            except (OSError, ValueError) as exc:
                print(f"readyz   no answer: {exc}")
    return 0 if len(alive) == len(names) else 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--dir", default=str(ROOT / "var" / "stack"))
    parser.add_argument("--port", type=int, default=8080, help="nginx listens on 127.0.0.1:PORT")
    parser.add_argument("--web-ports", default="8001,8002", help="the two ASGI servers' ports")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/pytake_stack")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--channel-prefix", default="", help="channel-layer prefix (default: settings')")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--nginx", default=shutil.which("nginx") or "/usr/sbin/nginx")
    parser.add_argument("--only", default="", help="comma-separated Procfile names to start (tests)")
    parser.add_argument("--skip-migrate", action="store_true")
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for /readyz")
    args = parser.parse_args(argv)
    return {"up": up, "down": down, "status": status}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
