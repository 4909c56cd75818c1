"""A run folder tells the truth: validation after --max-steps, which model best/ is, versions and commit,
TensorBoard hparams, a quiet console; evaluate on outside tables, predict with length warnings and calls."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from dnabench.cli import app
from dnabench.training.config import TrainConfig
from dnabench.training.inference import BF16_TOLERANCE, InputLengthWarning, evaluate_run, fit_rows, predict_file
from dnabench.training.run import train

from test_training import SMALL_CNN, synthetic_table

runner = CliRunner()


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    """cnn_fc trained for 5 steps of a 13-step epoch; what it printed, logged and warned."""
    tmp = tmp_path_factory.mktemp("short_run")
    table = synthetic_table(tmp / "motif.csv")
    config = TrainConfig(data=str(table), model="cnn_fc", model_options=SMALL_CNN, out=str(tmp / "run"), max_steps=5,
                         batch_size=32, lr=3e-3, progress=False)
    records = _Records()
    names = ("lightning.pytorch", "lightning.fabric")
    for name in names:
        logging.getLogger(name).addHandler(records)
    stdout = io.StringIO()
    try:
        with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(stdout):
            warnings.simplefilter("always")
            run = train(config)
    finally:
        for name in names:
            logging.getLogger(name).removeHandler(records)
    return {"run": run, "table": table, "stdout": stdout.getvalue(), "logged": records.lines, "warnings": list(caught)}


def test_max_steps_inside_an_epoch_still_validates(short_run):
    run = short_run["run"]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["steps"] == 5 and metrics["val"]["auroc"] > 0
    assert metrics["best_checkpoint"] and Path(metrics["best_checkpoint"]).name == "best.ckpt"
    assert metrics["best_model"].startswith("checkpoints/best.ckpt") and metrics["monitor"] == "val/auroc"
    assert metrics["best_score"] == pytest.approx(metrics["val"]["auroc"], abs=1e-6)
    log = pd.read_csv(run / "logs" / "metrics.csv")
    assert log.loc[log["val/auroc"].notna(), "step"].tolist() == [4]  # Lightning logs the 5th step as step 4
    for name in ("checkpoints/best.ckpt", "checkpoints/last.ckpt", "best/model.safetensors", "last/model.safetensors"):
        assert (run / name).is_file(), name


def test_console_is_quiet_and_prints_a_line_a_validation(short_run):
    out = short_run["stdout"]
    assert out.splitlines()[0].startswith("cnn_fc, ") and "train 410 / val 51 / test 51" in out
    assert "epoch 1/10 step 5/5: train loss" in out and "val auroc" in out
    assert "FLOPs" not in out and "Tip" not in out
    assert not [line for line in short_run["logged"] if "Tip" in line or "available:" in line]
    noisy = [w for w in short_run["warnings"] if issubclass(w.category, (DeprecationWarning, FutureWarning))
             or type(w.message).__name__ == "PossibleUserWarning"]
    assert not noisy, [str(w.message) for w in noisy]


def test_run_json_records_version_and_commit(short_run):
    from dnabench import __version__
    from dnabench.training import run as run_module

    meta = json.loads((short_run["run"] / "run.json").read_text())
    assert meta["dnabench"] == __version__ and meta["dnabench_path"] == str(Path(run_module.__file__).resolve().parents[1])
    here = Path(run_module.__file__).resolve().parent
    git = shutil.which("git")
    tracked = git and subprocess.run([git, "-C", str(here), "ls-files", "--error-unmatch", str(Path(run_module.__file__).resolve())],
                                     capture_output=True).returncode == 0
    if tracked:  # running from a checkout: its commit
        head = subprocess.run([git, "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
        assert meta["git_commit"] == head and isinstance(meta["git_dirty"], bool)
    else:  # an installed package: no commit, and no error
        assert meta["git_commit"] is None and meta["git_dirty"] is None


def test_tensorboard_hparams_are_filled(short_run):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    found: dict[str, list[str]] = {}
    for path in (short_run["run"] / "tensorboard").glob("events.out.tfevents.*"):
        events = EventAccumulator(str(path))
        events.Reload()
        if events.Tags()["scalars"] and any(t.startswith("hparams/") for t in events.Tags()["scalars"]):
            found["scalars"] = events.Tags()["scalars"]
            found["plugin"] = list(events.PluginTagToContent("hparams"))
    assert {"hparams/val_auroc", "hparams/test_auroc"} <= set(found["scalars"])
    assert "_hparams_/experiment" in found["plugin"]
    saved = (short_run["run"] / "tensorboard" / "hparams.yaml").read_text()
    assert "max_steps: 5" in saved and "model_config" in saved


def test_evaluate_an_outside_table_whole(short_run, tmp_path):
    run, frame = short_run["run"], pd.read_csv(short_run["table"])
    own = runner.invoke(app, ["evaluate", str(run)])
    assert own.exit_code == 0, own.output
    before = (run / "eval_test.json").read_text()
    outside = tmp_path / "other_test.csv"
    frame.iloc[:40].to_csv(outside, index=False)  # no split column: every row is scored
    result = runner.invoke(app, ["evaluate", str(run), "--data", str(outside)], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert f"{tmp_path.name}/other_test.csv: all rows, 40 rows" in result.output
    written = json.loads((run / f"eval_{tmp_path.name}-other_test_all.json").read_text())
    assert written["rows"] == 40 and written["split"] == "all" and written["precision"] == "float32"
    assert written["threshold"] == pytest.approx(json.loads((run / "metrics.json").read_text())["val"]["threshold"])
    assert (run / "eval_test.json").read_text() == before  # the run's own result is left alone

    with_split = tmp_path / "with_split.tsv"
    frame.iloc[:30].assign(split=["train"] * 10 + ["test"] * 20).to_csv(with_split, sep="\t", index=False)
    scored = evaluate_run(run, str(with_split), "test", out=tmp_path / "chosen.json")
    assert (scored.split, scored.rows, scored.path) == ("test", 20, tmp_path / "chosen.json")
    unlabeled = tmp_path / "unlabeled.csv"
    frame[["sequence"]].iloc[:5].to_csv(unlabeled, index=False)
    result = runner.invoke(app, ["evaluate", str(run), "--data", str(unlabeled)])
    assert result.exit_code == 2 and "no label column(s) 'label'" in result.output and "predict" in result.output
    assert "--label" in result.output


def test_evaluate_maps_an_outside_tables_label_column_with_label(short_run, tmp_path):
    """--label names the outside table's columns that hold the run's labels; the scores equal those
    of the same rows under the run's own column name."""
    run, frame = short_run["run"], pd.read_csv(short_run["table"])
    same = tmp_path / "same.csv"
    frame.iloc[:40].to_csv(same, index=False)
    renamed = tmp_path / "renamed.csv"
    frame.iloc[:40].rename(columns={"label": "is_promoter"}).assign(label=0.5).to_csv(renamed, index=False)
    expected = evaluate_run(run, str(same), out=tmp_path / "same.json").metrics
    result = runner.invoke(app, ["evaluate", str(run), "--data", str(renamed), "--label", "is_promoter", "--out", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    written = json.loads((tmp_path / "r.json").read_text())
    assert written["auroc"] == pytest.approx(expected["auroc"]) and written["label_columns"] == ["is_promoter"]
    for argv, message in [
        (["--data", str(renamed), "--label", "is_promoter,label"], "--label names 2 column(s) (is_promoter, label) but this run has 1 label(s)"),
        (["--data", str(renamed), "--label", "promoter"], "no label column(s) 'promoter' (columns:"),
        (["--label", "label"], "give the table with --data"),
        (["--data", str(renamed), "--label", " , "], "give one or more column names"),
    ]:
        bad = runner.invoke(app, ["evaluate", str(run), *argv], terminal_width=200)
        assert bad.exit_code == 2 and message in bad.output, bad.output


def test_predict_warns_once_about_other_lengths_and_calls_at_the_threshold(short_run, tmp_path):
    run, frame = short_run["run"], pd.read_csv(short_run["table"])
    seqs = list(frame["sequence"][:20])
    seqs[0], seqs[1], seqs[2] = seqs[0] + "ACGTACGT", seqs[1][:50], seqs[2][5:55]
    fasta = tmp_path / "mixed.fa"
    fasta.write_text("".join(f">s{i}\n{s}\n" for i, s in enumerate(seqs)))
    out = tmp_path / "mixed.tsv"
    result = runner.invoke(app, ["predict", str(run), str(fasta), "--out", str(out)], terminal_width=300)
    assert result.exit_code == 0, result.output
    assert result.output.count("warning:") == 1
    assert "3 of 20 sequences are not 60 bp" in result.output and "1 longer (centre-cropped), 2 shorter" in result.output
    threshold = json.loads((run / "metrics.json").read_text())["val"]["threshold"]
    pred = pd.read_csv(out, sep="\t")
    assert (pred["call_label"] == (pred["pred_label"] >= threshold)).all() and f"{threshold:.4g}" in result.output
    with pytest.warns(InputLengthWarning):
        given = predict_file(run, fasta, tmp_path / "given.csv", threshold=0.0)
    assert given["call_label"].eq(1).all()
    same = runner.invoke(app, ["predict", str(run / "last"), str(short_run["table"]), "--out", str(tmp_path / "p.csv")])
    assert same.exit_code == 0 and "warning" not in same.output  # a saved model inside a run folder works too


def test_fit_rows_centres_each_row_on_its_own_length():
    codes = np.full((2, 6), 4, np.uint8)
    codes[0, :6] = [0, 1, 2, 3, 0, 1]
    codes[1, :2] = [2, 3]  # a 2-base row, right-padded in the block
    with pytest.warns(InputLengthWarning, match="2 of 2 sequences are not 4 bp.*1 longer .* 1 shorter"):
        fitted = fit_rows(codes, np.array([6, 2]), 4)
    assert fitted.tolist() == [[1, 2, 3, 0], [4, 2, 3, 4]]


def test_bf16_prediction_is_within_its_documented_tolerance(short_run, tmp_path):
    """bf16 autocast runs on the CPU too, so the tolerance docs/training.md gives is checked here."""
    table = short_run["table"]
    fp32 = predict_file(short_run["run"], table, tmp_path / "fp32.parquet")
    bf16 = predict_file(short_run["run"], table, tmp_path / "bf16.parquet", bf16=True)
    gap = np.abs(fp32["pred_label"].to_numpy() - bf16["pred_label"].to_numpy()).max()
    assert 0 < gap < BF16_TOLERANCE


def test_a_resumed_run_keeps_the_log_of_its_first_part(tmp_path):
    from dnabench.training.run import resume_run

    table = synthetic_table(tmp_path / "t.csv", rows=128)
    config = TrainConfig(data=str(table), model="cnn_fc", model_options=SMALL_CNN, out=str(tmp_path / "run"), max_epochs=1,
                         batch_size=32, progress=False)
    with contextlib.redirect_stdout(io.StringIO()):
        run = train(config)
        first = pd.read_csv(run / "logs" / "metrics.csv")
        resume_run(run, {"max_epochs": 2})
    log = pd.read_csv(run / "logs" / "metrics.csv")
    assert {0, 1} <= set(log["epoch"].dropna()) and not (run / "logs" / "metrics.before_resume.csv").exists()
    assert log.loc[log["epoch"] == 0, "val/auroc"].dropna().tolist() == first["val/auroc"].dropna().tolist()


def test_float32_math_switches_tf32_off_and_restores_the_flags():
    """The flags exist without a GPU, so the CUDA path of predict's float32 promise is checked here."""
    import torch

    from dnabench.training.inference import float32_math

    matmul, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    saved = matmul.allow_tf32, cudnn.allow_tf32
    try:
        cudnn.allow_tf32 = True
        with float32_math(torch.device("cuda")):
            assert (matmul.allow_tf32, cudnn.allow_tf32) == (False, False)
        assert cudnn.allow_tf32 is True
        with float32_math(torch.device("cpu")):
            assert cudnn.allow_tf32 is True
    finally:
        matmul.allow_tf32, cudnn.allow_tf32 = saved


def test_train_fraction_keeps_a_seeded_share_of_the_training_rows(tmp_path):
    from dnabench.training.data import load_training_data
    from dnabench.training.data import subsample_train

    data = load_training_data(synthetic_table(tmp_path / "t.csv", rows=400), seed=0)
    part = subsample_train(data, 0.1, seed=3)
    train_rows = data.split("train")
    assert part.split("train").size == round(train_rows.size * 0.1)
    assert np.isin(part.split("train"), train_rows).all()
    assert np.array_equal(part.split("train"), np.sort(part.split("train")))
    assert np.array_equal(part.split("val"), data.split("val")) and np.array_equal(part.split("test"), data.split("test"))
    assert np.array_equal(subsample_train(data, 0.1, seed=3).split("train"), part.split("train"))
    assert not np.array_equal(subsample_train(data, 0.1, seed=4).split("train"), part.split("train"))
    assert part.extra["counts"]["train"] == part.split("train").size
    with pytest.raises(ValueError, match="train_fraction"):
        TrainConfig(train_fraction=0)


def test_a_regression_head_starts_at_the_training_label_means(tmp_path):
    from dnabench.models import build_model
    from dnabench.training.data import load_training_data
    from dnabench.training.run import start_at_label_means

    frame = pd.read_csv(synthetic_table(tmp_path / "t.csv", rows=200, regression=True))
    frame["label"] = frame["label"] - 3.0
    frame.loc[5, "label"] = np.nan  # a missing label: left out of the mean
    frame.to_csv(tmp_path / "t.csv", index=False)
    data = load_training_data(tmp_path / "t.csv", seed=0)
    model = build_model("cnn_fc", **SMALL_CNN, num_outputs=1, output="value", seq_len=60)
    assert start_at_label_means(model, data, seed=0)
    labels = data.source.labels(data.split("train"))[:, 0]
    expected = labels[np.isfinite(labels)].mean()
    assert abs(float(model.head.fc2.bias[0]) - expected) < 1e-5 and expected < -2
    binary = load_training_data(synthetic_table(tmp_path / "b.csv", rows=100), seed=0)
    assert not start_at_label_means(model, binary, seed=0)  # classification heads keep their start
