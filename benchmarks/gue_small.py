"""Small real-data table on GUE: every model on every GUE table, three seeds, test AUROC / AUPRC / MCC.

Tables: each GUE folder found under --gue-root (folders named GUE_* as in shared/data, or GUE's
own layout prom/NAME and tf/N), its train.csv + dev.csv + test.csv stacked (whichever it holds),
sequences seen twice kept once (so that no sequence sits in two splits). For every seed the rows
are split 80/10/10 by `dnabench.data.splits.random_split`, the split dnabench train draws for a
table without a split column; the script writes that split as a `split` column into a copy of
the table (RUN/tables/), so supervised runs and MLM pretraining read one explicit split.

Models: kmer_lr (k-mer spectrum + logistic regression), cnn_fc, cnn_lstm, transformer from
scratch, and transformer_mlm: the transformer after MLM pretraining on the sequences of the
training rows only (`PretrainConfig(table_splits=["train"])`, the labels unused), then trained
with `TrainConfig(init=PRETRAIN_RUN)`. Every model goes through `dnabench.training.run.train`.
Neural runs stop early on validation AUROC; test scores are of the best checkpoint.

Output: a markdown table (rows = tables, columns = models; each cell AUROC / AUPRC / MCC as mean
+- sample SD over seeds) with n, the device and the date above it, printed and written to
OUT/results.md, and every run's numbers in OUT/results.csv and OUT/results.json. With --out
the run folders stay in OUT/runs and a second call with the same --out skips finished runs;
without it they live in a temporary folder that is removed at the end.

Usage:
  python benchmarks/gue_small.py --out gue-runs                        # the four promoter tables, 3 seeds
  python benchmarks/gue_small.py --gue-root ../shared/data/PromVary ../shared/data/Track7878 --out gue-runs
  python benchmarks/gue_small.py --tables prom_300_tata --models kmer_lr transformer --seeds 0 1
  python benchmarks/gue_small.py --smoke                               # tiny CPU run that checks the script
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DEFAULT_ROOTS = [DATA / "PromVary"]
#: column order of the table; transformer_mlm is the transformer started from its MLM pretraining
MODELS = ("kmer_lr", "cnn_fc", "cnn_lstm", "transformer", "transformer_mlm")
MODEL_LABELS = {"transformer": "transformer (scratch)", "transformer_mlm": "transformer (MLM)"}
METRICS = ("auroc", "auprc", "mcc")
GUE_FILES = ("train.csv", "dev.csv", "test.csv")
FRACTIONS = (0.8, 0.1, 0.1)
SMOKE_ROWS = 300
#: tiny models of --smoke (CPU seconds, not scores)
SMOKE_OPTIONS: dict[str, dict[str, Any]] = {
    "kmer_lr": {"k": 4},
    "cnn_fc": {"channels": [16, 24], "fc_size": 32},
    "cnn_lstm": {"channels": [16, 24], "lstm_hidden": 8},
    "transformer": {"hidden_size": 32, "num_layers": 1, "num_heads": 2, "ffn_size": 64},
}
PRETRAIN = "pretrain"
#: files whose presence says a run folder is finished
DONE = {"train": ("metrics.json", "run.json"), PRETRAIN: ("metrics.json", "encoder/config.json")}


@dataclass
class GueTable:
    name: str
    folder: Path
    files: list[Path]


# ----------------------------------------------------------------------------- tables


def find_tables(roots: list[Path]) -> list[GueTable]:
    """GUE table folders under `roots`: GUE_NAME/ (shared/data), prom/NAME/ and tf/N/ (GUE's layout), or a root that is one."""
    found: dict[str, GueTable] = {}
    for root in roots:
        candidates: list[tuple[str, Path]] = [(root.name.removeprefix("GUE_"), root)]
        candidates += [(p.name.removeprefix("GUE_"), p) for p in sorted(root.glob("GUE_*"))]
        candidates += [(p.name, p) for p in sorted(root.glob("prom/*"))]
        candidates += [(f"tf_{p.name}", p) for p in sorted(root.glob("tf/*"))]
        for name, folder in candidates:
            files = [folder / f for f in GUE_FILES if (folder / f).is_file()]
            if folder.is_dir() and files and name not in found:
                found[name] = GueTable(name, folder, files)
    return list(found.values())


def read_gue(table: GueTable) -> tuple[pd.DataFrame, int]:
    """The table's files stacked (sequence, label), and how many repeated sequences were dropped."""
    frames = []
    for path in table.files:
        frame = pd.read_csv(path)
        missing = {"sequence", "label"} - set(frame.columns)
        if missing:
            raise ValueError(f"{path}: no column(s) {', '.join(sorted(missing))}; a GUE file has the header sequence,label")
        frames.append(frame[["sequence", "label"]])
    rows = pd.concat(frames, ignore_index=True)
    rows["sequence"] = rows["sequence"].astype(str).str.upper()
    kept = rows.drop_duplicates("sequence", keep="first").reset_index(drop=True)
    return kept, len(rows) - len(kept)


def write_split_copy(rows: pd.DataFrame, seed: int, path: Path) -> dict[str, int]:
    """`rows` with the `split` column of dnabench train's seeded 80/10/10 split, written to `path`."""
    from dnabench.data.splits import random_split
    from dnabench.data.tables import write_table

    split = random_split(len(rows), FRACTIONS, seed).astype(str)
    write_table(rows.assign(split=split), path)
    return {s: int((split == s).sum()) for s in ("train", "val", "test")}


def check_same_split(path: Path, seed: int) -> None:
    """The copy's split column is the split dnabench train draws by `seed` for the table without it."""
    from dnabench.data.tables import load_sequence_table

    with_column = load_sequence_table(path)
    without = pd.read_parquet(path).drop(columns="split")
    plain = path.with_name(f".{path.stem}.nosplit.parquet")
    without.to_parquet(plain, index=False)
    try:
        drawn = load_sequence_table(plain, seed=seed)
    finally:
        plain.unlink()
    if not np.array_equal(with_column.split, drawn.split):
        raise RuntimeError(f"{path}: its split column differs from dnabench train's split by seed {seed}")


# ----------------------------------------------------------------------------- runs


def is_done(folder: Path, kind: str) -> bool:
    return all((folder / name).is_file() for name in DONE[kind])


def fresh_folder(folder: Path) -> None:
    """An unfinished run folder from an earlier call is moved aside (FOLDER.failed-N), not deleted."""
    from dnabench.experiments.steps import move_aside

    if folder.exists() and any(folder.iterdir()):
        moved = move_aside(folder)
        print(f"  {folder} was unfinished: moved to {moved.name}", flush=True)


def first_process() -> bool:
    return os.environ.get("LOCAL_RANK", "0") == "0" and os.environ.get("RANK", "0") == "0"


def run_pretrain(table_copy: Path, out: Path, seed: int, args: argparse.Namespace) -> Path:
    from dnabench.training.pretrain import PretrainConfig, pretrain
    from dnabench.training.run import quiet_lightning

    if is_done(out, PRETRAIN):
        return out
    if first_process():
        fresh_folder(out)
    config = PretrainConfig(
        data=[str(table_copy)], table_splits=["train"], out=str(out), model_options=dict(args.options["transformer"]),
        max_steps=args.pretrain_steps, max_epochs=10_000, batch_size=args.batch, lr=args.pretrain_lr, seed=seed,
        val_fraction=0.05, devices=args.devices, progress=False,
    )
    with quiet_lightning():
        pretrain(config)
    return out


def run_train(model: str, table_copy: Path, out: Path, seed: int, args: argparse.Namespace, init: Optional[Path] = None) -> Path:
    from dnabench.training.config import TrainConfig
    from dnabench.training.run import train

    if is_done(out, "train"):
        return out
    if first_process():
        fresh_folder(out)
    base = "transformer" if model == "transformer_mlm" else model
    config = TrainConfig(
        data=str(table_copy), model=base, model_options=dict(args.options.get(base, {})), out=str(out),
        init=str(init) if init is not None else None, max_epochs=args.epochs, batch_size=args.batch, lr=args.lr,
        seed=seed, devices=args.devices, patience=args.patience, progress=False,
    )
    train(config)
    return out


def record(table: str, model: str, seed: int, run: Path, seconds: float, runs_root: Path) -> dict[str, Any]:
    """One run's row: its test metrics (the best checkpoint's), val AUROC, epochs and split sizes."""
    metrics = json.loads((run / "metrics.json").read_text())
    test, val = metrics.get("test", {}), metrics.get("val", {})
    info = json.loads((run / "run.json").read_text())
    row: dict[str, Any] = {"table": table, "model": model, "seed": seed}
    row.update({m: _number(test.get(m)) for m in METRICS})
    row.update({"val_auroc": _number(val.get("auroc")), "epochs": metrics.get("epochs"), "device": info.get("device"),
                "wall_s": round(seconds, 1), "run": str(run.relative_to(runs_root.parent))})
    return row


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else float("nan")


# ----------------------------------------------------------------------------- the table


def summary_table(runs: pd.DataFrame, tables: list[str], models: list[str]) -> tuple[str, pd.DataFrame]:
    """Markdown (rows = tables, columns = models, cells AUROC / AUPRC / MCC mean +- SD) and its cells."""
    from dnabench.evaluation.tables import summarise

    long = runs.melt(id_vars=["table", "model", "seed"], value_vars=list(METRICS), var_name="metric", value_name="value")
    cells = summarise(long, ["table", "model", "metric"])
    seeds = runs.groupby(["table", "model"])["seed"].nunique()
    n_all = int(seeds.max()) if len(seeds) else 0
    header = ["table", *[f"{MODEL_LABELS.get(m, m)}: AUROC / AUPRC / MCC" for m in models]]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * len(models)]
    for table in tables:
        out = []
        for model in models:
            parts = []
            for metric in METRICS:
                hit = cells[(cells["table"] == table) & (cells["model"] == model) & (cells["metric"] == metric)]
                parts.append(_cell(hit.iloc[0]) if len(hit) else "–")
            n = int(seeds.get((table, model), 0))
            out.append(" / ".join(parts) + (f" (n={n})" if n != n_all else ""))
        lines.append(f"| {table} | " + " | ".join(out) + " |")
    return "\n".join(lines) + "\n", cells


def _cell(cell: pd.Series) -> str:
    mean, sd = float(cell["mean"]), float(cell["sd"])
    if not np.isfinite(mean):
        return "–"
    return f"{mean:.3f} ± {sd:.3f}" if np.isfinite(sd) else f"{mean:.3f}"


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def device_name() -> str:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"CPU ({platform.processor() or platform.machine()}), no GPU"


# ----------------------------------------------------------------------------- main


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gue-root", nargs="+", type=Path, default=DEFAULT_ROOTS,
                   help=f"folders holding GUE tables (GUE_*/, prom/*, tf/*) (default {DEFAULT_ROOTS[0]})")
    p.add_argument("--tables", nargs="+", default=None, help="table names, e.g. prom_300_all tf_0 (default: every table found)")
    p.add_argument("--models", nargs="+", default=list(MODELS), help=f"models from {', '.join(MODELS)} (default all)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="split and training seeds (default 0 1 2)")
    p.add_argument("--epochs", type=int, default=30, help="most epochs of a neural run; early stopping on val AUROC (default 30)")
    p.add_argument("--patience", type=int, default=5, help="validations without gain before stopping (default 5)")
    p.add_argument("--pretrain-steps", type=int, default=2000, help="MLM pretraining steps for transformer_mlm (default 2000)")
    p.add_argument("--batch", type=int, default=64, help="batch size of training and pretraining (default 64)")
    p.add_argument("--lr", type=float, default=3e-4, help="learning rate of the neural runs (default 3e-4)")
    p.add_argument("--pretrain-lr", type=float, default=3e-4, help="learning rate of MLM pretraining (default 3e-4)")
    p.add_argument("--devices", default="1", help="devices of each run, as dnabench train --devices (default 1)")
    p.add_argument("--out", type=Path, default=None,
                   help="folder for results.{md,csv,json} and the run folders, kept; a second call skips finished runs "
                        "(default: a new temporary folder; its runs are removed, the results kept)")
    p.add_argument("--smoke", action="store_true",
                   help=f"tiny CPU check: the first table cut to {SMOKE_ROWS} rows, the first seed, 1 epoch, 5 pretraining steps, tiny models")
    args = p.parse_args(argv)
    unknown = sorted(set(args.models) - set(MODELS))
    if unknown:
        p.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    args.models = [m for m in MODELS if m in args.models]
    for name in ("epochs", "patience", "pretrain_steps", "batch"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.lr <= 0 or args.pretrain_lr <= 0:
        p.error("--lr and --pretrain-lr must be > 0")
    missing = [str(r) for r in args.gue_root if not r.is_dir()]
    if missing:
        p.error(f"--gue-root: no such folder {', '.join(missing)}")
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        p.error(f"--out {args.out}: exists and is not a folder")
    found = find_tables(args.gue_root)
    if not found:
        p.error(f"no GUE table (a folder with {', '.join(GUE_FILES)}) under {', '.join(map(str, args.gue_root))}")
    if args.tables:
        names = {t.name: t for t in found}
        absent = [t for t in args.tables if t not in names]
        if absent:
            p.error(f"--tables: {', '.join(absent)} not found; have {', '.join(names)}")
        found = [names[t] for t in args.tables]
    args.found = found
    args.seeds = list(dict.fromkeys(args.seeds))
    args.options = {}
    if args.smoke:
        args.found, args.seeds = found[:1], args.seeds[:1]
        args.epochs, args.pretrain_steps, args.batch = 1, 5, 32
        args.options = SMOKE_OPTIONS
    return args


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    keep = args.out is not None
    # DDP workers re-run this script: they inherit the folder through the environment.
    out = args.out or Path(os.environ.setdefault("DNABENCH_GUE_SMALL_OUT", tempfile.mkdtemp(prefix="gue-small-")))
    out = out.resolve()
    runs_root, copies = out / "runs", out / "tables"
    first = first_process()
    # every table copy before any run: DDP workers start at the first fit and read them
    prepared: list[tuple[str, int, Path, dict[str, int]]] = []
    described = []
    for table in args.found:
        rows, dropped = read_gue(table)
        if args.smoke and len(rows) > SMOKE_ROWS:
            rows = rows.iloc[np.sort(np.random.default_rng(0).choice(len(rows), SMOKE_ROWS, replace=False))].reset_index(drop=True)
        described.append(f"{table.name}: {len(rows):,} rows from {', '.join(f.name for f in table.files)}"
                         + (f" ({dropped} repeated sequences dropped)" if dropped else ""))
        for seed in args.seeds:
            path = copies / f"{table.name}.seed{seed}.parquet"
            counts = write_split_copy(rows, seed, path) if first else {}
            if first:
                check_same_split(path, seed)
            prepared.append((table.name, seed, path, counts))

    records: list[dict[str, Any]] = []
    for name, seed, path, counts in prepared:
        pretrained: Optional[Path] = None
        for model in args.models:
            if model in ("kmer_lr",) and not first:
                continue  # one fit, on the first process only
            folder = runs_root / name / f"seed{seed}" / model
            t0 = time.perf_counter()
            if model == "transformer_mlm":
                pretrained = run_pretrain(path, runs_root / name / f"seed{seed}" / PRETRAIN, seed, args)
                if first:
                    check_pretrain_rows(pretrained, counts)
            run = run_train(model, path, folder, seed, args, init=pretrained if model == "transformer_mlm" else None)
            if first:
                records.append(record(name, model, seed, run, time.perf_counter() - t0, runs_root))
                print(f"{name} seed {seed} {model}: " + ", ".join(f"{m} {records[-1][m]:.3f}" for m in METRICS), flush=True)
    if not first:
        return 0

    frame = pd.DataFrame.from_records(records)
    table_md, cells = summary_table(frame, [t.name for t in args.found], args.models)
    n = len(args.seeds)
    lines = [
        f"# GUE small tables: test AUROC / AUPRC / MCC, mean ± SD (sample SD) over n = {n} seed{'s' if n != 1 else ''}",
        "",
        f"device: {device_name()}; date: {dt.date.today().isoformat()}; seeds {' '.join(map(str, args.seeds))}; "
        f"split 80/10/10 by seed; at most {args.epochs} epoch{'s' if args.epochs != 1 else ''} (patience {args.patience}), batch {args.batch}, lr {args.lr}; "
        f"transformer (MLM): {args.pretrain_steps} MLM steps on the training rows' sequences first"
        + ("; --smoke (tiny models, not scores)" if args.smoke else ""),
        "",
        *[f"- {d}" for d in described],
        "",
        table_md,
    ]
    text = "\n".join(lines)
    out.mkdir(parents=True, exist_ok=True)
    _write_text(out / "results.md", text)
    tmp = out / ".results.csv.tmp"
    frame.to_csv(tmp, index=False)
    tmp.replace(out / "results.csv")
    summary = {
        "device": device_name(), "date": dt.date.today().isoformat(), "seeds": args.seeds, "epochs": args.epochs,
        "pretrain_steps": args.pretrain_steps, "smoke": args.smoke, "tables": described,
        "cells": cells.replace({np.nan: None}).to_dict(orient="records"), "runs": frame.replace({np.nan: None}).to_dict(orient="records"),
    }
    _write_text(out / "results.json", json.dumps(summary, indent=1))
    print()
    print(text)
    if not keep:
        shutil.rmtree(runs_root, ignore_errors=True)
        shutil.rmtree(copies, ignore_errors=True)
    print(f"results: {out / 'results.md'}, results.csv, results.json" + ("" if keep else " (run folders removed; pass --out to keep them)"))
    return 0


def check_pretrain_rows(run: Path, counts: dict[str, int]) -> None:
    """MLM pretraining read exactly the training rows of the seed's split (none of val or test)."""
    inputs = json.loads((run / "run.json").read_text()).get("inputs", [])
    used = [i.get("rows_used") for i in inputs]
    if used != [counts["train"]]:
        raise RuntimeError(f"{run}: pretraining read {used} rows, expected the {counts['train']} training rows only")


if __name__ == "__main__":
    sys.exit(main())
