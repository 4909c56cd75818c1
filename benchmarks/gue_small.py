"""Small real-data table on GUE: every model on every GUE table, three seeds, test AUROC / AUPRC / MCC.

Tables: each GUE folder found under --gue-root (folders named GUE_* as in shared/data, or GUE's
own layout prom/NAME and tf/N), its train.csv + dev.csv + test.csv stacked (whichever it holds),
sequences seen twice kept once (so that no sequence sits in two splits). For every seed the rows
are split 80/10/10 by `dnabench.data.splits.random_split`, the split dnabench train draws for a
table without a split column; the script writes that split as a `split` column into a copy of
the table (OUT/tables/), so supervised runs and MLM pretraining read one explicit split.

Models: kmer_lr (k-mer spectrum + logistic regression), cnn_fc, cnn_lstm, transformer from
scratch, and transformer_mlm: the transformer after MLM pretraining on the sequences of the
training rows only (`PretrainConfig(table_splits=["train"])`, the labels unused), then trained
with `TrainConfig(init=PRETRAIN_RUN)`. Every model goes through `dnabench.training.run.train`.
Neural runs stop early on validation AUROC, not before --min-epochs; test scores are of the best
checkpoint.

Recipes (--recipes FILE.yaml): more columns, each a named model recipe to compare with the
built-in ones, e.g.

  transformer_mean_rc:                  # the column's name
    model: transformer                  # kmer_lr, cnn_fc, cnn_lstm or transformer
    model_options: {pooling: mean}      # as model_options of a dnabench train --config file
    train: {reverse_complement_augment: true, lr: 0.0005}   # TrainConfig fields over the script's defaults
    pretrain: true                      # MLM pretraining of its own first; or the name of a column
                                        # whose pretraining it starts from (transformer_mlm)

More unlabeled sequences for pretraining (--pretrain-extra FASTA_OR_TABLE ...): every MLM
pretraining then reads the training rows of its table and seed plus these sequences, less each
one that shares a 24-mer, on either strand, with a validation or test row of that table and seed
(`dnabench.data.leakage.sharing_kmers`: a 300 bp promoter holds its 70 bp core, a TF peak may sit
in a promoter), in windows of the table's own length. The pools are written to OUT/tables/.

Parallel runs (--jobs N): N runs at once in N worker processes (a small run leaves most of a
GPU idle), each taking one run after another; with several GPUs the workers are spread over
them. Each run's output goes to OUT/logs/. A failed run is reported with its log's end; the
table keeps the runs that finished.

Output: a markdown table (rows = tables, columns = models; each cell AUROC / AUPRC / MCC as mean
+- sample SD over seeds) with n, the device and the date above it, printed and written to
OUT/results.md, and every run's numbers in OUT/results.csv and OUT/results.json (train_s: the
run's own training, from its run.json, without its pretraining; wall_s: the run in this call).
With --out the run folders stay in OUT/runs and a second call with the same --out skips finished
runs; without it they live in a temporary folder that is removed at the end. A call stopped by Ctrl-C
or SIGTERM (`timeout`, a batch system's time limit) still writes the table of the runs that
finished, marked as stopped, and exits with 130 or 143.

One table from several calls (--merge OUT1/results.csv OUT2/results.csv ... --out MERGED): the
rows of those files (a run in two files: the later file's) as one table, nothing run; for tables
run in separate calls or on separate machines.

Usage:
  python benchmarks/gue_small.py --out gue-runs                        # the four promoter tables, 3 seeds
  python benchmarks/gue_small.py --gue-root ../shared/data/PromVary ../shared/data/Track7878 --out gue-runs
  python benchmarks/gue_small.py --tables prom_300_tata --models kmer_lr transformer --seeds 0 1
  python benchmarks/gue_small.py --recipes benchmarks/gue_recipes.yaml --jobs 6 --out gue-runs
  python benchmarks/gue_small.py --smoke                               # tiny CPU run that checks the script
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
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


#: TrainConfig fields a recipe may not set: the script sets them for every run
FIXED_TRAIN_FIELDS = frozenset({"data", "out", "model", "model_options", "init", "seed", "devices", "progress"})
RECIPE_KEYS = frozenset({"model", "model_options", "train", "pretrain"})


@dataclass
class GueTable:
    name: str
    folder: Path
    files: list[Path]


@dataclass(frozen=True)
class Column:
    """One column of the table: a model, its options, training overrides and its pretraining (folder name or None)."""

    name: str
    model: str
    model_options: dict[str, Any] = field(default_factory=dict, hash=False)
    train: dict[str, Any] = field(default_factory=dict, hash=False)
    pretrain: Optional[str] = None
    pretrain_options: dict[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Job:
    table: str
    seed: int
    path: Path
    column: Column


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


def run_pretrain(table_copy: Path, out: Path, seed: int, args: argparse.Namespace, model_options: dict[str, Any]) -> Path:
    """MLM pretraining on the training rows of `table_copy`, once: parallel runs that share it wait for it
    (--jobs processes only: a DDP run's own ranks re-run this and must not wait for rank 0)."""
    import contextlib

    from dnabench.io.files import file_lock
    from dnabench.training.pretrain import PretrainConfig, pretrain
    from dnabench.training.run import quiet_lightning

    out.parent.mkdir(parents=True, exist_ok=True)
    shared = args.worker
    with file_lock(out.with_name(f".{out.name}.lock")) if shared else contextlib.nullcontext():
        if is_done(out, PRETRAIN):
            return out
        if first_process():
            fresh_folder(out)
        inputs: dict[str, Any] = {"data": [str(table_copy)], "table_splits": ["train"]}
        if args.pretrain_extra:
            length = int(pd.read_parquet(table_copy, columns=["sequence"])["sequence"].str.len().max())
            inputs = {"data": [str(pool_path(table_copy))], "length": length, "min_length": max(1, length // 2)}
        config = PretrainConfig(
            **inputs, out=str(out), model_options=dict(model_options),
            max_steps=args.pretrain_steps, max_epochs=10_000, batch_size=args.batch, lr=args.pretrain_lr, seed=seed,
            val_fraction=0.05, devices=args.devices, progress=False,
        )
        with quiet_lightning():
            pretrain(config)
    return out


def pretrain_folder(column: Column, args: argparse.Namespace) -> str:
    """The folder of a column's pretraining: with --pretrain-extra, named by those files too, so that
    a call with other extra sequences does not take an earlier pretraining for its own."""
    if not args.pretrain_extra:
        return str(column.pretrain)
    import hashlib

    digest = hashlib.sha256()
    for path in args.pretrain_extra:
        digest.update(f"{path.resolve()}:{path.stat().st_size}\n".encode())
    return f"{column.pretrain}+pool-{digest.hexdigest()[:8]}"


def pool_path(table_copy: Path) -> Path:
    return table_copy.with_name(table_copy.name.replace(".parquet", ".pool.parquet"))


@dataclass
class ExtraSequences:
    """One --pretrain-extra file: its records back to back (for the k-mer screen) and as text (for the pools)."""

    codes: np.ndarray
    lengths: np.ndarray
    records: pd.Series

    @classmethod
    def read(cls, path: Path) -> "ExtraSequences":
        from dnabench.alphabet import CODE_TO_ASCII
        from dnabench.data.chunks import read_sequences

        codes, lengths, _ = read_sequences(path)
        text = CODE_TO_ASCII[codes].tobytes().decode()
        starts = np.cumsum(lengths) - lengths
        return cls(codes, lengths, pd.Series([text[a : a + n] for a, n in zip(starts.tolist(), lengths.tolist())], dtype=object))


def write_pretrain_pool(table_copy: Path, extra: list[ExtraSequences], k: int = 24) -> str:
    """The table copy's training rows + the `extra` sequences that share no k-mer with its val or
    test rows, as a one-column table beside the copy; a line saying what it holds."""
    from dnabench.data.chunks import read_sequences
    from dnabench.data.leakage import sharing_kmers
    from dnabench.data.tables import write_table

    held_out_codes, held_out_lengths, _ = read_sequences(table_copy, ("val", "test"))
    train = pd.read_parquet(table_copy, columns=["sequence", "split"]).query("split == 'train'")["sequence"]
    kept, total, dropped = [train], 0, 0
    for sequences in extra:
        shared = sharing_kmers(sequences.codes, sequences.lengths, held_out_codes, held_out_lengths, k=k)
        kept.append(sequences.records[~shared])
        total, dropped = total + shared.size, dropped + int(shared.sum())
    write_table(pd.concat(kept, ignore_index=True).to_frame("sequence"), pool_path(table_copy))
    return (f"{len(train):,} training rows + {total - dropped:,} of {total:,} extra sequences "
            f"({dropped:,} share a {k}-mer with a val or test row)")


def run_train(column: Column, table_copy: Path, out: Path, seed: int, args: argparse.Namespace, init: Optional[Path] = None) -> Path:
    from dnabench.training.config import TrainConfig
    from dnabench.training.run import train

    if is_done(out, "train"):
        return out
    if first_process():
        fresh_folder(out)
    options = {
        "max_epochs": args.epochs, "min_epochs": min(args.min_epochs, args.epochs), "batch_size": args.batch, "lr": args.lr,
        "patience": args.patience,
        **column.train,
        "data": str(table_copy), "model": column.model, "model_options": dict(column.model_options), "out": str(out),
        "init": str(init) if init is not None else None, "seed": seed, "devices": args.devices, "progress": False,
    }
    train(TrainConfig(**options))
    return out


def run_job(job: Job, runs_root: Path, args: argparse.Namespace) -> Path:
    """Train one column on one table and seed (its pretraining first, where it has one); the run folder."""
    seed_root = runs_root / job.table / f"seed{job.seed}"
    pretrained = None
    if job.column.pretrain is not None:
        pretrained = run_pretrain(job.path, seed_root / pretrain_folder(job.column, args), job.seed, args, job.column.pretrain_options)
    return run_train(job.column, job.path, seed_root / job.column.name, job.seed, args, init=pretrained)


def record(table: str, model: str, seed: int, run: Path, seconds: float, runs_root: Path) -> dict[str, Any]:
    """One run's row: its test metrics (the best checkpoint's), val AUROC, epochs, its training time
    and the wall time of this call's run (NaN for a run finished by an earlier call)."""
    metrics = json.loads((run / "metrics.json").read_text())
    test, val = metrics.get("test", {}), metrics.get("val", {})
    info = json.loads((run / "run.json").read_text())
    row: dict[str, Any] = {"table": table, "model": model, "seed": seed}
    row.update({m: _number(test.get(m)) for m in METRICS})
    row.update({"val_auroc": _number(val.get("auroc")), "epochs": metrics.get("epochs"), "device": info.get("device"),
                "train_s": _train_seconds(info), "wall_s": round(seconds, 1) if seconds else float("nan"),
                "run": str(run.relative_to(runs_root.parent))})
    return row


def _train_seconds(info: dict[str, Any]) -> float:
    """The run's own training time (run.json's started to finished), also for a run of an earlier call."""
    try:
        start, end = (dt.datetime.fromisoformat(info[k]) for k in ("started", "finished"))
    except (KeyError, TypeError, ValueError):
        return float("nan")
    return round((end - start).total_seconds(), 1)


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else float("nan")


# ----------------------------------------------------------------------------- the table


def summary_table(runs: pd.DataFrame, tables: list[str], models: list[str], n_all: int) -> tuple[str, pd.DataFrame]:
    """Markdown (rows = tables, columns = models, cells AUROC / AUPRC / MCC mean +- SD) and its cells;
    a cell over fewer than `n_all` seeds says its n."""
    from dnabench.evaluation.tables import summarise

    long = runs.melt(id_vars=["table", "model", "seed"], value_vars=list(METRICS), var_name="metric", value_name="value")
    cells = summarise(long, ["table", "model", "metric"])
    seeds = runs.groupby(["table", "model"])["seed"].nunique()
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
            out.append("–" if n == 0 else " / ".join(parts) + (f" (n={n})" if n != n_all else ""))
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
    p.add_argument("--models", nargs="+", default=None,
                   help=f"columns: models from {', '.join(MODELS)} and recipe names (default: all of them)")
    p.add_argument("--recipes", type=Path, default=None, help="YAML file of named recipes, one more column each (see above)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="split and training seeds (default 0 1 2)")
    p.add_argument("--epochs", type=int, default=30, help="most epochs of a neural run; early stopping on val AUROC (default 30)")
    p.add_argument("--patience", type=int, default=5, help="validations without gain before stopping (default 5)")
    p.add_argument("--min-epochs", type=int, default=10,
                   help="epochs before early stopping may end a neural run: the one-hot Transformer's loss sits at "
                        "ln 2 for 5 to 7 epochs of 800 rows before it falls (default 10)")
    p.add_argument("--pretrain-steps", type=int, default=2000, help="MLM pretraining steps for transformer_mlm (default 2000)")
    p.add_argument("--pretrain-extra", nargs="+", type=Path, default=[],
                   help="FASTA files or tables of more unlabeled sequences for every MLM pretraining, less those that "
                        "share a 24-mer with a scored row (see above)")
    p.add_argument("--batch", type=int, default=64, help="batch size of training and pretraining (default 64)")
    p.add_argument("--lr", type=float, default=3e-4, help="learning rate of the neural runs (default 3e-4)")
    p.add_argument("--pretrain-lr", type=float, default=3e-4, help="learning rate of MLM pretraining (default 3e-4)")
    p.add_argument("--devices", default="1", help="devices of each run, as dnabench train --devices (default 1)")
    p.add_argument("--jobs", type=int, default=1, help="runs at once, in as many worker processes spread over the GPUs (default 1)")
    p.add_argument("--out", type=Path, default=None,
                   help="folder for results.{md,csv,json} and the run folders, kept; a second call skips finished runs "
                        "(default: a new temporary folder; its runs are removed, the results kept)")
    p.add_argument("--smoke", action="store_true",
                   help=f"tiny CPU check: the first table cut to {SMOKE_ROWS} rows, the first seed, 1 epoch, 5 pretraining steps, tiny models")
    p.add_argument("--merge", nargs="+", type=Path, default=None, metavar="RESULTS_CSV",
                   help="render one table from the results.csv files of earlier calls into --out; nothing runs")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # a --jobs worker: job names on stdin
    args = p.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.min_epochs < 0:
        p.error(f"--min-epochs must be >= 0, got {args.min_epochs}")
    for name in ("epochs", "patience", "pretrain_steps", "batch", "jobs"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.merge is not None:
        absent = [str(f) for f in args.merge if not f.is_file()]
        if absent:
            p.error(f"--merge: no such file {', '.join(absent)}")
        if args.out is None:
            p.error("--merge writes its table to --out; give --out FOLDER")
        return args
    if args.lr <= 0 or args.pretrain_lr <= 0:
        p.error("--lr and --pretrain-lr must be > 0")
    if args.jobs > 1 and args.devices not in ("1", "auto"):
        p.error(f"--jobs {args.jobs} runs one process a run; it takes --devices 1, not {args.devices}")
    absent = [str(f) for f in args.pretrain_extra if not f.is_file()]
    if absent:
        p.error(f"--pretrain-extra: no such file {', '.join(absent)}")
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
    options: dict[str, dict[str, Any]] = {}
    if args.smoke:
        args.found, args.seeds = found[:1], args.seeds[:1]
        args.epochs, args.pretrain_steps, args.batch = 1, 5, 32
        options = SMOKE_OPTIONS
    try:
        columns = builtin_columns(options)
        if args.recipes is not None:
            columns.update(read_recipes(args.recipes, columns, options))
    except ValueError as err:
        p.error(str(err))
    wanted = args.models if args.models is not None else list(columns)
    unknown = [m for m in wanted if m not in columns]
    if unknown:
        p.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(columns)}")
    args.columns = [columns[m] for m in columns if m in wanted]
    args.models = [c.name for c in args.columns]
    return args


def builtin_columns(options: dict[str, dict[str, Any]]) -> dict[str, Column]:
    """The five built-in columns; `options` are model options by model (tiny ones under --smoke)."""
    columns = {m: Column(m, m, dict(options.get(m, {}))) for m in MODELS if m != "transformer_mlm"}
    mlm = dict(options.get("transformer", {}))
    columns["transformer_mlm"] = Column("transformer_mlm", "transformer", mlm, pretrain=PRETRAIN, pretrain_options=mlm)
    return columns


def read_recipes(path: Path, builtin: dict[str, Column], options: dict[str, dict[str, Any]]) -> dict[str, Column]:
    """Named recipes of a YAML file as columns; every mistake names the file and the recipe."""
    from dnabench.models import make_config
    from dnabench.training.config import TrainConfig, read_yaml_mapping

    try:
        loaded = read_yaml_mapping(path, "recipe name: recipe")
    except (OSError, ValueError) as err:
        raise ValueError(f"--recipes {err}") from None
    columns: dict[str, Column] = {}
    for name, recipe in loaded.items():
        where = f"--recipes {path}: recipe {name!r}"
        if not isinstance(name, str) or not name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"{where}: a name is letters, digits, _ and - (it names a run folder)")
        if name in builtin or name == PRETRAIN or name.startswith(f"{PRETRAIN}-"):
            raise ValueError(f"{where}: the name is taken by a built-in column or a pretraining folder")
        if not isinstance(recipe, dict):
            raise ValueError(f"{where}: expected a mapping with {', '.join(sorted(RECIPE_KEYS))}")
        unknown = sorted(set(recipe) - RECIPE_KEYS)
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(RECIPE_KEYS))}")
        model = recipe.get("model")
        if model not in ("kmer_lr", "cnn_fc", "cnn_lstm", "transformer"):
            raise ValueError(f"{where}: model must be one of kmer_lr, cnn_fc, cnn_lstm, transformer; got {model!r}")
        for key in ("model_options", "train"):
            if not isinstance(recipe.get(key) or {}, dict):
                raise ValueError(f"{where}: {key} must be a mapping of option: value; got {recipe[key]!r}")
        model_options = {**options.get(model, {}), **(recipe.get("model_options") or {})}
        train = dict(recipe.get("train") or {})
        fixed = sorted(set(train) & FIXED_TRAIN_FIELDS)
        if fixed:
            raise ValueError(f"{where}: train may not set {', '.join(fixed)}; the script sets them for every run")
        try:
            TrainConfig.from_dict({"data": "x", "model": model, "model_options": model_options, **train}, where="train")
            if model != "kmer_lr":
                make_config(model, **model_options)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{where}: {err}") from None
        pretrain, pretrain_options = recipe.get("pretrain", False), {}
        if pretrain is not None and not isinstance(pretrain, (bool, str)):
            raise ValueError(f"{where}: pretrain must be true, false or the name of an earlier column that pretrains; got {pretrain!r}")
        if pretrain is True:
            pretrain, pretrain_options = f"{PRETRAIN}-{name}", model_options
        elif pretrain is False or pretrain is None:
            pretrain = None
        else:
            shared = {**builtin, **columns}.get(pretrain)
            if shared is None or shared.pretrain is None:
                raise ValueError(f"{where}: pretrain must be true, false or the name of an earlier column that pretrains; got {pretrain!r}")
            if model == "transformer":
                check_fits_pretraining(model_options, shared, where)
            pretrain, pretrain_options = shared.pretrain, shared.pretrain_options
        if pretrain is not None and model != "transformer":
            raise ValueError(f"{where}: only a transformer starts from MLM pretraining, not {model}")
        columns[name] = Column(name, model, model_options, train, pretrain, dict(pretrain_options))
    return columns


def check_fits_pretraining(model_options: dict[str, Any], shared: Column, where: str) -> None:
    """A recipe that starts from another column's pretraining sets no option its encoder disagrees with
    (found now, not after the pretraining of every table)."""
    from dnabench.models import make_config
    from dnabench.training.transfer import merged_config

    try:
        merged_config(make_config("transformer", **model_options), make_config("transformer", **shared.pretrain_options),
                      model_options, f"(the pretraining of {shared.name})")
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None


def prepare_tables(args: argparse.Namespace, copies: Path, write: bool) -> tuple[list[tuple[str, int, Path, dict[str, int]]], list[str]]:
    """Each table's seeded split copy (written by the first process only) and a line describing each table."""
    prepared: list[tuple[str, int, Path, dict[str, int]]] = []
    described = []
    extra: list[ExtraSequences] = []
    if write and args.pretrain_extra and any(c.pretrain is not None for c in args.columns):
        for path in args.pretrain_extra:
            try:
                extra.append(ExtraSequences.read(path))
            except (OSError, ValueError) as err:
                raise SystemExit(f"--pretrain-extra {path}: {err}") from None
    for table in args.found:
        rows, dropped = read_gue(table)
        if args.smoke and len(rows) > SMOKE_ROWS:
            rows = rows.iloc[np.sort(np.random.default_rng(0).choice(len(rows), SMOKE_ROWS, replace=False))].reset_index(drop=True)
        described.append(f"{table.name}: {len(rows):,} rows from {', '.join(f.name for f in table.files)}"
                         + (f" ({dropped} repeated sequences dropped)" if dropped else ""))
        for seed in args.seeds:
            path = copies / f"{table.name}.seed{seed}.parquet"
            counts = write_split_copy(rows, seed, path) if write else {}
            if write:
                check_same_split(path, seed)
                if extra:
                    described.append(f"pretraining pool of {table.name} seed {seed}: {write_pretrain_pool(path, extra)}")
            prepared.append((table.name, seed, path, counts))
    return prepared, described


def run_jobs_in_processes(jobs: list[Job], out: Path, args: argparse.Namespace, done: dict[Job, float], failed: list[str]) -> None:
    """Run the jobs in `args.jobs` worker processes (`this script ... --worker`), spread over the
    GPUs, each taking one job after another, filling `done` ({job: wall s}) and `failed` as runs end
    (so that a stopped call still knows them). A worker pays the imports and the GPU's start once,
    not once a run: on small tables they took longer than the training. Finished runs are not
    started again; the workers read a copy of --recipes made now, so an edit of the file cannot
    reach them. A worker that ends fails the run it held, and another takes its place."""
    import select
    import selectors

    import torch

    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    gpus = [g.strip() for g in visible.split(",") if g.strip()] if visible else [str(i) for i in range(torch.cuda.device_count())]
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads = str(max(1, cpus // args.jobs))
    base_env = {k: v for k, v in os.environ.items() if k not in DISTRIBUTED_ENV}  # no worker joins a torchrun group
    argv = list(args.argv)
    if args.recipes is not None:
        frozen = out / "recipes.yaml"
        _write_text(frozen, args.recipes.read_text())
        argv += ["--recipes", str(frozen)]
    waiting = []
    for job in jobs:
        if is_done(run_folder(out / "runs", job), "train"):
            done[job] = 0.0
        else:
            waiting.append(job)
    by_id = {job_id(job): job for job in waiting}
    selector = selectors.DefaultSelector()
    workers: dict[subprocess.Popen, Worker] = {}
    started = 0

    def start_worker(slot: int) -> None:
        nonlocal started
        env = dict(base_env, OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads, PYTHONUNBUFFERED="1")
        if len(gpus) > 1:
            env["CUDA_VISIBLE_DEVICES"] = gpus[slot % len(gpus)]
        log = logs / f"worker-{started}.log"  # what a worker prints outside its runs
        with open(log, "w") as handle:
            proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), *argv, "--out", str(out), "--worker"],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=handle, env=env)
        started += 1
        workers[proc] = Worker(slot, log)
        selector.register(proc.stdout, selectors.EVENT_READ, proc)
        give(proc)

    def give(proc: subprocess.Popen) -> None:
        """The next waiting job to an idle worker, or the end of its input."""
        worker = workers[proc]
        if waiting:
            worker.job, worker.began = waiting.pop(0), time.perf_counter()
            try:
                proc.stdin.write(f"{job_id(worker.job)}\n".encode())
                proc.stdin.flush()
            except OSError:  # it has ended: the loop below sees it
                pass
        elif not proc.stdin.closed:
            try:
                proc.stdin.close()
            except OSError:
                pass

    def fail(job: Job, why: str, worker_log: Optional[Path] = None) -> None:
        log = job_log(out, job)
        shown = log if log.is_file() else worker_log  # a worker that ended before the run began wrote only its own log
        text = shown.read_text(errors="replace") if shown is not None and shown.is_file() else ""
        tail = "".join(text.splitlines(keepends=True)[-15:])
        failed.append(f"{job.table} seed {job.seed} {job.column.name} ({why}, log {shown}):\n{tail}")
        print(f"FAILED {failed[-1]}", flush=True)

    def answered(proc: subprocess.Popen, line: str) -> None:
        worker = workers[proc]
        status, _, name = line.strip().partition(" ")
        job = by_id.get(name)
        if job is None or job != worker.job:
            return  # not an answer (the protocol has only "ok JOB" and "failed JOB")
        if status == "ok" and is_done(run_folder(out / "runs", job), "train"):
            done[job] = time.perf_counter() - worker.began
            print(f"{job.table} seed {job.seed} {job.column.name}: finished in {done[job]:.0f} s ({len(done)} of {len(jobs)})",
                  flush=True)
        else:
            fail(job, "failed")
        worker.job = None
        give(proc)

    def read_answers(proc: subprocess.Popen) -> bool:
        """What the worker has written (read from the raw pipe: a buffered reader could hold a
        second line back from select); False at the end of its output."""
        data = os.read(proc.stdout.fileno(), 65536)
        if not data:
            return False
        worker = workers[proc]
        *lines, worker.pending = (worker.pending + data).split(b"\n")
        for line in lines:
            answered(proc, line.decode(errors="replace"))
        return True

    def ended(proc: subprocess.Popen) -> None:
        worker = workers.pop(proc)
        selector.unregister(proc.stdout)
        proc.stdout.close()
        code = proc.wait()
        if worker.job is not None:
            fail(worker.job, f"its worker process ended with exit {code}", worker.log)
        if waiting:
            start_worker(worker.slot)

    try:
        for slot in range(min(args.jobs, len(waiting))):
            start_worker(slot)
        while workers:
            for key, _ in selector.select(timeout=1.0):
                proc = key.data
                if not read_answers(proc):
                    ended(proc)
            for proc in [p for p in workers if p.poll() is not None]:  # ended, its output held open by a child of its own
                while select.select([proc.stdout], [], [], 0)[0] and read_answers(proc):  # its last answers first
                    pass
                ended(proc)
    finally:  # interrupted or killed: no run goes on without the call that started it
        for proc in workers:
            proc.terminate()
        deadline = time.monotonic() + 10  # one grace for all: a batch system's kill follows its TERM soon
        for proc in workers:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        selector.close()


@dataclass
class Worker:
    """A --jobs worker process: its GPU slot, its own log, the job it runs (None: idle) and since when."""

    slot: int
    log: Path
    job: Optional[Job] = None
    began: float = 0.0
    pending: bytes = b""


def job_id(job: Job) -> str:
    return f"{job.table}:{job.seed}:{job.column.name}"


def job_log(out: Path, job: Job) -> Path:
    return out / "logs" / f"{job.table}.seed{job.seed}.{job.column.name}.log"


def serve_jobs(out: Path, args: argparse.Namespace) -> int:
    """A --jobs worker: runs the jobs named on its stdin one after another, each with its output
    in its own log, and answers "ok JOB" or "failed JOB" on its stdout. After a failed run whose
    GPU no longer answers (a device-side assert, an illegal address) it ends, so that a fresh
    worker takes the next job."""
    import gc
    import traceback

    import torch

    columns = {c.name: c for c in args.columns}
    status = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything printed between runs goes to the worker's log, not into the answers
    deterministic = torch.are_deterministic_algorithms_enabled()
    for line in sys.stdin:
        name = line.strip()
        if not name:
            continue
        table, seed, column = name.rsplit(":", 2)
        job = Job(table, int(seed), out / "tables" / f"{table}.seed{seed}.parquet", columns[column])
        sys.stdout.flush()
        sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        ok, gpu_lost = False, False
        with open(job_log(out, job), "w") as log:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            try:
                if not job.path.is_file():
                    raise FileNotFoundError(f"no table copy {job.path}")
                run_job(job, out / "runs", args)
                ok = True
            except Exception:  # the run fails, the worker goes on with the next
                traceback.print_exc()
                gpu_lost = not _gpu_answers()
            finally:
                torch.use_deterministic_algorithms(deterministic)  # a recipe's `deterministic: true` stays with its run
                gc.collect()  # the run's trainer and model hold each other: free them before the next run
                if torch.cuda.is_available() and torch.cuda.is_initialized() and not gpu_lost:
                    torch.cuda.empty_cache()
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
                for fd in saved:
                    os.close(fd)
        status.write(f"{'ok' if ok else 'failed'} {name}\n")
        if gpu_lost:
            status.flush()
            print(f"{name}: the GPU no longer answers after this run's error; this worker ends", file=sys.stderr, flush=True)
            os._exit(70)
    return 0


def _gpu_answers() -> bool:
    """Whether this process's GPU still takes work (a CUDA error can leave its context unusable)."""
    import torch

    if not (torch.cuda.is_available() and torch.cuda.is_initialized()):
        return True
    try:
        torch.cuda.synchronize()
        return True
    except Exception:  # noqa: BLE001 - any CUDA error here means the context is gone
        return False


#: environment of a torchrun / Lightning DDP process, kept from --jobs children
DISTRIBUTED_ENV = frozenset({"RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "GROUP_RANK", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT"})


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def run_folder(runs_root: Path, job: Job) -> Path:
    return runs_root / job.table / f"seed{job.seed}" / job.column.name


def write_results(out: Path, text: str, runs: pd.DataFrame, cells: pd.DataFrame, about: dict[str, Any]) -> None:
    """OUT/results.md (`text`), results.csv (`runs`) and results.json (`about` + cells + runs), each
    written beside its place and renamed into it."""
    from dnabench.io.files import write_json

    out.mkdir(parents=True, exist_ok=True)
    _write_text(out / "results.md", text)
    tmp = out / ".results.csv.tmp"
    runs.to_csv(tmp, index=False)
    tmp.replace(out / "results.csv")
    write_json(out / "results.json", {**about, "cells": cells.replace({np.nan: None}).to_dict(orient="records"),
                                      "runs": runs.replace({np.nan: None}).to_dict(orient="records")})


def merge_results(paths: list[Path], out: Path) -> int:
    """One table from the results.csv files of earlier calls: tables and columns in the order they
    first appear, a run (table, model, seed) in two files taken from the later one."""
    frames = []
    for path in paths:
        frame = pd.read_csv(path)
        missing = {"table", "model", "seed", *METRICS} - set(frame.columns)
        if missing:
            raise SystemExit(f"--merge {path}: no column(s) {', '.join(sorted(missing))}; expected a gue_small results.csv")
        frames.append(frame)
    runs = pd.concat(frames, ignore_index=True).drop_duplicates(["table", "model", "seed"], keep="last").reset_index(drop=True)
    tables = list(dict.fromkeys(runs["table"]))
    appear = list(dict.fromkeys(runs["model"]))
    models = [m for m in MODELS if m in appear] + [m for m in appear if m not in MODELS]
    n = int(runs.groupby(["table", "model"])["seed"].nunique().max())
    table_md, cells = summary_table(runs, tables, models, n)
    devices = sorted({str(d) for d in runs.get("device", pd.Series(dtype=object)).dropna() if str(d) != "cpu"})
    lines = [
        f"# GUE small tables: test AUROC / AUPRC / MCC, mean ± SD (sample SD) over n = {n} seed{'s' if n != 1 else ''}",
        "",
        f"device: {', '.join(devices) or 'CPU'}; merged from {', '.join(str(p) for p in paths)}",
        "",
        table_md,
    ]
    text = "\n".join(lines)
    write_results(out, text, runs, cells, {"device": ", ".join(devices) or "CPU", "merged_from": [str(p) for p in paths]})
    print(text)
    print(f"results: {out / 'results.md'}, results.csv, results.json")
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    if args.merge is not None:
        return merge_results(args.merge, args.out)
    keep = args.out is not None
    # DDP workers re-run this script: they inherit the folder through the environment.
    out = args.out or Path(os.environ.setdefault("DNABENCH_GUE_SMALL_OUT", tempfile.mkdtemp(prefix="gue-small-")))
    out = out.resolve()
    runs_root, copies = out / "runs", out / "tables"
    first = first_process()
    columns = {c.name: c for c in args.columns}
    if args.worker:  # a worker of a --jobs call: the copies exist
        return serve_jobs(out, args)
    # every table copy before any run: DDP workers start at the first fit and read them
    prepared, described = prepare_tables(args, copies, write=first)
    jobs = [Job(name, seed, path, column) for name, seed, path, _ in prepared for column in args.columns
            if first or column.model != "kmer_lr"]  # a kmer_lr fit runs on the first process only
    counts = {(name, seed): c for name, seed, _, c in prepared}
    wall: dict[Job, float] = {}
    failed: list[str] = []
    stopped = None  # the exit status of a call stopped by Ctrl-C or SIGTERM: the finished runs still make a table
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm) if first else None
    try:
        if args.jobs > 1:
            run_jobs_in_processes(jobs, out, args, wall, failed)
        else:
            # runs finished by an earlier call: no wall time of this one, and in the table even if this call stops
            wall.update({job: 0.0 for job in jobs if is_done(run_folder(runs_root, job), "train")})
            for job in [j for j in jobs if j not in wall]:
                t0 = time.perf_counter()
                run_job(job, runs_root, args)
                wall[job] = time.perf_counter() - t0
    except KeyboardInterrupt:
        if not first:
            raise
        stopped = 130
    except SystemExit as stop:
        # Lightning answers Ctrl-C inside a fit with sys.exit(1): the KeyboardInterrupt is its context
        if first and isinstance(stop.__context__, KeyboardInterrupt):
            stopped = 130
        elif first and stop.code == 128 + signal.SIGTERM:
            stopped = int(stop.code)
        else:
            raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    if not first:
        return 0
    if stopped is not None:
        print(f"stopped: {len(wall)} of {len(jobs)} runs finished; the table holds them", file=sys.stderr, flush=True)

    records: list[dict[str, Any]] = []
    for job in jobs:
        if job not in wall:
            continue
        seed_root = runs_root / job.table / f"seed{job.seed}"
        what = f"{job.table} seed {job.seed} {job.column.name}"
        try:
            if job.column.pretrain is not None:
                check_pretrain_rows(seed_root / pretrain_folder(job.column, args), counts[(job.table, job.seed)],
                                    pool_path(job.path) if args.pretrain_extra else None)
            records.append(record(job.table, job.column.name, job.seed, run_folder(runs_root, job), wall[job], runs_root))
        except (OSError, ValueError, RuntimeError) as err:  # one bad run folder does not cost the table
            failed.append(f"{what}: {err}")
            continue
        print(f"{what}: " + ", ".join(f"{m} {records[-1][m]:.3f}" for m in METRICS), flush=True)
    if not records:
        print("no run finished" + (":\n" + "\n".join(failed) if failed else ""), file=sys.stderr)
        if not keep:
            shutil.rmtree(out, ignore_errors=True)
        return stopped or 1

    frame = pd.DataFrame.from_records(records)
    table_md, cells = summary_table(frame, [t.name for t in args.found], args.models, len(args.seeds))
    n = len(args.seeds)
    recipes = [c for c in args.columns if c.name not in MODELS]
    lines = [
        f"# GUE small tables: test AUROC / AUPRC / MCC, mean ± SD (sample SD) over n = {n} seed{'s' if n != 1 else ''}",
        "",
        f"device: {device_name()}; date: {dt.date.today().isoformat()}; seeds {' '.join(map(str, args.seeds))}; "
        f"split 80/10/10 by seed; at most {args.epochs} epoch{'s' if args.epochs != 1 else ''} (at least {min(args.min_epochs, args.epochs)}, "
        f"patience {args.patience}), batch {args.batch}, lr {args.lr}; "
        f"transformer (MLM): {args.pretrain_steps} MLM steps on the training rows' sequences first"
        + ("; --smoke (tiny models, not scores)" if args.smoke else ""),
        "",
        *[f"- {d}" for d in described],
        *[f"- recipe {c.name}: {describe_column(c)}" for c in recipes],
        "",
        *([f"**Stopped before the end: {len(records)} of {len(jobs)} runs are in this table; a second call with the same "
           "--out runs the rest.**", ""] if stopped is not None else []),
        table_md,
    ]
    text = "\n".join(lines)
    write_results(out, text, frame, cells, {
        "device": device_name(), "date": dt.date.today().isoformat(), "seeds": args.seeds, "epochs": args.epochs,
        "pretrain_steps": args.pretrain_steps, "smoke": args.smoke, "stopped": stopped is not None, "tables": described,
        "recipes": {c.name: describe_column(c) for c in recipes},
    })
    print()
    print(text)
    if not keep:
        shutil.rmtree(runs_root, ignore_errors=True)
        shutil.rmtree(copies, ignore_errors=True)
        if not failed:  # the failure messages name the logs
            shutil.rmtree(out / "logs", ignore_errors=True)
    print(f"results: {out / 'results.md'}, results.csv, results.json" + ("" if keep else " (run folders removed; pass --out to keep them)"))
    if failed:
        print(f"{len(failed)} run(s) failed; the table holds the others:\n" + "\n".join(failed), file=sys.stderr)
    return stopped if stopped is not None else int(bool(failed))


def describe_column(column: Column) -> str:
    """`model` + its options, training overrides and pretraining, as one line."""
    parts = [column.model]
    if column.model_options:
        parts.append("options " + ", ".join(f"{k}={v}" for k, v in column.model_options.items()))
    if column.train:
        parts.append("train " + ", ".join(f"{k}={v}" for k, v in column.train.items()))
    if column.pretrain is not None:
        parts.append(f"after MLM pretraining ({column.pretrain})")
    return "; ".join(parts)


def check_pretrain_rows(run: Path, counts: dict[str, int], pool: Optional[Path] = None) -> None:
    """MLM pretraining read exactly the training rows of the seed's split (none of val or test), or its pool."""
    inputs = json.loads((run / "run.json").read_text()).get("inputs", [])
    used = [i.get("rows_used") for i in inputs]
    expected = counts["train"] if pool is None else len(pd.read_parquet(pool, columns=["sequence"]))
    if used != [expected]:
        what = "training rows only" if pool is None else f"rows of its pool {pool.name}"
        raise RuntimeError(f"{run}: pretraining read {used} rows, expected the {expected} {what}")


if __name__ == "__main__":
    sys.exit(main())
