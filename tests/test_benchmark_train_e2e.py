"""``benchmarks/train_e2e.py --smoke``: both inputs are built, trained and timed on the CPU, and the table says so."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "train_e2e.py"


def test_smoke_run_measures_the_store_input_and_every_inference_call(tmp_path):
    """The store input (the table one shares every step but the building, which the next test reaches)."""
    out = tmp_path / "e2e.json"
    done = subprocess.run([sys.executable, str(SCRIPT), "--smoke", "--inputs", "store", "--json", str(out), "--profile", "2"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| store |")]
    assert len(rows) == 1, done.stdout
    assert "profile of 2 model steps" in done.stdout and "| aten::" in done.stdout  # where the step's host time goes
    results = json.loads(out.read_text())["results"]
    assert [r["input"] for r in results] == ["store"]
    for r in results:
        assert r["model_step"] > 0 and r["train_rate"] > 0 and r["val_rate"] > 0
        assert {"loader wait", "copy to device", "step", "callbacks, logging"} <= set(r["phases"])
        assert all(rate["cold"] > 0 and rate["warm"] > 0 for rate in r["inference"].values())
    assert set(results[0]["inference"]) == {"evaluate", "predict", "features"}


def test_a_window_longer_than_an_epoch_is_refused(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), "--smoke", "--inputs", "table", "--steps", "500"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode != 0 and "do not fit in one epoch" in done.stdout + done.stderr
