"""The `dnabench` command: a thin layer over the library, one public function per command."""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from dnabench import __version__

app = typer.Typer(help="dnabench: benchmark and toolkit for neural models of DNA sequence.", no_args_is_help=True)
genome_app = typer.Typer(help="Genome caches: index FASTA/2bit, inspect, fetch.", no_args_is_help=True)
tokenizer_app = typer.Typer(help="Tokenizers: train BPE on a genome.", no_args_is_help=True)
app.add_typer(genome_app, name="genome")
app.add_typer(tokenizer_app, name="tokenizer")
console = Console()


def _version(value: bool) -> None:
    if value:
        console.print(f"dnabench {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        Optional[bool], typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = None,
) -> None:
    """dnabench: benchmark and toolkit for neural models of DNA sequence."""


@app.command()
def info() -> None:
    """Versions of dnabench, Python and PyTorch; CUDA and visible GPUs; CPU count."""
    import torch

    table = Table(show_header=False)
    table.add_row("dnabench", __version__)
    table.add_row("python", platform.python_version())
    table.add_row("platform", platform.platform())
    table.add_row("torch", torch.__version__)
    table.add_row("CUDA (torch build)", str(torch.version.cuda))
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    table.add_row("GPUs visible", str(gpus))
    for i in range(gpus):
        props = torch.cuda.get_device_properties(i)
        table.add_row(f"  cuda:{i}", f"{props.name}, {props.total_memory / 2**30:.0f} GiB")
    table.add_row("CPUs", str(os.cpu_count()))
    console.print(table)


@app.command()
def demo(
    out: Annotated[Optional[Path], typer.Option(help="Keep the demo's files here (default: a temporary folder).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed of the synthetic genome.")] = 0,
) -> None:
    """Run the embedded demo on a synthetic genome: index, fetch windows, tokenize four ways."""
    from dnabench.demo import run_demo

    result = run_demo(out, seed=seed, console=console)
    if result.motif_found_fraction < 1.0 or not all(row["round_trip"] for row in result.tokenizers):
        console.print("[red]demo check failed[/]")
        raise typer.Exit(1)


@genome_app.command("index")
def genome_index(
    source: Annotated[Path, typer.Argument(help="FASTA (plain, gzip or bgzip) or 2bit file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Cache folder to create.")],
    softmask: Annotated[bool, typer.Option(help="Also keep lowercase (soft-masked) positions as a bit mask.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing cache folder.")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
) -> None:
    """Turn a FASTA or 2bit genome into a memory-mapped cache of nucleotide codes."""
    from dnabench.io.genome import index_genome

    genome = _run(lambda: index_genome(source, out, softmask=softmask, overwrite=overwrite, progress=not quiet))
    console.print(f"{genome}: {len(genome)} sequences written to {out}")


@genome_app.command("info")
def genome_info(path: Annotated[Path, typer.Argument(help="Genome cache folder.")]) -> None:
    """List the sequences of a genome cache with their lengths and N counts."""
    from dnabench.io.genome import open_genome

    genome = _run(lambda: open_genome(path))
    table = Table(title=str(genome))
    for col in ("sequence", "length", "N"):
        table.add_column(col, justify="left" if col == "sequence" else "right")
    for c in genome.chromosomes:
        table.add_row(c.name, f"{c.length:,}", f"{c.n_count:,}")
    console.print(table)
    src = genome.meta["source"]
    console.print(f"source: {src['path']} ({src['format']}), sha256 {src['sha256']}")


REGION = re.compile(r"^(?P<chrom>[^:]+):(?P<start>[\d,]+)-(?P<end>[\d,]+)$")


def parse_region(region: str) -> tuple[str, int, int]:
    """'chr1:101-200' (1-based, inclusive, as samtools) -> ('chr1', 100, 200) (0-based, half-open)."""
    match = REGION.match(region.strip())
    if not match:
        raise ValueError(f"region {region!r} is not CHROM:START-END (1-based, inclusive)")
    start, end = int(match["start"].replace(",", "")), int(match["end"].replace(",", ""))
    if start < 1 or end < start:
        raise ValueError(f"region {region!r}: need 1 <= START <= END")
    return match["chrom"], start - 1, end


@genome_app.command("fetch")
def genome_fetch(
    path: Annotated[Path, typer.Argument(help="Genome cache folder.")],
    region: Annotated[str, typer.Argument(help="CHROM:START-END, 1-based inclusive (as samtools faidx).")],
    strand: Annotated[str, typer.Option(help="'+' or '-' (reverse complement).")] = "+",
) -> None:
    """Print the sequence of one region as FASTA."""
    from dnabench.io.genome import open_genome

    genome = _run(lambda: open_genome(path))
    chrom, start, end = _run(lambda: parse_region(region))
    seq = _run(lambda: genome.sequence_str(chrom, start, end, strand))
    typer.echo(f">{region}({strand})")
    for i in range(0, len(seq), 60):
        typer.echo(seq[i : i + 60])


@tokenizer_app.command("train-bpe")
def tokenizer_train_bpe(
    genome_path: Annotated[Path, typer.Argument(metavar="GENOME", help="Genome cache folder.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the tokenizer files.")],
    vocab_size: Annotated[int, typer.Option(help="Vocabulary size (the paper uses 16k).")] = 16_000,
    sample_mbp: Annotated[float, typer.Option(help="Megabases of genome to train on (random chunks).")] = 100.0,
    chunk: Annotated[int, typer.Option(help="Length of each training chunk in bp.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Random seed for chunk positions.")] = 0,
) -> None:
    """Train a BPE tokenizer on random N-free chunks of a genome and save it."""
    from dnabench.io.genome import open_genome
    from dnabench.io.sampling import genome_chunks
    from dnabench.tokenize.bpe import train_bpe

    genome = _run(lambda: open_genome(genome_path))
    chunks = genome_chunks(genome, total_bases=int(sample_mbp * 1e6), chunk=chunk, seed=seed)
    tokenizer = train_bpe(chunks, vocab_size=vocab_size, show_progress=True)
    tokenizer.save(out)
    console.print(f"BPE tokenizer with {tokenizer.vocab_size:,} tokens saved to {out}")


@app.command()
def train(
    data: Annotated[Optional[str], typer.Option(help="Dataset store folder, or a CSV/TSV/Parquet table with a 'sequence' column.")] = None,
    model: Annotated[Optional[str], typer.Option(help="transformer | cnn_fc | cnn_lstm.")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Run folder to create.")] = None,
    config: Annotated[Optional[Path], typer.Option(help="YAML file of training options (flags override it).")] = None,
    init: Annotated[Optional[str], typer.Option(help="Start from this run's best model or a saved model folder.")] = None,
    resume: Annotated[Optional[Path], typer.Option(help="Continue this run folder from its newest checkpoint.")] = None,
    tokenizer: Annotated[Optional[str], typer.Option(help="Transformer front end: patch | kmer | onehot | bpe.")] = None,
    positions: Annotated[Optional[str], typer.Option(help="Transformer positions: rotary | relative | absolute.")] = None,
    tokenizer_path: Annotated[Optional[str], typer.Option(help="Folder of a trained BPE tokenizer.")] = None,
    genome: Annotated[Optional[str], typer.Option(help="Genome cache for stores that keep coordinates.")] = None,
    max_epochs: Annotated[Optional[int], typer.Option()] = None,
    max_steps: Annotated[Optional[int], typer.Option()] = None,
    batch_size: Annotated[Optional[int], typer.Option()] = None,
    lr: Annotated[Optional[float], typer.Option()] = None,
    seed: Annotated[Optional[int], typer.Option()] = None,
    devices: Annotated[Optional[str], typer.Option(help="auto, a count, or a list such as 0,1.")] = None,
    num_nodes: Annotated[Optional[int], typer.Option()] = None,
    precision: Annotated[Optional[str], typer.Option(help="auto | 32 | bf16-mixed | 16-mixed.")] = None,
    num_workers: Annotated[Optional[int], typer.Option(help="DataLoader worker processes.")] = None,
    shift: Annotated[Optional[int], typer.Option("--shift", help="Shift augmentation: move training windows by up to this many bases.")] = None,
    rc: Annotated[Optional[bool], typer.Option("--rc/--no-rc", help="Reverse-complement augmentation: flip half the training windows.")] = None,
    checkpoint_every_steps: Annotated[Optional[int], typer.Option(help="Also checkpoint every N steps (0: every epoch).")] = None,
    compile: Annotated[Optional[bool], typer.Option("--compile/--no-compile", help="torch.compile the model.")] = None,
    progress: Annotated[Optional[bool], typer.Option("--progress/--no-progress")] = None,
) -> None:
    """Train a model on a dataset store or a sequence table; writes a complete run folder."""
    from dnabench.training.config import load_config
    from dnabench.training.run import resume_run, train as train_run

    overrides = {
        "data": data, "model": model, "out": str(out) if out else None, "init": init, "tokenizer_path": tokenizer_path,
        "genome": genome, "max_epochs": max_epochs, "max_steps": max_steps, "batch_size": batch_size, "lr": lr,
        "seed": seed, "devices": devices, "num_nodes": num_nodes, "precision": precision, "num_workers": num_workers,
        "max_shift": shift, "reverse_complement_augment": rc, "checkpoint_every_steps": checkpoint_every_steps, "compile": compile, "progress": progress,
    }
    if resume is not None:
        run = _run(lambda: resume_run(resume, {k: v for k, v in overrides.items() if k in ("max_epochs", "max_steps", "devices", "num_workers", "progress")}))
    else:
        cfg = _run(lambda: load_config(config, overrides))
        options = dict(cfg.model_options)
        if tokenizer:
            options["tokenizer"] = tokenizer
        if positions:
            options["positions"] = positions
        cfg.model_options = options
        if not cfg.data or not cfg.out:
            console.print("[red]error:[/] --data and --out are required (or --resume RUN)")
            raise typer.Exit(2)
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


@app.command()
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


@app.command()
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


def _register_dataset_commands() -> None:
    """`dnabench download`, `dnabench prepare TASK`, `dnabench store info` (dnabench.tasks.commands)."""
    from dnabench.tasks.commands import register

    register(app, console, _run)


def _run(fn):
    """Call fn; turn expected user errors into a one-line message and exit code 2."""
    from dnabench.data.store import StoreError
    from dnabench.io.files import InputError
    from dnabench.io.genome import UnknownChromosomeError
    from dnabench.training.errors import NonFiniteLossError

    try:
        return fn()
    except (InputError, StoreError, UnknownChromosomeError, NonFiniteLossError, FileNotFoundError, FileExistsError, ValueError) as err:
        console.print(f"[red]error:[/] {escape(str(err))}", soft_wrap=True)
        raise typer.Exit(2) from None


_register_dataset_commands()
