"""Time and peak memory of `dnabench demo`, against its budget (10 minutes, 4 GB on 2 CPU cores).

The demo runs in a child process (as a user runs it), so its peak resident memory is the
child's own (`getrusage(RUSAGE_CHILDREN)`), not this script's. Prints the stages' times, the
scores against the best achievable ones, and whether the budget holds.

Usage:
  python benchmarks/demo.py                 # into a temporary folder
  python benchmarks/demo.py --out DIR --seed 1
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUDGET_S = 600
BUDGET_GB = 4.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="demo folder (default: a temporary one, removed after)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="dnabench-demo-bench-") as tmp:
        out = args.out or Path(tmp) / "demo"
        command = [sys.executable, "-m", "dnabench", "demo", "--out", str(out), "--seed", str(args.seed)]
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20  # kB on Linux
        if done.returncode != 0:
            print(done.stdout[-4000:], done.stderr[-4000:], sep="\n")
            print(f"demo failed with exit code {done.returncode}")
            return 1
        record = json.loads((out / "demo.json").read_text())
    print(f"dnabench demo, seed {args.seed}: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"{dt.date.today().isoformat()}")
    print()
    print("| measure | value | budget |")
    print("|---|---:|---:|")
    print(f"| wall time | {seconds:.0f} s | {BUDGET_S} s |")
    print(f"| peak memory (the demo process) | {peak_gb:.2f} GB | {BUDGET_GB:.0f} GB |")
    for stage, value in record["seconds"].items():
        print(f"| stage: {stage} | {value:.0f} s | |")
    print()
    scores = record["scores"]
    if scores:
        models = [k for k in scores[0] if k not in ("task", "metric", "best achievable")]
        print("| task | metric | " + " | ".join(models) + " | best achievable |")
        print("|---|---|" + "---:|" * (len(models) + 1))
        for row in scores:
            cells = [f"{row.get(m, float('nan')):.3f}" for m in models]
            print(f"| {row['task']} | {row['metric']} | " + " | ".join(cells) + f" | {row['best achievable']:.3f} |")
    within = seconds <= BUDGET_S and peak_gb <= BUDGET_GB
    print()
    print("within budget" if within else "OVER BUDGET")
    return 0 if within else 1


if __name__ == "__main__":
    sys.exit(main())
