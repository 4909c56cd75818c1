"""The report: from run folders only, one self-contained HTML page (PNG embedded) with the results
table, each run's curves, ROC/PR or scatter, config and provenance; runs without test predictions
(streamed Track7878) still get their row and curves."""

from __future__ import annotations

import base64
import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

pytest.importorskip("matplotlib", reason="the report draws with matplotlib (a core dependency of dnabench)")

from dnabench.evaluation import plots  # noqa: E402
from dnabench.evaluation.plots import pr_points, roc_points  # noqa: E402
from dnabench.evaluation.report import find_runs, write_report  # noqa: E402
from dnabench.experiments.runner import run_benchmark  # noqa: E402
from dnabench.training.config import TrainConfig  # noqa: E402
from dnabench.training.run import train  # noqa: E402

from test_experiments_runner import CNN, motif_table, quiet, tiny_config  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("report")
    table = motif_table(tmp / "cls.csv")
    frame = pd.read_csv(table)
    frame["label"] = frame["label"] * 2 + np.random.default_rng(0).normal(0, 0.1, len(frame))
    frame.to_csv(tmp / "reg.csv", index=False)
    made = {}
    for name in ("cls", "reg"):
        made[name] = train(TrainConfig(data=str(tmp / f"{name}.csv"), model="cnn_fc", model_options=CNN, out=str(tmp / "runs" / name),
                                       max_epochs=2, batch_size=64, lr=3e-3, progress=False))
    streamed = tmp / "runs" / "streamed"
    shutil.copytree(made["cls"], streamed)
    (streamed / "test_predictions.parquet").unlink()
    made["streamed"] = streamed
    yield tmp, made
    torch.set_num_threads(threads)


def _images(page: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]


def test_report_of_run_folders(runs, tmp_path):
    tmp, made = runs
    page = write_report([tmp / "runs"], tmp_path / "report")
    text = page.read_text()
    images = _images(text)
    assert all(img.startswith(PNG) for img in images)
    # curves for all three runs, ROC/PR for cls, scatter for reg, bars for the two tasks' metrics
    assert len(images) == len(list((tmp_path / "report" / "plots").glob("*.png")))
    names = sorted(p.name for p in (tmp_path / "report" / "plots").glob("*.png"))
    assert sum("curves" in n for n in names) == 3 and sum("roc_pr" in n for n in names) == 1 and sum("scatter" in n for n in names) == 1
    assert {n.split("_", 1)[1] for n in names if "_bars_" in n or n[4:].startswith("bars_")} == {
        "bars_cls.csv_auroc.png", "bars_cls.csv_auprc.png", "bars_reg.csv_spearman.png", "bars_reg.csv_pearson.png", "bars_reg.csv_mse.png"}
    assert "<table>" in text and "src=" in text and "http" not in text.split("<body>")[1].split("data:image")[0]
    assert "No test_predictions.parquet" in text and "streamed" in text
    assert "data_card_sha256" in text and "model: cnn_fc" in text
    assert "cls.csv" in text and "(n=2)" in text  # cls and its copy: two runs of one task and model


def test_report_of_a_benchmark_folder_shows_its_table(tmp_path):
    config = tiny_config(tmp_path / "stores", seeds=(0,), pretrain=False, tasks=("a",))
    torch.set_num_threads(1)
    run_benchmark(config, tmp_path / "out", stores=tmp_path / "stores", console=quiet(), only=["cnn"])
    page = write_report(tmp_path / "out", tmp_path / "report").read_text()
    assert "Tiny (small scale)" in page and "CNN AUROC" in page and "1 of 2 runs finished" in page
    assert "Task A, CNN, seed 0" in page  # the config's labels
    runs_found, benchmarks = find_runs([tmp_path / "out"])
    assert [r.name for r in runs_found] == ["runs/a/cnn/seed-0"] and benchmarks[0]["name"] == "tiny"


def test_curve_points_match_their_definition():
    y = np.array([1, 0, 1, 0, 1], dtype=float)
    p = np.array([0.9, 0.8, 0.7, 0.2, 0.1])
    fpr, tpr = roc_points(y, p)
    assert fpr[0] == 0 and tpr[0] == 0 and fpr[-1] == 1 and tpr[-1] == 1
    recall, precision = pr_points(y, p)
    assert recall[1] == pytest.approx(1 / 3) and precision[1] == 1.0 and precision[-1] == pytest.approx(3 / 5)


def test_nothing_to_report(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such run"):
        write_report([tmp_path / "none"], tmp_path / "r")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no run folder"):
        write_report([tmp_path / "empty"], tmp_path / "r")


def test_a_second_report_replaces_its_plots_and_leaves_a_users_folder_alone(runs, tmp_path):
    tmp, _ = runs
    out = tmp_path / "report"
    write_report([tmp / "runs"], out)
    first = sorted(p.name for p in (out / "plots").iterdir())
    (out / "plots" / "999_left_over.png").write_bytes(b"old")  # a plot of an earlier, larger report
    write_report([tmp / "runs"], out)
    assert sorted(p.name for p in (out / "plots").iterdir()) == first
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary folder left
    (out / "plots" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="holds files the report did not write"):
        write_report([tmp / "runs"], out)
    assert (out / "plots" / "notes.txt").read_text() == "mine"


def _fake_run(folder, model: str, seed: int, auroc: float, data: str = "/stores/a.csv", **run) -> None:
    """A finished run folder without training: metrics.json, config.yaml and run.json."""
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({"test": {"auroc": auroc}}))
    (folder / "config.yaml").write_text(yaml.safe_dump({"model": model, "seed": seed, "data": data}))
    (folder / "run.json").write_text(json.dumps({"task": {"name": "a", "kind": "binary", "metrics": ["auroc"]}, "data": data, **run}))


@pytest.fixture
def bars(monkeypatch):
    """The frames the report draws as bars, one per figure."""
    drawn = []
    draw = plots.bars_png
    monkeypatch.setattr(plots, "bars_png", lambda frame, title, ylabel: (drawn.append(frame.copy()), draw(frame, title, ylabel))[1])
    return drawn


def _bar_cells(drawn) -> dict[str, tuple[float, int]]:
    return {rec["label"]: (round(rec["mean"], 6), rec["n"]) for frame in drawn for rec in frame.to_dict("records")}


def test_bars_of_a_benchmark_keep_its_grid_axis_values_apart(tmp_path, bars):
    bench, records = tmp_path / "bench", []
    for positions, base in (("rotary", 0.9), ("absolute", 0.6)):
        for seed in range(3):
            name = f"runs/a/tf/positions-{positions}/seed-{seed}"
            _fake_run(bench / name, "transformer", seed, base + 0.01 * seed)
            records.append({"table": "1", "row": "A", "column": "AUROC", "task": "a", "model": "tf", "positions": positions, "seed": seed,
                            "metric": "auroc", "value": base + 0.01 * seed, "run": name, "store": "a"})
    layout = {"rows": ["task", "positions"], "columns": ["metric"], "best": "positions",
              "order": {"task": ["a"], "model": ["tf"], "metric": ["auroc"], "positions": ["rotary", "absolute"]},
              "names": {"task": "Dataset", "model": "Model", "metric": "Metric", "positions": "Position encoding"},
              "labels": {"task": {"a": "Task A"}, "model": {"tf": "Attention"}, "metric": {"auroc": "AUROC"},
                         "positions": {"rotary": "Rotary", "absolute": "Absolute"}}}
    (bench / "results.json").write_text(json.dumps({"name": "t", "layout": layout, "runs": records, "cells": []}))
    page = write_report(bench, tmp_path / "report").read_text()
    assert _bar_cells(bars) == {"Attention, Rotary": (0.91, 3), "Attention, Absolute": (0.61, 3)}  # one bar a results cell
    assert "Task A, Attention, Rotary, seed 0" in page


def test_runs_moved_aside_are_left_out_and_fits_are_named_by_their_backbone(tmp_path, bars):
    root = tmp_path / "bench"
    for backbone, seeds in (("cnn_fc", (0,)), ("transformer", (0, 1))):
        for seed in seeds:
            features = root / "features" / "a" / backbone / f"seed-{seed}"
            features.mkdir(parents=True)
            (features / "features.json").write_text(json.dumps({"format": "dnabench-features", "backbone_model": backbone}))
            score = {"cnn_fc": 0.6, "transformer": 0.8}[backbone] + 0.01 * seed
            _fake_run(root / "runs" / "a" / backbone / f"seed-{seed}", "random_forest", seed, score, data=str(features), input="features")
    _fake_run(root / "runs" / "a" / "cnn_fc" / "seed-0.failed-1", "random_forest", 0, 0.1, data=str(root / "features" / "a" / "cnn_fc" / "seed-0"))
    found, _ = find_runs([root / "runs"])
    assert sorted(r.name for r in found) == ["a/cnn_fc/seed-0", "a/transformer/seed-0", "a/transformer/seed-1"]
    assert {r.model for r in found} == {"random_forest on cnn_fc", "random_forest on transformer"}
    page = write_report([root / "runs"], tmp_path / "report").read_text()
    assert _bar_cells(bars) == {"random_forest on cnn_fc": (0.6, 1), "random_forest on transformer": (0.805, 2)}
    assert "failed-1" not in page
    (root / "runs" / "a" / "cnn_fc" / "seed-0" / "run.json").unlink()  # a run without run.json: its config's data path names the features
    assert "random_forest on cnn_fc" in {r.model for r in find_runs([root / "runs"])[0]}


def test_a_failed_report_removes_only_its_temporary_folder(tmp_path):
    _fake_run(tmp_path / "runs" / "good" / "seed-0", "cnn_fc", 0, 0.7)
    out = tmp_path / "report"
    write_report([tmp_path / "runs"], out)
    first = sorted(p.name for p in (out / "plots").iterdir())
    damaged = tmp_path / "runs" / "zz_damaged" / "seed-0"
    _fake_run(damaged, "cnn_fc", 0, 0.8)
    (damaged / "test_predictions.parquet").write_bytes(b"not a parquet file")
    other = out / ".plots.tmp-1"  # another report's, still being written
    other.mkdir()
    with pytest.raises(ValueError, match="test_predictions.parquet"):
        write_report([tmp_path / "runs"], out)  # fails after drawing its bars
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == [".plots.tmp-1"]
    assert sorted(p.name for p in (out / "plots").iterdir()) == first  # the earlier report is untouched
