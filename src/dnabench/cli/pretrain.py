"""`dnabench pretrain`: masked-language-model pretraining on a genome or on unlabeled sequences."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from dnabench.cli.common import console, fail, run as _run

__all__ = ["register_pretrain"]

_MODEL_PANEL = "Model options (any other field: model_options in --config)"
_MASK_PANEL = "Data and masking"


def register_pretrain(app: typer.Typer) -> None:
    """Add `pretrain` to the app."""
    app.command()(pretrain)


def _default(name: str) -> str:
    from dnabench.training.pretrain_config import PretrainConfig

    return str(PretrainConfig.__dataclass_fields__[name].default)


def pretrain(
    genome: Annotated[Optional[str], typer.Option(metavar="CACHE_OR_FASTA", help="Genome cache folder, or a FASTA / 2bit file (indexed into RUN/genome/).")] = None,
    data: Annotated[Optional[list[str]], typer.Option(metavar="TABLE_OR_FASTA", help="FASTA file or table with a 'sequence' column; repeat for several.")] = None,
    splits: Annotated[Optional[str], typer.Option(help="Tables: use only the rows of these splits (comma list, e.g. train): the table's split column, or dnabench train's seeded split. FASTA files are read whole.", rich_help_panel=_MASK_PANEL)] = None,
    out: Annotated[Optional[Path], typer.Option(help="Run folder to create.")] = None,
    config: Annotated[Optional[Path], typer.Option(help="YAML file of pretraining options (flags override it).")] = None,
    resume: Annotated[Optional[Path], typer.Option(help="Continue this run folder from its newest checkpoint.")] = None,
    tokenizer: Annotated[Optional[str], typer.Option(help="Front end: onehot | kmer | patch | bpe.", show_default="patch", rich_help_panel=_MODEL_PANEL)] = None,
    positions: Annotated[Optional[str], typer.Option(help="rotary | relative | absolute.", show_default="rotary", rich_help_panel=_MODEL_PANEL)] = None,
    k: Annotated[Optional[int], typer.Option("--k", help="k of the kmer / patch tokenizer.", show_default="kmer 5, patch 4", rich_help_panel=_MODEL_PANEL)] = None,
    hidden_size: Annotated[Optional[int], typer.Option(help="Transformer hidden size.", show_default="512", rich_help_panel=_MODEL_PANEL)] = None,
    layers: Annotated[Optional[int], typer.Option(help="Transformer layers.", show_default="4", rich_help_panel=_MODEL_PANEL)] = None,
    heads: Annotated[Optional[int], typer.Option(help="Attention heads.", show_default="8", rich_help_panel=_MODEL_PANEL)] = None,
    dropout: Annotated[Optional[float], typer.Option(help="Encoder dropout.", show_default="0.1", rich_help_panel=_MODEL_PANEL)] = None,
    tokenizer_path: Annotated[Optional[str], typer.Option(help="Folder of a trained BPE tokenizer.", rich_help_panel=_MODEL_PANEL)] = None,
    tie_output: Annotated[Optional[bool], typer.Option("--tie-output/--untie-output", help="Tie the MLM projection to the token embedding (default: tied for kmer and BPE).", rich_help_panel=_MODEL_PANEL)] = None,
    length: Annotated[Optional[int], typer.Option(help="Bases per chunk (shorter sequences give shorter chunks).", show_default=_default("length"), rich_help_panel=_MASK_PANEL)] = None,
    max_n_fraction: Annotated[Optional[float], typer.Option(help="Skip chunks with more N than this fraction of their bases.", show_default=_default("max_n_fraction"), rich_help_panel=_MASK_PANEL)] = None,
    min_length: Annotated[Optional[int], typer.Option(help="Skip chunks with fewer real bases (default: length / 2).", rich_help_panel=_MASK_PANEL)] = None,
    val_fraction: Annotated[Optional[float], typer.Option(help="Fraction of chunks held out for the validation loss (seeded).", show_default=_default("val_fraction"), rich_help_panel=_MASK_PANEL)] = None,
    mask_rate: Annotated[Optional[float], typer.Option(help="Fraction of units masked (patches, tokens, bases; k-mer: of bases, in spans).", show_default=_default("mask_rate"), rich_help_panel=_MASK_PANEL)] = None,
    kmer_span: Annotated[Optional[int], typer.Option(help="k-mer tokenizer: bases per masked span (default: k).", rich_help_panel=_MASK_PANEL)] = None,
    max_epochs: Annotated[Optional[int], typer.Option(help="Epochs.", show_default=_default("max_epochs"))] = None,
    max_steps: Annotated[Optional[int], typer.Option(help="Optimizer steps at most; -1: no limit.", show_default=_default("max_steps"))] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Chunks a step (per device).", show_default=_default("batch_size"))] = None,
    lr: Annotated[Optional[float], typer.Option(help="Peak learning rate.", show_default=_default("lr"))] = None,
    warmup_steps: Annotated[Optional[int], typer.Option(help="Steps of linear warmup from 0 (at most 10 % of the run), then linear decay.", show_default=_default("warmup_steps"))] = None,
    weight_decay: Annotated[Optional[float], typer.Option(help="AdamW weight decay.", show_default=_default("weight_decay"))] = None,
    seed: Annotated[Optional[int], typer.Option(help="Random seed (weights, chunk order, masks, validation chunks).", show_default=_default("seed"))] = None,
    devices: Annotated[Optional[str], typer.Option(help="auto, a count, or a list such as 0,1.", show_default=_default("devices"))] = None,
    num_nodes: Annotated[Optional[int], typer.Option(help="Machines (DDP across nodes).", show_default=_default("num_nodes"))] = None,
    precision: Annotated[Optional[str], typer.Option(help="auto | 32 | bf16-mixed | 16-mixed | bf16-true (auto: bf16-mixed on a GPU).", show_default=_default("precision"))] = None,
    num_workers: Annotated[Optional[int], typer.Option(help="DataLoader worker processes.", show_default=_default("num_workers"))] = None,
    checkpoint_every_steps: Annotated[Optional[int], typer.Option(help="Also checkpoint every N steps (0: every epoch).", show_default=_default("checkpoint_every_steps"))] = None,
    compile: Annotated[Optional[bool], typer.Option("--compile/--no-compile", help="torch.compile the encoder blocks.", show_default=_default("compile"))] = None,
    progress: Annotated[Optional[bool], typer.Option("--progress/--no-progress", help="Progress bar and per-validation lines.", show_default=_default("progress"))] = None,
) -> None:
    """Pretrain a Transformer with masked-language modelling; writes a run folder whose encoder/ `train --init` uses."""
    for flag, value in (("--genome", genome), ("--config", config), ("--tokenizer-path", tokenizer_path), *(("--data", d) for d in data or ())):
        if value is not None and not Path(value).exists():
            fail(f"{value}: no such file or folder ({flag})")
    if resume is not None and not (Path(resume) / "config.yaml").is_file():
        fail(f"{resume}: not a pretraining run folder (no config.yaml) to resume")
    from dnabench.training.engine import is_first_process
    from dnabench.training.pretrain import pretrain as pretrain_run, resume_pretrain
    from dnabench.training.pretrain_config import load_pretrain_config

    overrides = {
        "genome": genome, "data": data or None, "table_splits": [s.strip() for s in splits.split(",") if s.strip()] if splits else None,
        "out": str(out) if out else None, "tokenizer_path": tokenizer_path, "tie_output": tie_output, "length": length,
        "max_n_fraction": max_n_fraction, "min_length": min_length, "val_fraction": val_fraction, "mask_rate": mask_rate,
        "kmer_span": kmer_span, "max_epochs": max_epochs, "max_steps": max_steps, "batch_size": batch_size, "lr": lr,
        "warmup_steps": warmup_steps, "weight_decay": weight_decay, "seed": seed, "devices": devices, "num_nodes": num_nodes,
        "precision": precision, "num_workers": num_workers, "checkpoint_every_steps": checkpoint_every_steps,
        "compile": compile, "progress": progress,
    }
    model_flags = {"tokenizer": tokenizer, "positions": positions, "k": k, "hidden_size": hidden_size, "num_layers": layers,
                   "num_heads": heads, "dropout": dropout}
    model_flags = {key: value for key, value in model_flags.items() if value is not None}
    if resume is not None:
        if model_flags:
            fail(f"--resume continues a run with its own model; drop {', '.join('--' + n.replace('_', '-') for n in model_flags)}")
        keep = ("max_epochs", "max_steps", "devices", "num_workers", "progress")
        run = _run(lambda: resume_pretrain(resume, {key: v for key, v in overrides.items() if key in keep}))
    else:
        cfg = _run(lambda: load_pretrain_config(config, overrides, model_options=model_flags))
        if not cfg.out or not (cfg.genome or cfg.data):
            fail("--out and --genome or --data are required (or --resume RUN)")
        run = _run(lambda: pretrain_run(cfg))
    if is_first_process():  # DDP workers started beside it end here too
        _print_metrics(run)


def _print_metrics(run: Path) -> None:
    metrics = json.loads((Path(run) / "metrics.json").read_text())
    table = Table(title=f"pretraining run {run}: loss in nats per masked target")
    for name in ("split", "MLM loss", "unigram baseline", "accuracy", "targets"):
        table.add_column(name, justify="right" if name != "split" else "left")
    for split in ("train", "val"):
        m = metrics.get(split) or {}
        table.add_row(split, *(f"{m.get(key, float('nan')):.4f}" for key in ("mlm_loss", "unigram_entropy", "accuracy")), f"{m.get('targets', 0):,}")
    console.print(table)
    console.print(f"encoder saved in {Path(run) / 'encoder'}; fine-tune with: dnabench train --init {run} --data ... --out ...")
