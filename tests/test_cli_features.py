"""`dnabench features`, then `dnabench train --data FEATURES --model upper_transformer`, `evaluate` and `--resume`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import typer
from typer.testing import CliRunner

from dnabench.cli import app
from dnabench.models import build_model
from dnabench.tasks.geneexp import build_geneexp

from test_task_geneexp import write_annotation, write_matrix
from test_training_features import CTX, SEG, TINY, WINDOW, small  # noqa: F401  (the genome fixture)

runner = CliRunner()
UPPER = ["--hidden-size", "32", "--layers", "1", "--heads", "4", "--dropout", "0"]


def genes(n_train=16, n_val=6, n_test=6, seed=0):
    """Genes at random TSSs: chr1 trains, chrX validates, chr8 tests (GeneExp's rule)."""
    rng = np.random.default_rng(seed)
    rows = []
    for chrom, count, size in (("chr1", n_train, 100_000), ("chrX", n_val, 50_000), ("chr8", n_test, 60_000)):
        for tss in rng.choice(np.arange(2_000, size - 2_000, 50), count, replace=False):
            rows.append((f"G{len(rows)}", f"S{len(rows)}", chrom, "+-"[len(rows) % 2], int(tss), int(tss), "protein_coding"))
    return rows


@pytest.fixture(scope="module")
def setup(tmp_path_factory, small):  # noqa: F811
    tmp = tmp_path_factory.mktemp("cli")
    rows = genes()
    write_annotation(tmp / "ann.csv", rows)
    write_matrix(tmp / "exp.csv", np.random.default_rng(1).gamma(2.0, 3.0, size=(len(rows), 3)))
    store = build_geneexp(tmp / "ann.csv", tmp / "exp.csv", small, tmp / "geneexp", window=WINDOW, segment_length=SEG, context=CTX,
                          leakage=False)
    torch.manual_seed(0)
    backbone = build_model("transformer", tokenizer="patch", num_outputs=4, **TINY).save_pretrained(tmp / "backbone")
    return tmp, store, backbone


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], terminal_width=240)


def test_every_option_has_help_and_a_default():
    command = typer.main.get_command(app).commands["features"]
    for param in command.params:
        if param.param_type_name == "option" and param.name != "help":
            assert param.help, param.name
            assert param.show_default or param.default is not None or param.required, param.name


def test_features_then_train_evaluate_and_resume(setup):
    tmp, store, backbone = setup
    feats = tmp / "features"
    result = invoke("features", backbone, "--data", store.path, "--out", feats, "--fp32", "--dtype", "float32", "--quiet",
                    "--device", "cpu")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert f"{store.n_rows} rows, {store.n_rows} x 10 x 32 float32 (segmented)" in text and "rows/s" in text
    again = invoke("features", backbone, "--data", store.path, "--out", feats, "--fp32", "--dtype", "float32", "--quiet", "--device", "cpu")
    assert again.exit_code == 0 and "already holds these features" in again.output and "nothing computed" in again.output

    run = tmp / "run"
    result = invoke("train", "--data", feats, "--model", "upper_transformer", "--out", run, "--max-epochs", "2", "--batch-size", "4",
                    "--lr", "1e-3", "--accelerator", "cpu", "--no-progress", *UPPER)
    assert result.exit_code == 0, result.output
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"spearman", "spearman_per_target", "pearson", "mse"} <= set(metrics["test"]) and metrics["epochs"] == 2
    meta = json.loads((run / "run.json").read_text())
    assert meta["task"]["name"] == "geneexp" and meta["task"]["loss"] == "huber" and meta["input_length"] == SEG + 2 * CTX
    assert meta["task"]["label_names"] == store.label_names
    config = json.loads((run / "best" / "config.json").read_text())
    assert config["model"] == "upper_transformer" and config["config"]["input_size"] == 32 and config["config"]["segments"] == 10
    assert config["config"]["head"]["num_outputs"] == 3 and config["config"]["head"]["output"] == "value"

    result = invoke("evaluate", run, "--split", "test", "--device", "cpu")
    assert result.exit_code == 0, result.output
    scored = json.loads((run / "eval_test.json").read_text())
    assert scored["rows"] == 6 and scored["spearman"] == pytest.approx(metrics["test"]["spearman"], abs=1e-5)

    result = invoke("train", "--resume", run, "--max-epochs", "3")
    assert result.exit_code == 0, result.output
    assert json.loads((run / "metrics.json").read_text())["epochs"] == 3


def test_models_and_data_that_do_not_fit_are_refused(setup):
    tmp, store, backbone = setup
    feats = tmp / "features-refusals"
    assert invoke("features", backbone, "--data", store.path, "--out", feats, "--quiet", "--device", "cpu").exit_code == 0
    result = invoke("train", "--data", feats, "--model", "transformer", "--out", tmp / "r1", "--no-progress")
    assert result.exit_code == 2 and "train upper_transformer on it" in " ".join(result.output.split())
    result = invoke("train", "--data", store.path, "--model", "upper_transformer", "--out", tmp / "r2", "--no-progress")
    assert result.exit_code == 2 and "reads backbone features" in result.output and "dnabench features" in result.output
    result = invoke("train", "--data", store.path, "--out", tmp / "r3", "--no-progress")
    text = " ".join(result.output.split())
    assert result.exit_code == 2 and "a segmented store holds [B, S, L] samples" in text and "`dnabench features" in text
    result = invoke("train", "--data", feats, "--model", "upper_transformer", "--out", tmp / "r4", "--rc", "--no-progress")
    assert result.exit_code == 2 and "cannot be shifted or reverse-complemented" in " ".join(result.output.split())
    assert not any((tmp / name).exists() for name in ("r1", "r2", "r3", "r4"))


def test_command_errors_are_one_line(setup):
    tmp, store, backbone = setup
    cases = [
        (("features", tmp / "absent", "--data", store.path, "--out", tmp / "f"), "no such run or model folder"),
        (("features", backbone, "--data", tmp, "--out", tmp / "f"), "not a dataset store"),
        (("features", backbone, "--data", store.path, "--out", tmp / "f", "--pair", "sum"), "--pair must be concat or diff"),
        (("features", backbone, "--data", store.path, "--out", tmp / "f", "--dtype", "int8"), "--dtype must be float16 or float32"),
        (("features", tmp, "--data", store.path, "--out", tmp / "f"), "not a backbone"),
    ]
    for args, message in cases:
        result = invoke(*args)
        assert result.exit_code == 2 and message in " ".join(result.output.split()), (args, result.output)
        assert "Traceback" not in result.output
    assert not (tmp / "f").exists()
