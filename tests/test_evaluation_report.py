"""The report: from run folders only, one self-contained HTML page (PNG embedded) with the results
table, each run's curves, ROC/PR or scatter, config and provenance; runs without test predictions
(streamed Track7878) still get their row and curves."""

from __future__ import annotations

import base64
import re
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

pytest.importorskip("matplotlib", reason="the report draws with matplotlib (a core dependency of dnabench)")

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
