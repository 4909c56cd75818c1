"""The `dnabench` command: a thin layer over the library, one module per command group.

    genome.py    genome index / info / fetch, tokenizer train-bpe
    data.py      download, store info
    prepare.py   prepare TASK, generated from each task module's options
    train.py     train, evaluate, predict
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from dnabench import __version__
from dnabench.cli.common import console, run as _run
from dnabench.cli.data import register_data
from dnabench.cli.genome import genome_app, parse_region, tokenizer_app
from dnabench.cli.prepare import register_prepare
from dnabench.cli.pretrain import register_pretrain
from dnabench.cli.train import register_training

__all__ = ["app", "parse_region"]

app = typer.Typer(help="dnabench: benchmark and toolkit for neural models of DNA sequence.", no_args_is_help=True)
app.add_typer(genome_app, name="genome")
app.add_typer(tokenizer_app, name="tokenizer")


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


register_training(app)
register_pretrain(app)
register_data(app)
register_prepare(app, console, _run)
