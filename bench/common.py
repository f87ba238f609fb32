"""Process plumbing shared by the bench scenarios: free ports, pinned subprocesses, CPU and RSS
readings from /proc, percentiles. Every process started here is stopped by its owner (``Proc.stop``),
in a ``finally``, with a timeout."""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PYTHON = str(ROOT / ".venv" / "bin" / "python")
CLK_TCK = os.sysconf("SC_CLK_TCK")
SERVER_CORE = os.environ.get("BENCH_SERVER_CORE", "0")
CLIENT_CORE = os.environ.get("BENCH_CLIENT_CORE", "1")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process and of its reaped children, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # fields[0] is state (field 3); utime is field 14, stime 15, cutime 16, cstime 17
    return sum(int(x) for x in fields[11:15]) / CLK_TCK


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
