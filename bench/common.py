"""Process plumbing shared by the bench scenarios: free ports, pinned subprocesses, CPU and RSS
readings from /proc, percentiles, py-spy, and what every entry point does first (SIGTERM, log
directory, Django). Every process started here is stopped by its owner (``Proc.stop``), in a
``finally``, with a timeout."""

from __future__ import annotations

import contextlib
import json
import os
import random
import resource
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PYTHON = str(ROOT / ".venv" / "bin" / "python")
PY_SPY = str(ROOT / ".venv" / "bin" / "py-spy")
CLK_TCK = os.sysconf("SC_CLK_TCK")
SERVER_CORE = os.environ.get("BENCH_SERVER_CORE", "0")
CLIENT_CORE = os.environ.get("BENCH_CLIENT_CORE", "1")


# --- entry points -----------------------------------------------------------------------------


def _terminate(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second TERM (make passes one on) must not cut cleanup short
    raise KeyboardInterrupt  # runs every ``finally``: servers, workers, peers and clients are stopped


def stop_on_sigterm() -> None:
    """SIGTERM stops the run as Ctrl-C does, through every ``finally``."""
    signal.signal(signal.SIGTERM, _terminate)


def number_list(text: str, kind: Callable[[str], Any] = int) -> list[Any]:
    """A comma-separated option: ``"50,100,200"`` → ``[50, 100, 200]``."""
    return [kind(x) for x in text.split(",")]


def command_line(module: str) -> str:
    """How this run was started, as ``python -m <module> <arguments>``."""
    return " ".join([Path(sys.executable).name, "-m", module, *sys.argv[1:]])


def new_log_dir(prefix: str = "", parent: Path = ROOT / "var" / "bench") -> Path:
    """A fresh directory for a run's process logs, profiles and tokens: ``<parent>/<prefix><timestamp>``."""
    path = parent / f"{prefix}{time.strftime('%Y%m%d-%H%M%S')}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def setup_django(database_url: str) -> None:
    """Django in this process, on ``database_url`` (created if missing, migrated): the setup steps."""
    from pytake.database import ensure_database

    ensure_database(database_url)
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pytake.settings")
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


# --- processes ----------------------------------------------------------------------------------


def free_port() -> int:
    """A free loopback port below the kernel's ephemeral range. A server restarted on its port
    (the storm's restart variant) must not find it taken by one of the thousands of client
    sockets reconnecting meanwhile: those take their local ports from that range, and one of
    them took the server's (EADDRINUSE on the restart)."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    for _ in range(200):
        port = random.randint(min(10_000, low // 2), low - 1)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port below {low}")


def wait_port(port: int, timeout: float = 30.0, proc: Proc | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}: {proc.log_tail()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"port {port} not open after {timeout}s")


def read_text(path: str) -> str:
    """A file's text, or "" when it cannot be read (a /proc entry of a process that is gone)."""
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def raise_fd_limit() -> int:
    """Raise the soft open-files limit to the hard one (20,000 on this machine); processes started
    afterwards inherit it. Returns the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process and of its reaped children, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # fields[0] is state (field 3); utime is field 14, stime 15, cutime 16, cstime 17
    return sum(int(x) for x in fields[11:15]) / CLK_TCK


def cpu_or_zero(pid: int | None) -> float:
    """``cpu_seconds`` of a process that may be unknown (``None``) or gone: 0.0 then."""
    if pid is None:
        return 0.0
    try:
        return cpu_seconds(pid)
    except OSError:
        return 0.0


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def redis_server_pid() -> int | None:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "redis-server":
                    return int(entry.name)
            except OSError:
                continue
    return None


def py_spy_argv(pid: int, seconds: int, out: Path, *, rate: int = 100, subprocesses: bool = False) -> list[str]:
    """``py-spy record`` of ``pid`` for ``seconds``, ``rate`` samples a second, raw collapsed stacks
    to ``out`` (``bench.report.raw_stacks`` reads them); the process is not paused to sample."""
    argv = [PY_SPY, "record", "--pid", str(pid), "--duration", str(seconds), "--rate", str(rate)]
    argv += ["--format", "raw", "--output", str(out), "--nonblocking"]
    return argv + (["--subprocesses"] if subprocesses else [])


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * (len(sorted_values) - 1))))
    return sorted_values[index]


class Proc:
    """A subprocess in its own session, pinned to a core with taskset, logging to a file."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        *,
        core: str | None,
        env: dict[str, str] | None = None,
        log_dir: Path,
        cwd: Path = ROOT,
        stdin_pipe: bool = False,
        stdout_pipe: bool = False,
    ) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("w")
        full = (["taskset", "-c", core] if core is not None else []) + argv
        self.popen = subprocess.Popen(
            full,
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdin=subprocess.PIPE if stdin_pipe else subprocess.DEVNULL,
            stdout=subprocess.PIPE if stdout_pipe else self._log,
            stderr=self._log,
            start_new_session=True,
            text=True,
            bufsize=1,
        )
        self.pid = self.popen.pid  # taskset execs the command: same pid

    def log_tail(self, chars: int = 3000) -> str:
        self._log.flush()
        return self.log_path.read_text()[-chars:]

    def send(self, **command: Any) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.write(json.dumps(command) + "\n")
        self.popen.stdin.flush()

    def read(self, timeout: float) -> dict[str, Any]:
        """The next JSON line the process prints on stdout."""
        assert self.popen.stdout is not None
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.name}: no output in {timeout}s; log: {self.log_tail()}")
            ready, _, _ = select.select([self.popen.stdout], [], [], left)
            if ready:
                line = self.popen.stdout.readline()
                if not line:
                    raise RuntimeError(f"{self.name} exited ({self.popen.poll()}): {self.log_tail()}")
                line = line.strip()
                if line.startswith("{"):
                    return json.loads(line)

    def read_until(self, event: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            message = self.read(max(0.01, deadline - time.monotonic()))
            if message.get("event") == event:
                return message

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def stop(self, timeout: float = 10.0) -> None:
        if self.popen.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGTERM)
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.popen.wait(timeout=5)
            except ProcessLookupError:
                pass
        for stream in (self.popen.stdin, self.popen.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self._log.close()
