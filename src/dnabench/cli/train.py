"""`dnabench train`, `evaluate` and `predict`: runs from a store or a sequence table.

Arguments and paths are checked before Lightning and the data are loaded, so a typo fails in
the time it takes to start the command.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from dnabench.cli.common import console, fail, run as _run

__all__ = ["register_training"]


def register_training(app: typer.Typer) -> None:
    """Add `train`, `evaluate` and `predict` to the app."""
    app.command()(train)
    app.command()(evaluate)
    app.command()(predict)


def _default(name: str) -> str:
    """The TrainConfig default of `name`, shown in --help (a flag left out keeps the YAML's value)."""
    from dnabench.training.config import TrainConfig

    value = TrainConfig.__dataclass_fields__[name].default
    if isinstance(value, bool):
        return str(value).lower()
    return "none" if value is None else str(value)


def _model_help() -> dict[str, tuple[str, object]]:
    """Help of the model flags, with the choices and defaults of the Transformer's config."""
    from typing import get_args

    from dnabench.models.config import DEFAULT_K, EncoderConfig, FrontendConfig, PoolingKind, PositionKind, TokenizerKind, TransformerConfig

    fe, enc = FrontendConfig(), EncoderConfig()
    return {
        "tokenizer": (f"Transformer front end: {' | '.join(get_args(TokenizerKind))}.", fe.tokenizer),
        "positions": (f"Transformer positions: {' | '.join(get_args(PositionKind))}.", enc.positions),
        "k": ("k of the kmer / patch tokenizer.", ", ".join(f"{kind} {k}" for kind, k in DEFAULT_K.items())),
        "hidden_size": ("Transformer hidden size.", enc.hidden_size),
        "num_layers": ("Transformer layers.", enc.num_layers),
        "num_heads": ("Attention heads.", enc.num_heads),
        "dropout": ("Dropout of the Transformer encoder or the CNN's conv stack.", enc.dropout),
        "pooling": (f"Transformer sequence vector: {' | '.join(get_args(PoolingKind))} (the mean of the real tokens after CLS).",
                    TransformerConfig().pooling),
    }


_MODEL = _model_help()
_MODEL_PANEL = "Model options (any other field: model_options in --config)"
_OPT_PANEL = "Optimisation"
_RUN_PANEL = "Devices, checkpoints and logging"


def _exists(flag: str, value: Any, what: str = "file or folder") -> None:
    if value is not None and str(value) and not Path(value).exists():
        fail(f"{value}: no such {what} ({flag})")


def _check_data(flag: str, value: str | None) -> None:
    """A data path is a table file or a store folder with its card."""
    _exists(flag, value)
    if value and Path(value).is_dir() and not (Path(value) / "dataset.json").is_file() and not (Path(value) / "features.json").is_file():
        fail(f"{value}: a folder but not a dataset store (no dataset.json) ({flag}); give a store or a CSV/TSV/Parquet table")


def _check_run(run: Path, saved_model_ok: bool = False) -> None:
    """A run folder with its config and best model (or, for predict, a saved model folder)."""
    if not run.exists():
        fail(f"{run}: no such run folder")
    if saved_model_ok and (run / "config.json").is_file():
        return
    if not (run / "config.yaml").is_file():
        fail(f"{run}: not a run folder (no config.yaml); `dnabench train --out {run}` makes one")
    if not (run / "best" / "config.json").is_file():
        fail(f"{run}: the run has no best/ model (it did not finish); `dnabench train --resume {run}` completes it")


def train(
    data: Annotated[Optional[str], typer.Option(help="Dataset store folder, or a CSV/TSV/Parquet table with a 'sequence' column.", show_default="required, or data: in --config")] = None,
    model: Annotated[Optional[str], typer.Option(help="transformer | cnn_fc | cnn_lstm; or an estimator: random_forest | xgboost (on a features folder from `dnabench features`) | kmer_lr (k-mer spectrum + logistic regression, on a store or table); estimator options go in model_options of --config.", show_default=_default("model"))] = None,
    out: Annotated[Optional[Path], typer.Option(help="Run folder to create (must not exist or be empty).", show_default="required, or out: in --config")] = None,
    config: Annotated[Optional[Path], typer.Option(help="YAML file of training options: any TrainConfig field (flags override it).", show_default="none")] = None,
    init: Annotated[Optional[str], typer.Option(help="Start from this run's best model, a pretraining run or a saved model folder.", show_default="random weights")] = None,
    resume: Annotated[Optional[Path], typer.Option(help="Continue this run folder from its newest checkpoint.", show_default="none")] = None,
    allow_changed_data: Annotated[bool, typer.Option("--allow-changed-data", help="With --resume: continue although the data changed since the run started.", show_default="refuse")] = False,
    label: Annotated[Optional[str], typer.Option(help="Table columns that are labels: COLUMN[,COLUMN].", show_default="the column named label / labels / y / target, else label_*")] = None,
    sequence_column: Annotated[Optional[str], typer.Option(help="Table column of the sequences.", show_default="sequence")] = None,
    label_kind: Annotated[Optional[str], typer.Option(help="binary | multilabel | regression instead of the kind the label values imply.", show_default="from the values")] = None,
    tokenizer: Annotated[Optional[str], typer.Option(help=_MODEL["tokenizer"][0], show_default=str(_MODEL["tokenizer"][1]), rich_help_panel=_MODEL_PANEL)] = None,
    positions: Annotated[Optional[str], typer.Option(help=_MODEL["positions"][0], show_default=str(_MODEL["positions"][1]), rich_help_panel=_MODEL_PANEL)] = None,
    k: Annotated[Optional[int], typer.Option("--k", help=_MODEL["k"][0], show_default=str(_MODEL["k"][1]), rich_help_panel=_MODEL_PANEL)] = None,
    hidden_size: Annotated[Optional[int], typer.Option(help=_MODEL["hidden_size"][0], show_default=str(_MODEL["hidden_size"][1]), rich_help_panel=_MODEL_PANEL)] = None,
    layers: Annotated[Optional[int], typer.Option(help=_MODEL["num_layers"][0], show_default=str(_MODEL["num_layers"][1]), rich_help_panel=_MODEL_PANEL)] = None,
    heads: Annotated[Optional[int], typer.Option(help=_MODEL["num_heads"][0], show_default=str(_MODEL["num_heads"][1]), rich_help_panel=_MODEL_PANEL)] = None,
    dropout: Annotated[Optional[float], typer.Option(help=_MODEL["dropout"][0], show_default=f"{_MODEL['dropout'][1]}; CNN 0.2", rich_help_panel=_MODEL_PANEL)] = None,
    pooling: Annotated[Optional[str], typer.Option(help=_MODEL["pooling"][0], show_default=str(_MODEL["pooling"][1]), rich_help_panel=_MODEL_PANEL)] = None,
    tokenizer_path: Annotated[Optional[str], typer.Option(help="Folder of a trained BPE tokenizer.", show_default="none", rich_help_panel=_MODEL_PANEL)] = None,
    genome: Annotated[Optional[str], typer.Option(help="Genome cache for stores that keep coordinates.", show_default="the cache in the store's card")] = None,
    max_epochs: Annotated[Optional[int], typer.Option(help="Epochs at most (early stopping may end sooner).", show_default=_default("max_epochs"), rich_help_panel=_OPT_PANEL)] = None,
    min_epochs: Annotated[Optional[int], typer.Option(help="Epochs before early stopping may end the run.", show_default=_default("min_epochs"), rich_help_panel=_OPT_PANEL)] = None,
    max_steps: Annotated[Optional[int], typer.Option(help="Optimizer steps at most; -1: no limit. Validation runs after the last step.", show_default=_default("max_steps"), rich_help_panel=_OPT_PANEL)] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Samples a step (per device).", show_default=_default("batch_size"), rich_help_panel=_OPT_PANEL)] = None,
    lr: Annotated[Optional[float], typer.Option(help="Peak learning rate (linear warmup, then linear decay to 0).", show_default=_default("lr"), rich_help_panel=_OPT_PANEL)] = None,
    warmup_fraction: Annotated[Optional[float], typer.Option(help="Fraction of the steps spent warming the learning rate up.", show_default=_default("warmup_fraction"), rich_help_panel=_OPT_PANEL)] = None,
    weight_decay: Annotated[Optional[float], typer.Option(help="AdamW weight decay (not on norms and biases).", show_default=_default("weight_decay"), rich_help_panel=_OPT_PANEL)] = None,
    grad_clip: Annotated[Optional[float], typer.Option(help="Clip the gradient norm to this (0: off).", show_default=_default("grad_clip"), rich_help_panel=_OPT_PANEL)] = None,
    loss: Annotated[Optional[str], typer.Option(help="bce | focal | huber | mse instead of the task's own.", show_default="the task's", rich_help_panel=_OPT_PANEL)] = None,
    patience: Annotated[Optional[int], typer.Option(help="Validations without improvement before stopping.", show_default=_default("patience"), rich_help_panel=_OPT_PANEL)] = None,
    seed: Annotated[Optional[int], typer.Option(help="Random seed (weights, split of a table, batch order, augmentation).", show_default=_default("seed"), rich_help_panel=_OPT_PANEL)] = None,
    train_fraction: Annotated[Optional[float], typer.Option(help="Train on this fraction of the training rows (seeded; val and test whole).", show_default=_default("train_fraction"), rich_help_panel=_OPT_PANEL)] = None,
    shift: Annotated[Optional[int], typer.Option("--shift", help="Shift augmentation: move training windows by up to this many bases.", show_default=_default("max_shift"), rich_help_panel=_OPT_PANEL)] = None,
    rc: Annotated[Optional[bool], typer.Option("--rc/--no-rc", help="Reverse-complement augmentation: flip half the training windows.", show_default=_default("reverse_complement_augment"), rich_help_panel=_OPT_PANEL)] = None,
    devices: Annotated[Optional[str], typer.Option(help="auto, a count, or a list such as 0,1 (several: DDP).", show_default=_default("devices"), rich_help_panel=_RUN_PANEL)] = None,
    accelerator: Annotated[Optional[str], typer.Option(help="auto | cpu | gpu.", show_default=_default("accelerator"), rich_help_panel=_RUN_PANEL)] = None,
    num_nodes: Annotated[Optional[int], typer.Option(help="Machines (DDP across nodes).", show_default=_default("num_nodes"), rich_help_panel=_RUN_PANEL)] = None,
    precision: Annotated[Optional[str], typer.Option(help="auto | 32 | bf16-mixed | 16-mixed | bf16-true (auto: bf16-mixed on a GPU, 32 on the CPU).", show_default=_default("precision"), rich_help_panel=_RUN_PANEL)] = None,
    num_workers: Annotated[Optional[int], typer.Option(help="DataLoader worker processes.", show_default=_default("num_workers"), rich_help_panel=_RUN_PANEL)] = None,
    val_check_interval: Annotated[Optional[float], typer.Option(help="Validate this fraction of an epoch apart (1: once an epoch).", show_default=_default("val_check_interval"), rich_help_panel=_RUN_PANEL)] = None,
    checkpoint_every_steps: Annotated[Optional[int], typer.Option(help="Also checkpoint every N steps (0: every epoch).", show_default=_default("checkpoint_every_steps"), rich_help_panel=_RUN_PANEL)] = None,
    compile: Annotated[Optional[bool], typer.Option("--compile/--no-compile", help="torch.compile the model.", show_default=_default("compile"), rich_help_panel=_RUN_PANEL)] = None,
    deterministic: Annotated[Optional[bool], typer.Option("--deterministic/--no-deterministic", help="Deterministic algorithms (slower on a GPU).", show_default=_default("deterministic"), rich_help_panel=_RUN_PANEL)] = None,
    wandb_project: Annotated[Optional[str], typer.Option(help="Also log to this Weights & Biases project (pip install wandb).", show_default="none", rich_help_panel=_RUN_PANEL)] = None,
    progress: Annotated[Optional[bool], typer.Option("--progress/--no-progress", help="Progress bar on a terminal; without one, or with --no-progress, a line a validation.", show_default=_default("progress"), rich_help_panel=_RUN_PANEL)] = None,
    verbose: Annotated[Optional[bool], typer.Option("--verbose/--quiet", help="Show Lightning's own info lines, tips and deprecation warnings.", show_default="quiet", rich_help_panel=_RUN_PANEL)] = None,
) -> None:
    """Train a model on a dataset store or a sequence table; writes a complete run folder (docs/training.md)."""
    from dnabench.training.config import load_config

    overrides = {
        "data": data, "model": model, "out": str(out) if out else None, "init": init, "tokenizer_path": tokenizer_path,
        "genome": genome, "max_epochs": max_epochs, "min_epochs": min_epochs, "max_steps": max_steps, "batch_size": batch_size, "lr": lr,
        "warmup_fraction": warmup_fraction, "weight_decay": weight_decay, "grad_clip": grad_clip, "loss": loss, "patience": patience,
        "seed": seed, "devices": devices, "accelerator": accelerator, "num_nodes": num_nodes, "precision": precision,
        "num_workers": num_workers, "val_check_interval": val_check_interval, "max_shift": shift, "reverse_complement_augment": rc,
        "train_fraction": train_fraction, "label_columns": label, "sequence_column": sequence_column, "label_kind": label_kind,
        "checkpoint_every_steps": checkpoint_every_steps, "compile": compile, "deterministic": deterministic,
        "wandb_project": wandb_project, "progress": progress, "verbose": verbose,
    }
    model_flags = {"tokenizer": tokenizer, "positions": positions, "k": k, "hidden_size": hidden_size, "num_layers": layers,
                   "num_heads": heads, "dropout": dropout, "pooling": pooling}
    model_flags = {key: value for key, value in model_flags.items() if value is not None}
    if resume is not None:
        if model_flags:
            fail(f"--resume continues a run with its own model; drop {', '.join('--' + n.replace('_', '-') for n in model_flags)}")
        if not (resume / "config.yaml").is_file():
            fail(f"{resume}: not a run folder (no config.yaml) to resume")
        if _resume_estimator(resume):
            return
        if not any((resume / "checkpoints" / name).is_file() for name in ("last.ckpt", "interrupted.ckpt")):
            fail(f"{resume}: no checkpoint to resume from in {resume / 'checkpoints'}")
        if (resume / "metrics.json").is_file() and max_epochs is None and max_steps is None:
            _run(lambda: load_config(resume / "config.yaml", {}))  # a damaged config.yaml is still reported
            console.print(f"{resume}: this run is finished (metrics.json is written); nothing to resume. "
                          "To train on, give a larger --max-epochs or --max-steps with --resume")
            return
        kept = ("max_epochs", "max_steps", "devices", "num_workers", "progress", "verbose")
        from dnabench.training.run import resume_run

        run = _run(lambda: resume_run(resume, {k: v for k, v in overrides.items() if k in kept}, allow_changed_data=allow_changed_data))
    else:
        _exists("--config", config, "file")
        _check_paths(data, init, tokenizer_path, genome, str(out) if out else None)  # flags first: before the model's modules load
        cfg = _run(lambda: load_config(config, overrides, model_options=model_flags))
        if not cfg.data or not cfg.out:
            fail("--data and --out are required (or --resume RUN)")
        _check_paths(cfg.data, cfg.init, cfg.tokenizer_path, cfg.genome, cfg.out)
        from dnabench.training.run import train as train_run

        run = _run(lambda: train_run(cfg))
    _print_metrics(run)


def _check_paths(data: str | None, init: str | None, tokenizer_path: str | None, genome: str | None, out: str | None) -> None:
    """The inputs exist and the run folder is free (a DDP worker started by Lightning finds the
    folder its first process made, and goes on)."""
    import os

    _check_data("--data", data)
    for flag, value in (("--init", init), ("--tokenizer-path", tokenizer_path), ("--genome", genome)):
        _exists(flag, value)
    if not out or os.environ.get("LOCAL_RANK", "0") != "0" or os.environ.get("NODE_RANK", "0") != "0":
        return
    target = Path(out)
    if target.is_dir() and any(target.iterdir()):
        fail(f"{target}: run folder exists and is not empty; use --resume {target} or another --out")
    if target.exists() and not target.is_dir():
        fail(f"{target}: exists and is not a folder; give another --out")


def _resume_estimator(run: Path) -> bool:
    """--resume of an estimator run: a finished one is left as it is, an unfinished one is fitted
    again (a fit has no checkpoints). False for a neural run."""
    from dnabench.training.estimator import estimator_run_finished, is_estimator_run

    if not is_estimator_run(run):
        return False
    if estimator_run_finished(run):
        console.print(f"{run}: this run is finished (best/ and metrics.json are written); nothing to resume")
    else:
        from dnabench.training.run import resume_run

        console.print(f"{run}: the fit did not finish; fitting again (an estimator keeps no checkpoints)")
        _run(lambda: resume_run(run, {}))
    _print_metrics(run)
    return True


def _print_metrics(run: Path) -> None:
    metrics = json.loads((Path(run) / "metrics.json").read_text())
    table = Table(title=f"run {run}")
    table.add_column("split")
    names = sorted({k for split in ("val", "test") for k in metrics.get(split, {})})
    for name in names:
        table.add_column(name, justify="right")
    for split in ("val", "test"):
        table.add_row(split, *[f"{metrics.get(split, {}).get(n, float('nan')):.4f}" for n in names])
    console.print(table)


def evaluate(
    run: Annotated[Path, typer.Argument(help="Run folder.")],
    data: Annotated[Optional[str], typer.Option(help="Other data: a store, or a table (scored whole without a split column; labels: the run's label columns).", show_default="the run's data")] = None,
    split: Annotated[str, typer.Option(help="train | val | test (outside tables without a split column: all rows).")] = "test",
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Result file.", show_default="RUN/eval_SPLIT.json; outside data: RUN/eval_FOLDER-NAME_SPLIT.json")] = None,
    genome: Annotated[Optional[str], typer.Option(help="Genome cache for a store that keeps coordinates.", show_default="the run's, or the store's card")] = None,
    batch_size: Annotated[int, typer.Option(help="Rows a forward pass.")] = 256,
    device: Annotated[Optional[str], typer.Option(help="cpu, cuda or cuda:N.", show_default="cuda if available")] = None,
    bf16: Annotated[bool, typer.Option("--bf16/--fp32", help="bf16 autocast (faster on a GPU, within 1e-2 of float32).")] = False,
    reverse_complement: Annotated[bool, typer.Option("--reverse-complement", help="Average the predictions of both strands.", show_default="off")] = False,
    label: Annotated[Optional[str], typer.Option(help="The outside table's columns that hold the run's labels, in the run's label order: COLUMN[,COLUMN].", show_default="the run's label column names")] = None,
) -> None:
    """Score a run's best model on one split of its data, or on outside data; writes a JSON file of the metrics."""
    _check_run(run)
    _check_data("--data", data)
    _exists("--genome", genome)
    label_columns = [c.strip() for c in label.split(",") if c.strip()] if label is not None else None
    if label is not None and not label_columns:
        fail(f"--label {label!r}: give one or more column names, COLUMN[,COLUMN]")
    if label_columns is not None and data is None:
        fail("--label names the label columns of an outside table: give the table with --data")
    from dnabench.training.inference import InputLengthWarning, evaluate_run

    result = _run(
        lambda: evaluate_run(run, data, split, batch_size, device, reverse_complement, out, bf16, genome, label_columns),
        show=(InputLengthWarning,),
    )
    console.print(f"{run}: {result.title}", soft_wrap=True)
    table = Table()
    for name in result.metrics:
        table.add_column(name, justify="right")
    table.add_row(*[f"{v:.4f}" for v in result.metrics.values()])
    console.print(table)
    console.print(f"written to {result.path}")


def predict(
    run: Annotated[Path, typer.Argument(help="Run folder (or saved model folder inside one).")],
    input_path: Annotated[Path, typer.Argument(metavar="INPUT", help="FASTA, BED (with --genome), a table with 'sequence', a VCF (.vcf, .vcf.gz, .bcf; with --genome: ref / alt / diff scores of each variant), or a features folder (random_forest and xgboost runs).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output table: .parquet, .csv or .tsv (.gz allowed).")],
    genome: Annotated[Optional[Path], typer.Option(help="Genome cache, for BED and VCF input.", show_default="the run's genome, for a VCF")] = None,
    threshold: Annotated[Optional[float], typer.Option(help="Call 1 where a probability is >= this (call_LABEL columns).", show_default="the run's validation threshold")] = None,
    batch_size: Annotated[int, typer.Option(help="Rows a forward pass (float32 results do not depend on it).")] = 256,
    device: Annotated[Optional[str], typer.Option(help="cpu, cuda or cuda:N.", show_default="cuda if available")] = None,
    bf16: Annotated[bool, typer.Option("--bf16/--fp32", help="bf16 autocast (faster on a GPU, within 1e-2 of float32).")] = False,
    reverse_complement: Annotated[bool, typer.Option("--reverse-complement", help="Average the predictions of both strands.", show_default="off")] = False,
) -> None:
    """Predict every input sequence with a run's best model: pred_LABEL, and call_LABEL at the run's threshold."""
    _check_run(run, saved_model_ok=True)
    _exists("INPUT", input_path, "file or features folder")
    _exists("--genome", genome, "genome cache")
    name = out.name.lower().removesuffix(".gz")
    if not name.endswith((".parquet", ".csv", ".tsv", ".txt")) or out.name.lower().endswith(".parquet.gz"):
        fail(f"{out}: unknown table kind (--out); give a name ending in .parquet, .csv, .tsv or .txt (.gz allowed for text)")
    from dnabench.training.inference import InputLengthWarning, predict_file
    from dnabench.training.variant_effect import VariantWarning

    frame = _run(
        lambda: predict_file(run, input_path, out, genome, batch_size, device, reverse_complement, threshold, bf16),
        show=(InputLengthWarning, VariantWarning),
    )
    if "variants" in frame.attrs:
        _print_variant_counts(frame.attrs["variants"], out)
        return
    used = frame.attrs.get("threshold")
    calls = f"; call_* columns at threshold {used:.4g}" if used is not None else ""
    console.print(f"{len(frame):,} predictions written to {out}{calls}")


def _print_variant_counts(counts: dict[str, int], out: Path) -> None:
    """One line: how many ALT alleles were scored, and why the others were not (the status column)."""
    others = ", ".join(f"{n:,} {status.replace('_', ' ')}" for status, n in counts.items() if status not in ("records", "alleles", "scored", "missing") and n)
    console.print(
        f"{counts.get('scored', 0):,} of {counts.get('alleles', 0):,} variant alleles ({counts.get('records', 0):,} records) scored"
        f"{'; not scored: ' + others if others else ''}; written to {out}",
        soft_wrap=True,
    )
