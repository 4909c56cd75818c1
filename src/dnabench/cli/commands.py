"""The command-line app: the top-level commands (info, demo) and every command group registered."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from dnabench import __version__
from dnabench.cli.common import console, fail, run as _run
from dnabench.cli.benchmark import register_benchmark
from dnabench.cli.data import register_data
from dnabench.cli.features import register_features
from dnabench.cli.genome import genome_app, parse_region, tokenizer_app
from dnabench.cli.pretrain import register_pretrain
from dnabench.cli.report import register_report
from dnabench.cli.train import register_training

__all__ = ["build_app", "parse_region"]


def _version(value: bool) -> None:
    if value:
        console.print(f"dnabench {__version__}")
        raise typer.Exit()


def _main_options(
    version: Annotated[
        Optional[bool], typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = None,
) -> None:
    """dnabench: benchmark and toolkit for neural models of DNA sequence."""


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


def demo(
    out: Annotated[Optional[Path], typer.Option(help="Folder of the demo's raw files, stores, runs, results and report.", show_default="./dnabench-demo; --tour: a temporary folder")] = None,
    seed: Annotated[int, typer.Option(help="Random seed of the synthetic world (the same seed gives the same numbers).")] = 0,
    only: Annotated[Optional[list[str]], typer.Option(help="Run only the benchmark steps matching this glob (repeatable), e.g. 'runs/promvary/*'.", show_default="all of Table 5")] = None,
    small: Annotated[bool, typer.Option("--small", help="Half-size world: a quicker, noisier run.")] = False,
    tour: Annotated[bool, typer.Option("--tour", help="Only the quick tour: genome cache, windows, labels, four tokenizations (seconds).")] = False,
) -> None:
    """The benchmark in miniature: synthetic raw files -> prepare -> pretrain -> three models on six tasks -> results -> report."""
    if out is not None and out.exists() and not out.is_dir():
        fail(f"{out}: exists and is not a folder; give another --out")
    if tour:
        from dnabench.demo import run_demo

        result = run_demo(out, seed=seed, console=console)
        if result.motif_found_fraction < 1.0 or not all(row["round_trip"] for row in result.tokenizers):
            console.print("[red]demo check failed[/]")
            raise typer.Exit(1)
        return
    from dnabench.demo.pipeline import run_full_demo

    outcome = _run(lambda: run_full_demo(out, seed=seed, scale="small" if small else "demo", only=only, console=console))
    if not outcome.ok:
        raise typer.Exit(1)


def build_app(with_prepare: bool = True) -> typer.Typer:
    """The command-line app; `with_prepare=False` leaves out the generated `prepare` commands,
    whose task modules take a second to import, for a faster start of every other command."""
    app = typer.Typer(help="dnabench: benchmark and toolkit for neural models of DNA sequence.", no_args_is_help=True)
    app.callback()(_main_options)
    app.add_typer(genome_app, name="genome")
    app.add_typer(tokenizer_app, name="tokenizer")
    app.command()(info)
    app.command()(demo)
    register_training(app)
    register_pretrain(app)
    register_features(app)
    register_data(app)
    if with_prepare:
        from dnabench.cli.prepare import register_prepare

        register_prepare(app, console, _run)
    register_benchmark(app)
    register_report(app)
    return app
