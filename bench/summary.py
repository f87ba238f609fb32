"""A bench run's JSON without its raw samples: ``python -m bench.summary RAW.json OUT.json``.

A run writes its full result to ``var/bench/`` (every latency sample, every ``EXPLAIN``; a
fan-out run at N = 1,000 is over 1 MB). ``docs/bench/`` keeps only what the figures in
docs/benchmarks.md come from: each step's counts, percentiles, CPU and the run's summary, the
command and the machine. This drops the raw keys and keeps everything else as it is, so a
summary reads like the run's own JSON. Copy the run's plot (``.png``) next to it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

RAW_KEYS = frozenset({"latency_sample", "explain"})


def summarise(value: Any) -> Any:
    """``value`` with every key in ``RAW_KEYS`` removed, at any depth."""
    if isinstance(value, dict):
        return {k: summarise(v) for k, v in value.items() if k not in RAW_KEYS}
    if isinstance(value, list):
        return [summarise(v) for v in value]
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("raw", type=Path, help="a run's JSON under var/bench/")
    parser.add_argument("out", type=Path, help="where the summary goes, e.g. docs/bench/<name>.json")
    args = parser.parse_args()
    payload = summarise(json.loads(args.raw.read_text()))
    payload["dropped"] = sorted(RAW_KEYS)  # in the run's own JSON under var/bench/, not here
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=1) + "\n")
    print(f"{args.out}: {args.out.stat().st_size:,} bytes (from {args.raw.stat().st_size:,})")


if __name__ == "__main__":
    main()
