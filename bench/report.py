"""What the bench scenarios report with: progress lines, the machine a run was measured on, Markdown
tables, figures, and py-spy's raw profiles."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from bench.common import CLIENT_CORE, SERVER_CORE, read_text


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def machine(*, node: bool = False) -> dict[str, Any]:
    """CPU, cores, versions, the cores the servers and clients are pinned to, the load average."""
    cpu_model = next(
        (
            line.split(":", 1)[1].strip()
            for line in read_text("/proc/cpuinfo").splitlines()
            if line.startswith("model name")
        ),
        "unknown",
    )
    info: dict[str, Any] = {"cpu": cpu_model, "cores": os.cpu_count(), "python": platform.python_version()}
    if node:  # the fan-out's Node peer
        info["node"] = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    return info | {
        "kernel": platform.release(),
        "server_core": SERVER_CORE,
        "client_core": CLIENT_CORE,
        "loadavg_at_start": read_text("/proc/loadavg").split()[:3],
    }


def fmt(value: float | None, spec: str = "{:.1f}") -> str:
    """A figure for a table: ``–`` where there is none (None or NaN)."""
    return "–" if value is None or value != value else spec.format(value)


def markdown_table(header: str, align: str, rows: Iterable[list[str]]) -> str:
    """A Markdown table. ``header``: the column titles, separated by `` | ``; ``align``: one letter
    a column, ``l`` (text) or ``r`` (figures); each row one string a cell (an empty one is ``| |``)."""
    if len(align) != len(header.split(" | ")):
        raise ValueError(f"{len(header.split(' | '))} columns, {len(align)} alignments")
    lines = [f"| {header} |", "| " + " | ".join("---:" if a == "r" else "---" for a in align) + " |"]
    lines += ["|" + "".join(f" {cell} |" if cell else " |" for cell in row) for row in rows]
    return "\n".join(lines)


def pyplot() -> Any:
    """matplotlib's pyplot, drawing to files (no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def raw_stacks(path: Path | str) -> Iterator[tuple[list[str], int]]:
    """The samples of a py-spy ``--format raw`` file (none if it is missing): each stack's frames,
    outermost first, and how many samples had it."""
    for line in read_text(str(path)).splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            yield stack.split(";"), int(count)
