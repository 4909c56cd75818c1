"""``benchmarks/train_throughput.py --smoke``: the script runs end to end on the CPU and prints its table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "train_throughput.py"


def test_smoke_run_prints_every_requested_row():
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke", "--sections", "default,ablation", "--tokenizers", "patch",
         "--positions", "rotary"],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| dnabench default")]
    assert len(rows) == 6  # the default model + five ablations
    assert any("with none of these" in row for row in rows)
