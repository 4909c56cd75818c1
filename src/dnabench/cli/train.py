"""`dnabench train`, `evaluate` and `predict`: runs from a store or a sequence table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

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

    return str(TrainConfig.__dataclass_fields__[name].default)


def _model_help() -> dict[str, tuple[str, object]]:
    """Help of the model flags, with the choices and defaults of the Transformer's config."""
    from typing import get_args

    from dnabench.models.config import DEFAULT_K, EncoderConfig, FrontendConfig, PositionKind, TokenizerKind

    fe, enc = FrontendConfig(), EncoderConfig()
    return {
        "tokenizer": (f"Transformer front end: {' | '.join(get_args(TokenizerKind))}.", fe.tokenizer),
        "positions": (f"Transformer positions: {' | '.join(get_args(PositionKind))}.", enc.positions),
        "k": ("k of the kmer / patch tokenizer.", ", ".join(f"{kind} {k}" for kind, k in DEFAULT_K.items())),
        "hidden_size": ("Transformer hidden size.", enc.hidden_size),
        "num_layers": ("Transformer layers.", enc.num_layers),
        "num_heads": ("Attention heads.", enc.num_heads),
        "dropout": ("Dropout of the Transformer encoder or the CNN's conv stack.", enc.dropout),
    }


_MODEL = _model_help()
_MODEL_PANEL = "Model options (any other field: model_options in --config)"


def train(
    data: Annotated[Optional[str], typer.Option(help="Dataset store folder, or a CSV/TSV/Parquet table with a 'sequence' column.")] = None,
    model: Annotated[Optional[str], typer.Option(help="transformer | cnn_fc | cnn_lstm." , show_default=_default("model"))] = None,
    out: Annotated[Optional[Path], typer.Option(help="Run folder to create.")] = None,
    config: Annotated[Optional[Path], typer.Option(help="YAML file of training options (flags override it).")] = None,
    init: Annotated[Optional[str], typer.Option(help="Start from this run's best model or a saved model folder.")] = None,
    resume: Annotated[Optional[Path], typer.Option(help="Continue this run folder from its newest checkpoint.")] = None,
    tokenizer: Annotated[Optional[str], typer.Option(help=_MODEL["tokenizer"][0], show_default=str(_MODEL["tokenizer"][1]), rich_help_panel=_MODEL_PANEL)] = None,
    positions: Annotated[Optional[str], typer.Option(help=_MODEL["positions"][0], show_default=str(_MODEL["positions"][1]), rich_help_panel=_MODEL_PANEL)] = None,
    k: Annotated[Optional[int], typer.Option("--k", help=_MODEL["k"][0], show_default=str(_MODEL["k"][1]), rich_help_panel=_MODEL_PANEL)] = None,
    hidden_size: Annotated[Optional[int], typer.Option(help=_MODEL["hidden_size"][0], show_default=str(_MODEL["hidden_size"][1]), rich_help_panel=_MODEL_PANEL)] = None,
    layers: Annotated[Optional[int], typer.Option(help=_MODEL["num_layers"][0], show_default=str(_MODEL["num_layers"][1]), rich_help_panel=_MODEL_PANEL)] = None,
    heads: Annotated[Optional[int], typer.Option(help=_MODEL["num_heads"][0], show_default=str(_MODEL["num_heads"][1]), rich_help_panel=_MODEL_PANEL)] = None,
    dropout: Annotated[Optional[float], typer.Option(help=_MODEL["dropout"][0], show_default=str(_MODEL["dropout"][1]), rich_help_panel=_MODEL_PANEL)] = None,
    tokenizer_path: Annotated[Optional[str], typer.Option(help="Folder of a trained BPE tokenizer.", rich_help_panel=_MODEL_PANEL)] = None,
    genome: Annotated[Optional[str], typer.Option(help="Genome cache for stores that keep coordinates (default: the one in the store's card).")] = None,
    max_epochs: Annotated[Optional[int], typer.Option(help="Epochs at most (early stopping may end sooner)." , show_default=_default("max_epochs"))] = None,
    max_steps: Annotated[Optional[int], typer.Option(help="Optimizer steps at most; -1: no limit." , show_default=_default("max_steps"))] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Samples a step (per device)." , show_default=_default("batch_size"))] = None,
    lr: Annotated[Optional[float], typer.Option(help="Peak learning rate (linear warmup, then linear decay)." , show_default=_default("lr"))] = None,
    weight_decay: Annotated[Optional[float], typer.Option(help="AdamW weight decay (not on norms and biases)." , show_default=_default("weight_decay"))] = None,
    patience: Annotated[Optional[int], typer.Option(help="Validations without improvement before stopping." , show_default=_default("patience"))] = None,
    seed: Annotated[Optional[int], typer.Option(help="Random seed (weights, batch order, augmentation)." , show_default=_default("seed"))] = None,
    devices: Annotated[Optional[str], typer.Option(help="auto, a count, or a list such as 0,1." , show_default=_default("devices"))] = None,
    num_nodes: Annotated[Optional[int], typer.Option(help="Machines (DDP across nodes)." , show_default=_default("num_nodes"))] = None,
    precision: Annotated[Optional[str], typer.Option(help="auto | 32 | bf16-mixed | 16-mixed | bf16-true (auto: bf16-mixed on a GPU)." , show_default=_default("precision"))] = None,
    num_workers: Annotated[Optional[int], typer.Option(help="DataLoader worker processes." , show_default=_default("num_workers"))] = None,
    shift: Annotated[Optional[int], typer.Option("--shift", help="Shift augmentation: move training windows by up to this many bases." , show_default=_default("max_shift"))] = None,
    rc: Annotated[Optional[bool], typer.Option("--rc/--no-rc", help="Reverse-complement augmentation: flip half the training windows." , show_default=_default("reverse_complement_augment"))] = None,
    checkpoint_every_steps: Annotated[Optional[int], typer.Option(help="Also checkpoint every N steps (0: every epoch)." , show_default=_default("checkpoint_every_steps"))] = None,
    compile: Annotated[Optional[bool], typer.Option("--compile/--no-compile", help="torch.compile the model." , show_default=_default("compile"))] = None,
    progress: Annotated[Optional[bool], typer.Option("--progress/--no-progress", help="Progress bar." , show_default=_default("progress"))] = None,
) -> None:
    """Train a model on a dataset store or a sequence table; writes a complete run folder."""
    from dnabench.training.config import load_config
    from dnabench.training.run import resume_run, train as train_run

    overrides = {
        "data": data, "model": model, "out": str(out) if out else None, "init": init, "tokenizer_path": tokenizer_path,
        "genome": genome, "max_epochs": max_epochs, "max_steps": max_steps, "batch_size": batch_size, "lr": lr,
        "weight_decay": weight_decay, "patience": patience,
        "seed": seed, "devices": devices, "num_nodes": num_nodes, "precision": precision, "num_workers": num_workers,
        "max_shift": shift, "reverse_complement_augment": rc, "checkpoint_every_steps": checkpoint_every_steps, "compile": compile, "progress": progress,
    }
    model_flags = {"tokenizer": tokenizer, "positions": positions, "k": k, "hidden_size": hidden_size, "num_layers": layers,
                   "num_heads": heads, "dropout": dropout}
    model_flags = {key: value for key, value in model_flags.items() if value is not None}
    if resume is not None:
        if model_flags:
            fail(f"--resume continues a run with its own model; drop {', '.join('--' + n.replace('_', '-') for n in model_flags)}")
        run = _run(lambda: resume_run(resume, {k: v for k, v in overrides.items() if k in ("max_epochs", "max_steps", "devices", "num_workers", "progress")}))
    else:
        cfg = _run(lambda: load_config(config, overrides, model_options=model_flags))
        if not cfg.data or not cfg.out:
            fail("--data and --out are required (or --resume RUN)")
        run = _run(lambda: train_run(cfg))
    _print_metrics(run)


def _print_metrics(run: Path) -> None:
    import json

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
    data: Annotated[Optional[str], typer.Option(help="Other data to evaluate on (default: the run's).")] = None,
    split: Annotated[str, typer.Option(help="train | val | test.")] = "test",
    batch_size: Annotated[int, typer.Option()] = 256,
    reverse_complement: Annotated[bool, typer.Option(help="Average predictions of both strands.")] = False,
) -> None:
    """Score a run's best model on one split; writes RUN/eval_SPLIT.json."""
    from dnabench.training.inference import evaluate_run

    result = _run(lambda: evaluate_run(run, data, split, batch_size, reverse_complement=reverse_complement))
    table = Table(title=f"{run}: {split}")
    for name in result:
        table.add_column(name, justify="right")
    table.add_row(*[f"{v:.4f}" for v in result.values()])
    console.print(table)


def predict(
    run: Annotated[Path, typer.Argument(help="Run folder (or saved model folder inside one).")],
    input_path: Annotated[Path, typer.Argument(metavar="INPUT", help="FASTA, BED (with --genome) or a table with 'sequence'.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output table: .parquet, .csv or .tsv.")],
    genome: Annotated[Optional[Path], typer.Option(help="Genome cache, for BED input.")] = None,
    batch_size: Annotated[int, typer.Option()] = 256,
    reverse_complement: Annotated[bool, typer.Option(help="Average predictions of both strands.")] = False,
) -> None:
    """Predict every input sequence with a run's best model."""
    from dnabench.training.inference import predict_file

    frame = _run(lambda: predict_file(run, input_path, out, genome, batch_size, reverse_complement=reverse_complement))
    console.print(f"{len(frame):,} predictions written to {out}")
