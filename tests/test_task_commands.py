"""The download / prepare / store commands, registered on a fresh typer app (cli.py wires the real one)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import json

from typer.testing import CliRunner

from dnabench.cli import app
from dnabench.io.genome import index_genome
from dnabench.synthetic import make_genome


def test_commands(tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["download", "--list"])
    assert res.exit_code == 0 and "hg38.2bit" in res.output
    res = runner.invoke(app, ["download", "hg38"])
    assert res.exit_code == 2 and "did you mean" in res.output

    make_genome({"chr1": 60_000, "chr12": 30_000}, sites_per_motif=3, seed=9).write_fasta(tmp_path / "g.fa")
    index_genome(tmp_path / "g.fa", tmp_path / "genome", progress=False)
    rng = np.random.default_rng(0)
    tss = rng.choice(np.arange(2_000, 55_000, 3_000), size=15, replace=False)
    bed = pd.DataFrame({"c": "chr1", "s": tss, "e": tss + 1, "n": [f"P{i}" for i in range(15)], "x": 0, "st": rng.choice(["+", "-"], 15)})
    bed.to_csv(tmp_path / "p.bed", sep="\t", header=False, index=False)
    for task in ("promvary", "promfix"):
        res = runner.invoke(app, ["prepare", task, str(tmp_path / "p.bed"), "--genome", str(tmp_path / "genome"), "--out", str(tmp_path / task)])
        assert res.exit_code == 0, res.output
        assert f"task={task}" in res.output
    lines = [f"chr12\t{1000 + 10 * i}\t{1001 + 10 * i}\tx\t20\t+\t0\t0\t0,0,0\t20\t{5 * i}\n" for i in range(20)]
    (tmp_path / "ENCFF000AAA.bed").write_text("".join(lines))
    res = runner.invoke(app, ["prepare", "methyl96", str(tmp_path / "ENCFF000AAA.bed"), "--genome", str(tmp_path / "genome"), "--out", str(tmp_path / "m"), "--quiet"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["store", "info", str(tmp_path / "m"), "--verify"])
    assert res.exit_code == 0 and "20 rows" in res.output and "val 20" in res.output
    bed.assign(c="chr7").to_csv(tmp_path / "bad.bed", sep="\t", header=False, index=False)
    res = runner.invoke(app, ["prepare", "promvary", str(tmp_path / "bad.bed"), "--genome", str(tmp_path / "genome"), "--out", str(tmp_path / "x")])
    assert res.exit_code == 2 and "chr7" in res.output and not (tmp_path / "x").exists()


def test_store_trains_end_to_end(tmp_path):
    """A tiny PromVary store, built by the CLI, trains and evaluates with `dnabench train` on the CPU."""
    runner = CliRunner()
    make_genome({"chr1": 400_000, "chr2": 200_000}, sites_per_motif=3, seed=4).write_fasta(tmp_path / "g.fa")
    index_genome(tmp_path / "g.fa", tmp_path / "genome", progress=False)
    rng = np.random.default_rng(1)
    tss = rng.choice(np.arange(2_000, 390_000, 1_500), size=120, replace=False)
    bed = pd.DataFrame({"c": "chr1", "s": tss, "e": tss + 1, "n": [f"P{i}" for i in range(120)], "x": 0, "st": rng.choice(["+", "-"], 120)})
    bed.to_csv(tmp_path / "p.bed", sep="\t", header=False, index=False)
    res = runner.invoke(app, ["prepare", "promvary", str(tmp_path / "p.bed"), "--genome", str(tmp_path / "genome"), "--out", str(tmp_path / "store")])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["train", "--data", str(tmp_path / "store"), "--model", "cnn_fc", "--out", str(tmp_path / "run"),
                              "--max-epochs", "1", "--batch-size", "32", "--no-progress"])
    assert res.exit_code == 0, res.output
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert {"auroc", "auprc"} <= set(metrics["test"])
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert meta["input_length"] == 500 and meta["task"]["kind"] == "binary"
    res = runner.invoke(app, ["evaluate", str(tmp_path / "run"), "--split", "val"])
    assert res.exit_code == 0, res.output
