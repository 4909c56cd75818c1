"""Training engine: real promoter data beats chance, CLI train/evaluate/predict, exact resume, NaN stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from dnabench.cli import app
from dnabench.training.config import TrainConfig
from dnabench.training.errors import NonFiniteLossError
from dnabench.data.loader import EpochBatchSampler
from dnabench.training.run import train

runner = CliRunner()
SMALL_TRANSFORMER = {"hidden_size": 64, "num_layers": 2, "num_heads": 4, "ffn_size": 128}
SMALL_CNN = {"channels": [32, 32], "kernel_size": 8, "pool_size": 4}


def synthetic_table(path: Path, rows: int = 512, length: int = 60, seed: int = 0, regression: bool = False) -> Path:
    """Label 1 where a planted motif is present: learnable in a few steps."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("ACGT"))
    seqs = rng.choice(letters, size=(rows, length))
    label = rng.random(rows) < 0.5
    seqs[label, 20:28] = list("TATAAAAG")
    frame = pd.DataFrame({"sequence": ["".join(s) for s in seqs]})
    frame["label"] = label.astype(float) if not regression else label * 2.0 + rng.normal(0, 0.1, rows)
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def gue(shared_data) -> Path:
    return shared_data / "PromVary" / "GUE_prom_300_all" / "dev.csv"


@pytest.mark.parametrize(
    ("model", "options"),
    [("transformer", SMALL_TRANSFORMER), ("cnn_fc", SMALL_CNN), ("cnn_lstm", {**SMALL_CNN, "lstm_hidden": 32})],
)
def test_real_promoters_beat_chance(gue, tmp_path, model, options):
    config = TrainConfig(
        data=str(gue), model=model, model_options=options, out=str(tmp_path / model),
        max_epochs=1, batch_size=64, lr=2e-3, progress=False,
    )
    run = train(config)
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["test"]) >= {"auroc", "auprc", "f1", "mcc", "threshold"}
    assert metrics["test"]["auroc"] > 0.6, metrics  # chance is 0.5
    assert metrics["test"]["auprc"] > 0.55, metrics  # chance is the positive rate, 0.5
    predictions = pd.read_parquet(run / "test_predictions.parquet")
    assert len(predictions) == 592 and predictions["index"].is_unique


def test_cli_train_evaluate_predict(tmp_path):
    """Trained in float32 (`--precision 32`; on the CPU that is the default), so that `evaluate`, which
    computes in float32 on every device, reproduces the run's test metrics also on a GPU."""
    table = synthetic_table(tmp_path / "motif.csv")
    run = tmp_path / "run"
    result = runner.invoke(
        app,
        ["train", "--data", str(table), "--model", "transformer", "--out", str(run), "--max-epochs", "3",
         "--batch-size", "32", "--lr", "3e-3", "--no-progress", "--tokenizer", "kmer", "--positions", "relative",
         "--hidden-size", "64", "--layers", "2", "--heads", "4", "--precision", "32", "--pooling", "mean"],
    )
    assert result.exit_code == 0, result.output
    assert json.loads((run / "best" / "config.json").read_text())["config"]["pooling"] == "mean"
    for name in ("config.yaml", "run.json", "metrics.json", "logs/metrics.csv", "best/config.json", "last/model.safetensors",
                 "checkpoints/best.ckpt", "checkpoints/last.ckpt", "test_predictions.parquet"):
        assert (run / name).exists(), name
    meta = json.loads((run / "run.json").read_text())
    assert meta["dnabench"] and len(meta["data_card_sha256"]) == 64 and meta["input_length"] == 60
    assert json.loads((run / "metrics.json").read_text())["test"]["auroc"] > 0.9

    result = runner.invoke(app, ["evaluate", str(run), "--split", "test"])
    assert result.exit_code == 0, result.output
    evaluated = json.loads((run / "eval_test.json").read_text())
    assert evaluated["auroc"] == pytest.approx(json.loads((run / "metrics.json").read_text())["test"]["auroc"], abs=1e-6)

    frame = pd.read_csv(table)
    fasta = tmp_path / "in.fa"
    fasta.write_text("".join(f">s{i}\n{s}\n" for i, s in enumerate(frame["sequence"][:20])))
    for source, out in ((fasta, tmp_path / "pred.tsv"), (table, tmp_path / "pred.parquet")):
        result = runner.invoke(app, ["predict", str(run), str(source), "--out", str(out)])
        assert result.exit_code == 0, result.output
        pred = pd.read_parquet(out) if out.suffix == ".parquet" else pd.read_csv(out, sep="\t")
        assert "pred_label" in pred and pred["pred_label"].between(0, 1).all()
    tsv = pd.read_csv(tmp_path / "pred.tsv", sep="\t")
    full = pd.read_parquet(tmp_path / "pred.parquet")
    # What predict promises across batch sizes (20 rows in one batch here, 256-row batches there): it
    # computes in float32 on every device unless --bf16, so a row's prediction differs only by float32
    # rounding: 1e-5 on the CPU; on CUDA (TF32 off for the call) cuBLAS / cuDNN / FlexAttention pick other
    # kernels, with another summation order, for another batch size: 1e-4. --bf16 promises BF16_TOLERANCE.
    atol = 1e-4 if torch.cuda.is_available() else 1e-5
    np.testing.assert_allclose(tsv["pred_label"], full["pred_label"][:20], atol=atol, rtol=0)
    # the motif rows are called positive
    labels = frame["label"].to_numpy()
    assert full["pred_label"][labels == 1].mean() > full["pred_label"][labels == 0].mean() + 0.5


def test_predict_bed_with_genome(tmp_path):
    from dnabench.io.genome import index_genome
    from dnabench.synthetic import make_genome

    table = synthetic_table(tmp_path / "motif.csv")
    run = train(TrainConfig(data=str(table), model="cnn_fc", model_options=SMALL_CNN, out=str(tmp_path / "run"),
                            max_epochs=1, batch_size=64, progress=False))
    synthetic = make_genome(sizes={"chr1": 50_000}, sites_per_motif=5, seed=3)
    genome = index_genome(synthetic.write_fasta(tmp_path / "g.fa"), tmp_path / "g", progress=False)
    bed = synthetic.write_sites_bed(tmp_path / "sites.bed")
    result = runner.invoke(app, ["predict", str(run), str(bed), "--genome", str(genome.path), "--out", str(tmp_path / "p.csv")])
    assert result.exit_code == 0, result.output
    pred = pd.read_csv(tmp_path / "p.csv")
    assert len(pred) == len(synthetic.sites) and {"chrom", "start", "pred_label"} <= set(pred.columns)
    result = runner.invoke(app, ["predict", str(run), str(bed), "--out", str(tmp_path / "p2.csv")])
    assert result.exit_code == 2 and "--genome" in result.output


def _train_command(table: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "dnabench", "train", "--data", str(table), "--model", "transformer", "--out", str(out),
            "--max-epochs", "4", "--batch-size", "16", "--checkpoint-every-steps", "3", "--no-progress", "--seed", "5",
            "--hidden-size", "32", "--layers", "1", "--heads", "2"]  # small: 20 checkpoints of the default model are 3.6 GB


def test_kill_9_then_resume_matches_uninterrupted(tmp_path):
    table = synthetic_table(tmp_path / "t.csv", rows=300, length=40)
    env = {**os.environ, "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1"}
    reference = tmp_path / "reference"
    subprocess.run(_train_command(table, reference), check=True, env=env, capture_output=True)

    killed = tmp_path / "killed"
    proc = subprocess.Popen(_train_command(table, killed), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = killed / "checkpoints" / "last.ckpt"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if last.exists() and last.stat().st_size > 0:
            step = torch.load(last, weights_only=False, map_location="cpu")["global_step"]
            if step >= 6:
                break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "metrics.json").exists(), "the run finished before it could be killed"
    steps_per_epoch = len(EpochBatchSampler(np.arange(240), 16, shuffle=True))
    step = torch.load(last, weights_only=False, map_location="cpu")["global_step"]
    assert 0 < step < 4 * steps_per_epoch

    done = subprocess.run([sys.executable, "-m", "dnabench", "train", "--resume", str(killed), "--no-progress"],
                          env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    want = json.loads((reference / "metrics.json").read_text())
    got = json.loads((killed / "metrics.json").read_text())
    assert got["steps"] == want["steps"]
    for split in ("val", "test"):
        for name, value in want[split].items():
            assert got[split][name] == pytest.approx(value, abs=1e-6), (split, name)
    from safetensors.torch import load_file

    a, b = load_file(reference / "last" / "model.safetensors"), load_file(killed / "last" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_nan_loss_stops_with_message_and_keeps_good_checkpoint(tmp_path, monkeypatch):
    """The outputs turn NaN at step 2 (as a diverging run's do): the run stops naming that step, and
    the checkpoint written after every step keeps the weights from before it."""
    from dnabench.training.module import DNATaskModule

    path = synthetic_table(tmp_path / "r.csv", rows=128, regression=True)
    logits = DNATaskModule.logits

    def diverging(self, codes):
        out = logits(self, codes)
        return out * float("nan") if self.training and self.global_step == 2 else out

    monkeypatch.setattr(DNATaskModule, "logits", diverging)
    config = TrainConfig(data=str(path), model="cnn_fc", model_options=SMALL_CNN, out=str(tmp_path / "run"),
                         max_epochs=2, batch_size=16, checkpoint_every_steps=1, progress=False)
    with pytest.raises(NonFiniteLossError, match="loss is nan at step 2"):
        train(config)
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=False, map_location="cpu")
    assert ckpt["global_step"] == 2
    assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values() if v.is_floating_point())


def test_config_file_and_unknown_keys(tmp_path):
    table = synthetic_table(tmp_path / "t.csv", rows=64)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"data: {table}\nmodel: cnn_fc\nmodel_options: {{channels: [8], kernel_size: 5}}\nmax_epochs: 1\nbogus: 1\n")
    result = runner.invoke(app, ["train", "--config", str(cfg), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "unknown key(s) ['bogus']" in result.output
    cfg.write_text(f"data: {table}\nmodel: cnn_fc\nmodel_options: {{channels: [8], kernel_size: 5}}\nmax_epochs: 1\n")
    result = runner.invoke(app, ["train", "--config", str(cfg), "--out", str(tmp_path / "r"), "--no-progress", "--batch-size", "8"])
    assert result.exit_code == 0, result.output
    import yaml

    saved = yaml.safe_load((tmp_path / "r" / "config.yaml").read_text())
    assert saved["batch_size"] == 8 and saved["model"] == "cnn_fc"
    result = runner.invoke(app, ["train", "--config", str(cfg), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "not empty" in result.output


def test_a_pair_store_is_refused_by_window_models(tmp_path, genome):
    """Models read one window [B, L]: a pair store is refused up front, naming its kind."""
    from dnabench.data.samples import pair_sample
    from dnabench.data.store import write_store
    from dnabench.training.config import TrainConfig
    from dnabench.training.run import train

    pos = np.array([1_000, 2_000, 3_000, 4_000])
    ref = [str("ACGTN"[c]) for c in genome.fetch_batch(["chr1"] * 4, pos - 1, length=1)[:, 0]]
    alt = [{"A": "C", "C": "G", "G": "T", "T": "A"}[r] for r in ref]
    regions = pd.DataFrame({"chrom": "chr1", "pos": pos, "ref": ref, "alt": alt, "split": ["train", "train", "val", "test"]})
    card = {"task": "toy", "labels": {"names": ["y"], "kind": "binary"}, "sample": pair_sample(40), "input_length": 40}
    write_store(tmp_path / "pairs", card, regions, np.array([[0.0], [1.0], [0.0], [1.0]], np.float32))
    config = TrainConfig(data=str(tmp_path / "pairs"), genome=str(genome.path), model="cnn_fc", out=str(tmp_path / "run"),
                         model_options={"channels": [4], "kernel_size": 3, "pool_size": 2}, progress=False)
    with pytest.raises(ValueError, match="a pair store holds \\[B, 2, L\\] samples"):
        train(config)


def test_metrics_and_threshold_are_those_of_the_best_checkpoint_and_a_finished_run_is_kept(shared_data, tmp_path):
    """On real data (GUE tf_0), where the last validation is not the best one: metrics.json's val
    block and the threshold that test, evaluate and predict use are the best checkpoint's; a
    --resume of the finished run changes nothing."""
    table = shared_data / "Track7878" / "GUE_tf_0" / "dev.csv"
    out = tmp_path / "run"
    config = TrainConfig(data=str(table), model="cnn_fc", model_options={"channels": [16, 16, 16], "fc_size": 16}, out=str(out),
                         max_epochs=3, batch_size=32, lr=1e-3, progress=False)
    train(config)
    metrics = json.loads((out / "metrics.json").read_text())
    log = pd.read_csv(out / "logs" / "metrics.csv")
    scores = log["val/auroc"].dropna().tolist()
    assert metrics["val"]["auroc"] == pytest.approx(metrics["best_score"]) == pytest.approx(max(scores))
    best = torch.load(out / "checkpoints" / "best.ckpt", weights_only=False, map_location="cpu")
    assert metrics["val"]["threshold"] == pytest.approx(best["dnabench"]["val_threshold"])
    before = (out / "metrics.json").read_text(), (out / "logs" / "metrics.csv").read_text()
    result = runner.invoke(app, ["train", "--resume", str(out)])
    assert result.exit_code == 0 and "nothing to resume" in " ".join(result.output.split())
    assert ((out / "metrics.json").read_text(), (out / "logs" / "metrics.csv").read_text()) == before


def test_shorter_table_rows_are_predicted_as_they_were_trained(tmp_path):
    """Training pads a table's shorter rows with N on the right: predict and evaluate on a table do
    the same for a run trained on a table, so a row scores alike in test_predictions and predict."""
    rng = np.random.default_rng(0)
    lengths = np.where(np.arange(160) % 2 == 0, 60, 44)
    seqs = ["".join(rng.choice(list("ACGT"), n)) for n in lengths]
    table = tmp_path / "mixed.csv"
    pd.DataFrame({"sequence": seqs, "label": (rng.random(160) < 0.5).astype(float)}).to_csv(table, index=False)
    run = train(TrainConfig(data=str(table), model="cnn_fc", model_options=SMALL_CNN, out=str(tmp_path / "run"),
                            max_steps=3, batch_size=32, precision="32", progress=False))
    tested = pd.read_parquet(run / "test_predictions.parquet")
    from dnabench.training.inference import predict_file

    with pytest.warns(UserWarning, match="N-padded on the right"):
        predicted = predict_file(run, table, tmp_path / "p.csv")
    np.testing.assert_allclose(predicted["pred_label"].to_numpy()[tested["index"].to_numpy()], tested["pred_label"].to_numpy(), atol=1e-5)


def test_min_epochs_holds_early_stopping_back(tmp_path):
    """Labels that cannot be learned (shuffled) and patience 1: early stopping ends the run after
    two epochs, unless min_epochs asks for more; the best checkpoint is still the best validation."""
    table = synthetic_table(tmp_path / "motif.csv", rows=128)
    frame = pd.read_csv(table)
    frame.assign(label=np.random.default_rng(1).permutation(frame["label"].to_numpy())).to_csv(table, index=False)
    epochs = {}
    for minimum in (0, 5):
        run = train(TrainConfig(data=str(table), model="cnn_fc", model_options=SMALL_CNN, out=str(tmp_path / f"min{minimum}"),
                                max_epochs=8, min_epochs=minimum, patience=1, batch_size=32, lr=1e-2, progress=False))
        epochs[minimum] = json.loads((run / "metrics.json").read_text())["epochs"]
    assert epochs[0] < 5 <= epochs[5] < 8, epochs
    with pytest.raises(ValueError, match=r"min_epochs must be in \[0, max_epochs=3\], got 4"):
        TrainConfig(data="t.csv", max_epochs=3, min_epochs=4)
