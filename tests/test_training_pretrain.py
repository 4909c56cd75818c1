"""MLM pretraining runs: it learns (loss below the unigram entropy), resumes exactly after kill -9,
and transfers to `dnabench train --init` (encoder weights loaded, new head, clear errors on mismatch)."""

from __future__ import annotations

import dataclasses
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
from safetensors.torch import load_file
from lightning.pytorch.callbacks import Callback
from typer.testing import CliRunner

from dnabench.cli import app
from dnabench.synthetic import SyntheticGenome
from dnabench.training.pretrain import MLMModule, PretrainConfig, pretrain, resume_pretrain

runner = CliRunner()
TINY = {"hidden_size": 32, "num_layers": 2, "num_heads": 4, "ffn_size": 64, "dropout": 0.0}
REPO = Path(__file__).resolve().parents[1]


def repeat_genome(path: Path, copies: int = 1500, units: int = 3, unit_length: int = 40, seed: int = 0) -> Path:
    """A genome made of a few random units repeated in random order: every masked patch can be
    read off another copy of its unit, so a model that uses context beats token frequencies."""
    rng = np.random.default_rng(seed)
    pool = [rng.integers(0, 4, unit_length).astype(np.uint8) for _ in range(units)]
    sequence = np.concatenate([pool[i] for i in rng.integers(0, units, copies)])
    sequence[1000:1300] = 4  # a run of N: its chunks are skipped
    return SyntheticGenome({"chr1": sequence}, {"chr1": np.zeros(sequence.size, np.uint8)}, pd.DataFrame()).write_fasta(path)


def labelled_table(path: Path, rows: int = 256, length: int = 60, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    seqs = rng.choice(np.array(list("ACGT")), size=(rows, length))
    label = rng.random(rows) < 0.5
    seqs[label, 20:28] = list("TATAAAAG")
    pd.DataFrame({"sequence": ["".join(s) for s in seqs], "label": label.astype(float)}).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models run fastest on one thread (and a busy machine's spinning OpenMP threads slow them
    several times); the kill -9 test also needs the thread count of its subprocess for equal results."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def model_yaml(path: Path, options: dict) -> Path:
    """A --config file that holds only model options (the CLI has no flag for ffn_size)."""
    path.write_text(json.dumps({"model_options": options}))
    return path


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory) -> Path:
    """`dnabench pretrain --genome FASTA` of a tiny patch Transformer on the repeat genome."""
    tmp = tmp_path_factory.mktemp("pretrain")
    fasta = repeat_genome(tmp / "g.fa")
    run = tmp / "run"
    result = runner.invoke(app, [
        "pretrain", "--genome", str(fasta), "--out", str(run), "--config", str(model_yaml(tmp / "m.yaml", TINY)),
        "--length", "128", "--batch-size", "32", "--max-epochs", "2", "--lr", "1e-2", "--warmup-steps", "5",
        "--val-fraction", "0.1", "--no-progress",
    ])
    assert result.exit_code == 0, result.output
    assert "MLM loss" in result.output and "unigram baseline" in result.output
    return run


def test_mlm_loss_falls_clearly_below_the_unigram_entropy(pretrained):
    metrics = json.loads((pretrained / "metrics.json").read_text())
    val, train = metrics["val"], metrics["train"]
    assert val["mlm_loss"] < 0.6 * val["unigram_entropy"], val
    assert train["mlm_loss"] < train["unigram_entropy"], train
    assert val["accuracy"] > 0.5 and val["target_fraction"] == 10 / 32  # round(0.3 x 32 patches)
    assert metrics["masking"] == {"unit": "patch", "rate": 0.3, "replacement": {"mask": 0.8, "random": 0.1, "unchanged": 0.1}}
    for name in ("config.yaml", "run.json", "logs/metrics.csv", "checkpoints/last.ckpt", "genome/genome.json",
                 "encoder/config.json", "encoder/model.safetensors", "encoder/tokenizer/tokenizer_config.json"):
        assert (pretrained / name).exists(), name
    run = json.loads((pretrained / "run.json").read_text())
    counts = run["chunks"]["counts"][0]
    assert run["chunk_length"] == 128 and counts["skipped_n"] >= 2 and counts["kept"] == run["chunks"]["windows"]
    log = pd.read_csv(pretrained / "logs" / "metrics.csv")
    assert {"train/mlm_loss", "val/mlm_loss", "val/unigram_entropy", "val/accuracy"} <= set(log.columns)


def test_warmup_is_capped_for_short_runs():
    module = MLMModule.__new__(MLMModule)
    module.warmup_steps, module.max_warmup_fraction = 5000, 0.1
    assert module.warmup(1_000_000) == 5000 and module.warmup(200) == 20


def _pretrain_command(fasta: Path, config: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "dnabench", "pretrain", "--genome", str(fasta), "--out", str(out), "--config", str(config),
            "--length", "64", "--batch-size", "16", "--max-epochs", "3", "--checkpoint-every-steps", "2", "--seed", "5",
            "--lr", "1e-3", "--warmup-steps", "4", "--val-fraction", "0.2", "--no-progress"]


def test_kill_9_then_resume_matches_uninterrupted(tmp_path):
    fasta = repeat_genome(tmp_path / "g.fa", copies=150)
    config = model_yaml(tmp_path / "m.yaml", {"hidden_size": 16, "num_layers": 1, "num_heads": 2, "ffn_size": 32, "dropout": 0.1})
    killed = tmp_path / "killed"
    env = {**os.environ, "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1"}
    proc = None
    try:  # the reference and the resume run in this process on one thread (the fixture), as the killed run does
        reference = tmp_path / "reference"
        result = runner.invoke(app, _pretrain_command(fasta, config, reference)[3:])
        assert result.exit_code == 0, result.output
        proc = subprocess.Popen(_pretrain_command(fasta, config, killed), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        last = killed / "checkpoints" / "last.ckpt"
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None:
            if last.exists() and last.stat().st_size > 0:
                try:
                    if torch.load(last, weights_only=False, map_location="cpu")["global_step"] >= 4:
                        break
                except Exception:  # caught mid-write
                    pass
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert not (killed / "metrics.json").exists(), "the run finished before it could be killed"
        step = torch.load(last, weights_only=False, map_location="cpu")["global_step"]
        want = json.loads((reference / "metrics.json").read_text())
        assert 0 < step < want["steps"]
        resume_pretrain(killed, {"progress": False})
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
    got = json.loads((killed / "metrics.json").read_text())
    assert got["steps"] == want["steps"]
    for split in ("train", "val"):
        for name, value in want[split].items():
            assert got[split][name] == pytest.approx(value, abs=1e-6), (split, name)
    a, b = load_file(reference / "encoder" / "model.safetensors"), load_file(killed / "encoder" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


class StopAfterFirstEpoch(Callback):
    """Fails the run once the first epoch's checkpoint is written (a crash at an epoch boundary)."""

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if trainer.current_epoch == 1:
            raise RuntimeError("stopped after the first epoch")


def test_resume_from_an_epoch_boundary_matches_uninterrupted(tmp_path):
    fasta = repeat_genome(tmp_path / "g.fa", copies=150)
    options = {"hidden_size": 16, "num_layers": 1, "num_heads": 2, "ffn_size": 32, "dropout": 0.1}

    def config(out: str) -> PretrainConfig:
        return PretrainConfig(genome=str(fasta), out=str(tmp_path / out), length=64, batch_size=16, max_epochs=2, seed=2,
                              lr=1e-3, warmup_steps=4, val_fraction=0.2, model_options=options, progress=False)

    reference = pretrain(config("reference"))
    with pytest.raises(RuntimeError, match="stopped after the first epoch"):
        pretrain(config("stopped"), callbacks=[StopAfterFirstEpoch()])
    resumed = resume_pretrain(tmp_path / "stopped", {"progress": False})
    want, got = (json.loads((run / "metrics.json").read_text()) for run in (reference, resumed))
    assert got["steps"] == want["steps"] and got["train"] == want["train"] and got["val"] == want["val"]
    before = pd.read_csv(resumed / "logs" / "metrics.part1.csv")  # the log of the first part is kept
    after = pd.read_csv(resumed / "logs" / "metrics.csv")
    assert before["step"].max() < after["step"].min() <= after["step"].max()


def _saved_encoder(path: Path, **options) -> Path:
    from dnabench.models import build_model

    torch.manual_seed(1)
    return build_model("transformer", **{**TINY, **options}).save_pretrained(path)


def test_init_with_a_mismatched_tokenizer_or_shape_fails_clearly(tmp_path):
    from dnabench.models import build_model
    from dnabench.training.transfer import init_from

    source = _saved_encoder(tmp_path / "kmer", tokenizer="kmer")
    table = labelled_table(tmp_path / "t.csv", rows=64)
    result = runner.invoke(app, ["train", "--data", str(table), "--out", str(tmp_path / "ft"), "--init", str(source),
                                 "--tokenizer", "patch", "--no-progress", "--max-epochs", "1"])
    assert result.exit_code == 2
    assert "tokenizer='kmer'" in result.output and "tokenizer='patch'" in result.output, result.output
    model = build_model("transformer", tokenizer="kmer", **{**TINY, "hidden_size": 64})
    with pytest.raises(ValueError, match="source model has hidden_size=32 but this run asks for hidden_size=64"):
        init_from(model, source, given={"tokenizer": "kmer", "hidden_size": 64})
    with pytest.raises(ValueError, match="the source is a 'transformer' model and this run builds a 'cnn_fc' model"):
        init_from(build_model("cnn_fc", seq_len=60, channels=(8,)), source)
    with pytest.raises(FileNotFoundError, match="not a saved model"):
        init_from(model, tmp_path)


def test_merged_config_takes_the_source_shape_and_refuses_a_conflicting_option():
    from dnabench.models import make_config
    from dnabench.training.transfer import merged_config

    source = make_config("transformer", tokenizer="onehot", hidden_size=64, num_heads=4, ffn_size=128)
    merged = merged_config(make_config("transformer", pooling="mean", dropout=0.3), source, {"pooling": "mean", "dropout": 0.3}, "src")
    assert (merged.frontend, merged.encoder.hidden_size) == (source.frontend, 64)
    assert merged.pooling == "mean" and merged.encoder.dropout == 0.3
    with pytest.raises(ValueError, match="--init src: the source model has tokenizer='onehot' but this run asks for tokenizer='patch'"):
        merged_config(make_config("transformer", tokenizer="patch"), source, {"tokenizer": "patch"}, "src")


def test_pretrain_then_train_init_end_to_end(pretrained, tmp_path):
    from dnabench.models import DNAModel, build_model
    from dnabench.training.transfer import init_from

    encoder = DNAModel.from_pretrained(pretrained / "encoder")
    # the run's own options say nothing about the architecture: it comes from the source
    fresh = build_model("transformer", num_outputs=1)
    model = init_from(fresh, pretrained)
    assert model.config.encoder.hidden_size == 32 and model.config.frontend == encoder.config.frontend
    mine, theirs = model.state_dict(), encoder.state_dict()
    assert all(torch.equal(mine[k], theirs[k]) for k in theirs if not k.startswith("head."))
    assert not torch.equal(mine["head.fc1.weight"], theirs["head.fc1.weight"])  # a fresh head

    table = labelled_table(tmp_path / "t.csv")
    run = tmp_path / "ft"
    result = runner.invoke(app, ["train", "--data", str(table), "--out", str(run), "--init", str(pretrained),
                                 "--max-epochs", "1", "--batch-size", "32", "--no-progress", "--dropout", "0.2"])
    assert result.exit_code == 0, result.output
    saved = json.loads((run / "best" / "config.json").read_text())["config"]
    assert saved["encoder"]["hidden_size"] == 32 and saved["encoder"]["dropout"] == 0.2
    # a supervised run folder (its best/) is a source too: Table 4's Track7878 column
    tuned = DNAModel.from_pretrained(run / "best")
    again = init_from(build_model("transformer", num_outputs=3, pooling="mean"), run)
    assert again.config.head.num_outputs == 3 and again.config.pooling == "mean"  # pooling is the new run's
    assert torch.equal(again.state_dict()["encoder.norm.weight"], tuned.state_dict()["encoder.norm.weight"])


def test_pretrain_on_a_table_uses_only_the_asked_splits(tmp_path):
    table = labelled_table(tmp_path / "t.csv", rows=120, length=80)
    config = PretrainConfig(data=[str(table)], table_splits=["train"], out=str(tmp_path / "run"), length=1024, batch_size=32,
                            max_epochs=1, max_steps=2, model_options={**TINY, "tokenizer": "kmer"}, progress=False, val_fraction=0.2)
    run = pretrain(config)
    info = json.loads((run / "run.json").read_text())
    assert info["chunk_length"] == 80  # no longer than the table's sequences
    assert info["inputs"][0]["rows_used"] == 96 and info["inputs"][0]["chunks"]["kept"] == 96
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["steps"] == 2 and metrics["val"]["targets"] > 0  # validated after a stop inside the epoch
    assert metrics["train"]["targets"] == 2 * 32 * 45
    assert metrics["masking"]["unit"] == "base span" and metrics["masking"]["span"] == 5
    assert metrics["val"]["target_fraction"] == pytest.approx(5 * 9 / 76, abs=1e-6)  # round(0.3 * 80 / 5) spans of 9 k-mers


def test_pretrain_refuses_bad_input(tmp_path):
    result = runner.invoke(app, ["pretrain", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "--genome or --data" in result.output
    result = runner.invoke(app, ["pretrain", "--data", str(tmp_path / "none.fa"), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "none.fa" in result.output
    with pytest.raises(ValueError, match="unknown option"):
        PretrainConfig(data=["x"], model_options={"hiden_size": 3})


def test_benchmark_smoke_prints_the_table(capsys):
    """`benchmarks/pretrain_throughput.py --smoke`, run in this process (no second start of torch)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("pretrain_throughput", REPO / "benchmarks" / "pretrain_throughput.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--smoke"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ")]
    assert sum("dnabench default" in r for r in rows) == 4 and "Card: CPU" in out
    assert sum("BertForMaskedLM" in r for r in rows) == 2 or "transformers is not installed" in out


def test_a_compiled_mlm_validates_a_filled_last_batch_as_the_rows_themselves():
    """A compiled model's validation keeps the filled-up last batch whole (one shape) and leaves the
    repeated rows out of every sum: the metrics equal those of the plain, shorter last batch."""
    import lightning as L

    from dnabench.data.loader import batch_loader
    from dnabench.training.pretrain import build_mlm
    from test_training_estimator import ArraySource

    codes = np.random.default_rng(0).integers(0, 4, (21, 64)).astype(np.uint8)
    source = ArraySource(codes, np.zeros((21, 0), np.float32))
    config = PretrainConfig(genome="unused", out="unused", length=64, model_options=TINY)
    torch.manual_seed(0)
    model = build_mlm(config)
    results = []
    for fill in (False, True):
        model.backbone._compiled = fill  # what compile() records; nothing is compiled here
        # every chosen unit becomes MASK: the 80/10/10 draws come after the choice, so their values
        # for a row depend on the batch size, and the comparison is of the rows, not of those draws
        masking = dataclasses.replace(config.masking, mask_fraction=1.0, random_fraction=0.0)
        module = MLMModule(model, masking, verbose=False)
        loader = batch_loader(source, np.arange(21), 8, shuffle=False, fill_last=fill, pin_memory=False)
        trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False)
        trainer.validate(module, loader, verbose=False)
        results.append(module.last_metrics["val"])
    plain, filled = results
    assert plain["targets"] > 0 and plain.keys() == filled.keys()
    for key in plain:
        assert filled[key] == pytest.approx(plain[key], rel=1e-5), key
