"""`dnabench benchmark` and `dnabench report`: arguments checked before work, --dry-run writes nothing,
a small run and its report from the command line."""

from __future__ import annotations

import importlib.util

import pytest
import torch
from typer.testing import CliRunner

from dnabench.cli import app

from test_experiments_runner import tiny_config

runner = CliRunner()


def test_dry_run_of_a_shipped_table_writes_nothing(tmp_path):
    result = runner.invoke(app, ["benchmark", "table5", "--out", str(tmp_path / "out"), "--stores", str(tmp_path), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "table5: 28 steps (small scale)" in result.output and "features/geneexp/cnn_fc/seed-0" in result.output
    assert "would fail" in result.output and "no store" in result.output  # the stores are not there
    assert not (tmp_path / "out").exists()
    result = runner.invoke(app, ["benchmark", "table3", "--scale", "full", "--out", str(tmp_path / "o"), "--dry-run", "--stores", str(tmp_path),
                                 "--only", "promvary"])
    assert result.exit_code == 0 and "table3: 24 steps (full scale)" in result.output


@pytest.mark.parametrize(("args", "message"), [
    (["table9", "--out", "x"], "table9: neither a config file nor a shipped config"),
    (["table1", "--out", "x", "--scale", "huge"], "--scale must be one of small, full"),
    (["table1", "--out", "x", "--stores", "/no/such/stores"], "/no/such/stores: no such folder"),
    (["table1", "--out", "x", "--reference", "/no/oracle.json"], "/no/oracle.json: no such file"),
    (["table1", "--out", "x", "--devices", "-1"], "--devices must be >= 0"),
])
def test_bad_arguments_are_one_line_errors(tmp_path, args, message):
    result = runner.invoke(app, ["benchmark", *args])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


def test_missing_stores_fail_before_any_run(tmp_path):
    result = runner.invoke(app, ["benchmark", "table1", "--out", str(tmp_path / "out"), "--stores", str(tmp_path)])
    assert result.exit_code == 2 and "step(s) cannot start" in result.output and "no store or table" in result.output
    assert not (tmp_path / "out").exists()


def test_benchmark_then_report(tmp_path):
    torch.set_num_threads(1)
    config = tiny_config(tmp_path / "stores", seeds=(0,), pretrain=False, tasks=("a",))
    out = tmp_path / "out"
    result = runner.invoke(app, ["benchmark", str(config), "--out", str(out), "--stores", str(tmp_path / "stores"), "--only", "a/cnn",
                                 "--devices", "1"])
    assert result.exit_code == 0, result.output
    assert (out / "runs/a/cnn/seed-0/metrics.json").is_file() and not (out / "runs/a/tf").exists()
    assert "CNN AUROC" in (out / "results.md").read_text()
    if importlib.util.find_spec("matplotlib") is None:
        pytest.skip("the report needs matplotlib (a core dependency of dnabench)")
    result = runner.invoke(app, ["report", str(out), "--out", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    assert "data:image/png;base64," in (tmp_path / "report" / "report.html").read_text()


def test_report_arguments(tmp_path):
    result = runner.invoke(app, ["report", str(tmp_path / "none"), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "no such run or benchmark folder" in result.output
