"""Results: mean +- sample SD over seeds on fixed numbers, the best cell, the paper's numbers (each one
printed in the paper, each one a cell of its table's config) and the written results files."""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dnabench.evaluation.tables import format_cell, summarise
from dnabench.experiments.config import load_experiment
from dnabench.experiments.plan import build_plan
from dnabench.experiments.results import load_published, load_reference, write_results

PAPER = Path(__file__).resolve().parents[1].parent / "shared" / "paper.md"


def test_mean_and_sample_sd_on_fixed_numbers():
    frame = pd.DataFrame({
        "model": ["a", "a", "a", "b", "b", "c"],
        "metric": ["auroc"] * 6,
        "value": [0.90, 0.80, 0.85, 0.70, np.nan, 0.95],
    })
    cells = summarise(frame, ["model", "metric"], best="model").set_index("model")
    assert cells.loc["a", "mean"] == pytest.approx(statistics.mean([0.90, 0.80, 0.85]))
    assert cells.loc["a", "sd"] == pytest.approx(statistics.stdev([0.90, 0.80, 0.85]))  # ddof=1
    assert cells.loc["a", "n"] == 3 and cells.loc["b", "n"] == 1 and np.isnan(cells.loc["b", "sd"])
    assert cells["best"].tolist() == [False, False, True]  # c has the highest mean
    assert format_cell(0.85, statistics.stdev([0.90, 0.80, 0.85]), 3) == "0.850 ± 0.050 (n=3)"
    assert format_cell(0.7, float("nan"), 1) == "0.700 (n=1)"


def test_lower_mse_is_best():
    frame = pd.DataFrame({"init": ["x", "x", "y", "y"], "metric": ["mse", "spearman"] * 2, "value": [0.05, 0.6, 0.04, 0.5]})
    cells = summarise(frame, ["init", "metric"], best="init")
    best = {(r.init, r.metric) for r in cells.itertuples() if r.best}
    assert best == {("y", "mse"), ("x", "spearman")}


def test_every_published_number_is_printed_in_the_paper():
    if not PAPER.is_file():
        pytest.skip(f"paper not found at {PAPER}")
    text = PAPER.read_text()
    tables = text[text.index("Table 1:"):]
    printed = set(re.findall(r"\d\.\d{3}", tables))
    published = pd.read_csv(Path(__file__).resolve().parents[1] / "src/dnabench/experiments/configs/published.csv", dtype=str,
                            keep_default_na=False)
    assert len(published) == 85
    assert not set(published["value"]) - printed, set(published["value"]) - printed


def test_every_published_number_is_a_cell_of_its_tables_config(tmp_path):
    published = load_published()
    for table, rows in published.groupby("table"):
        plan = build_plan(load_experiment(f"table{table}", "full"), tmp_path, tmp_path)
        cells = {(s.row, s.column, m) for s in plan.steps if s.result for m in s.metrics}
        keys = set(zip(rows["row"], rows["column"], rows["metric"]))
        assert keys <= cells, sorted(keys - cells)
        assert len(keys) == len(rows)


def _fake_run(folder: Path, test: dict[str, float]) -> None:
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({"val": test, "test": test}))
    (folder / "run.json").write_text("{}")


def test_results_files_in_the_papers_layout(tmp_path):
    plan = build_plan(load_experiment("table1", "small"), tmp_path / "out", tmp_path)
    values = {"rotary": 0.9, "relative": 0.95, "absolute": 0.8}
    for step in plan.steps:
        _fake_run(Path(step.config["out"]), {"auroc": values[step.axes["positions"]], "auprc": 0.5})
    skipped = plan.step("runs/promfix/transformer/positions-absolute/seed-0")
    (Path(skipped.config["out"]) / "run.json").unlink()  # not finished: not counted
    reference = tmp_path / "oracle.json"
    reference.write_text(json.dumps({"promvary": {"auroc": 0.99}}))
    paths = write_results(plan, reference=load_reference(reference))
    md = paths["results.md"].read_text()
    assert "| Dataset | Position encoding | AUROC | AUPRC |" in md
    assert "5 of 6 runs finished" in md
    assert "| PromVary | Relative | **0.950 (n=1)** (paper 0.942; oracle 0.990) |" in md
    cells = pd.read_csv(paths["results.csv"], keep_default_na=False)
    row = cells[(cells["row"] == "PromFix / Rotary") & (cells["metric"] == "auroc")].iloc[0]
    assert float(row["mean"]) == pytest.approx(0.9) and float(row["published"]) == pytest.approx(0.979) and row["column"] == ""
    assert not ((cells["row"] == "PromFix / Absolute").any())
    runs = pd.read_csv(paths["runs.csv"])
    assert len(runs) == 10 and set(runs.columns) >= {"table", "row", "column", "task", "model", "positions", "seed", "metric", "value"}
    record = json.loads(paths["results.json"].read_text())
    assert record["runs_finished"] == 5 and record["row_header"] == ["Dataset", "Position encoding"]


def test_bad_reference_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such reference file"):
        load_reference(tmp_path / "none.json")
    (tmp_path / "r.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="expected"):
        load_reference(tmp_path / "r.json")
