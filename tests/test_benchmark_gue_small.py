"""``benchmarks/gue_small.py --smoke``: every model runs on a tiny GUE-like table and the printed
table holds the numbers of the run folders."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gue_small.py"
MODELS = ("kmer_lr", "cnn_fc", "cnn_lstm", "transformer", "transformer_mlm")
LABELS = {"transformer": "transformer (scratch)", "transformer_mlm": "transformer (MLM)"}


def load_script():
    """The script as a module, run in this process (one import of torch and Lightning, not one a call)."""
    spec = importlib.util.spec_from_file_location("gue_small", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def write_gue_folder(root: Path, rows: int = 160, length: int = 48) -> Path:
    """A GUE-layout folder (dev.csv + test.csv, header sequence,label): positives carry a motif."""
    rng = np.random.default_rng(5)
    letters = np.array(list("ACGT"))
    seqs, labels = [], []
    for i in range(rows):
        seq = letters[rng.integers(0, 4, length)]
        label = i % 2
        if label:
            at = rng.integers(0, length - 8)
            seq[at:at + 8] = list("TATAAAAG")
        seqs.append("".join(seq))
        labels.append(label)
    folder = root / "GUE_toy"
    folder.mkdir(parents=True)
    frame = pd.DataFrame({"sequence": seqs, "label": labels})
    frame.iloc[: rows // 2].to_csv(folder / "dev.csv", index=False)
    frame.iloc[rows // 2:].to_csv(folder / "test.csv", index=False)
    return folder


def markdown_row(stdout: str, table: str) -> dict[str, str]:
    """{column header: cell} of the printed table's row for `table`."""
    lines = [line for line in stdout.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] == table:
            return dict(zip(header, cells))
    raise AssertionError(f"no row {table!r} in\n{stdout}")


def test_smoke_table_holds_every_model_and_the_runs_numbers(tmp_path, capsys):
    script = load_script()
    write_gue_folder(tmp_path / "gue")
    out = tmp_path / "out"
    assert script.main(["--smoke", "--gue-root", str(tmp_path / "gue"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "device: CPU" in printed and "n = 1 seed" in printed
    assert "toy: 160 rows from dev.csv, test.csv" in printed
    row = markdown_row(printed, "toy")
    runs = pd.read_csv(out / "results.csv")
    assert sorted(runs["model"]) == sorted(MODELS)
    for model in MODELS:
        folder = out / "runs" / "toy" / "seed0" / model
        test = json.loads((folder / "metrics.json").read_text())["test"]
        expected = " / ".join(f"{test[m]:.3f}" for m in ("auroc", "auprc", "mcc"))
        assert row[f"{LABELS.get(model, model)}: AUROC / AUPRC / MCC"] == expected
        assert np.isclose(runs.loc[runs["model"] == model, "auroc"].item(), test["auroc"])
    assert markdown_row((out / "results.md").read_text(), "toy") == row

    # the split column of the copy is the one every run and the pretraining read
    copy = pd.read_parquet(out / "tables" / "toy.seed0.parquet")
    assert len(copy) == 160 and set(copy["split"]) == {"train", "val", "test"}
    pretrain = json.loads((out / "runs" / "toy" / "seed0" / "pretrain" / "run.json").read_text())
    assert pretrain["inputs"][0]["rows_used"] == int((copy["split"] == "train").sum())
    for model in MODELS[1:]:
        described = json.loads((out / "runs" / "toy" / "seed0" / model / "run.json").read_text())["data_description"]
        assert "split by its 'split' column" in described

    # a second call with the same --out reuses the finished runs and prints the same numbers
    assert script.main(["--smoke", "--gue-root", str(tmp_path / "gue"), "--out", str(out), "--models", "kmer_lr"]) == 0
    again = capsys.readouterr().out
    assert markdown_row(again, "toy")["kmer_lr: AUROC / AUPRC / MCC"] == row["kmer_lr: AUROC / AUPRC / MCC"]


def test_unknown_table_is_a_clear_error(tmp_path, capsys):
    script = load_script()
    write_gue_folder(tmp_path / "gue", rows=20)
    with pytest.raises(SystemExit) as exit_:
        script.main(["--gue-root", str(tmp_path / "gue"), "--tables", "prom_999"])
    assert exit_.value.code == 2
    assert "prom_999 not found; have toy" in capsys.readouterr().err
