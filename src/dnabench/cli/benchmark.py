"""`dnabench benchmark`: run a table of the paper (an experiment config) into run folders and a results table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from dnabench.cli.common import console, fail, run as _run

__all__ = ["register_benchmark"]


def register_benchmark(app: typer.Typer) -> None:
    """Add `benchmark` to the app."""
    app.command()(benchmark)


def benchmark(
    config: Annotated[str, typer.Argument(metavar="CONFIG", help="A shipped config (table1 ... table5) or a YAML file.")],
    out: Annotated[Path, typer.Option(help="Benchmark folder: run folders, plan.json, state.json, results.{md,csv,json}.")],
    scale: Annotated[str, typer.Option(help="small (minutes on a CPU, the demo's stores) | full (the paper's settings).")] = "small",
    stores: Annotated[Optional[Path], typer.Option(help="Folder of the task stores by name (promvary/, methyl96/, ..., genome/).", show_default="./stores")] = None,
    only: Annotated[Optional[list[str]], typer.Option(help="Run only steps matching this glob (task, model, task/model, row label, axis=value or folder); repeat for several. What they need comes along.", show_default="every step")] = None,
    devices: Annotated[Optional[int], typer.Option(help="GPUs to use at once, one run each (1 or 0: in this process, one at a time).", show_default="the GPUs there are")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan (steps, folders, state, estimated time) and touch nothing.", show_default="off")] = False,
    reference: Annotated[Optional[Path], typer.Option(help="oracle.json of {task: {metric: best achievable value}}, shown beside the results.", show_default="none")] = None,
) -> None:
    """Run the steps of an experiment config (pretraining, training, features, fits) and write its results table (docs/benchmarks.md)."""
    from dnabench.experiments.config import SCALES, config_path

    if scale not in SCALES:
        fail(f"--scale must be one of {', '.join(SCALES)}, got {scale!r}")
    if stores is not None and not stores.is_dir():
        fail(f"{stores}: no such folder (--stores)")
    if reference is not None and not reference.is_file():
        fail(f"{reference}: no such file (--reference)")
    if devices is not None and devices < 0:
        fail(f"--devices must be >= 0, got {devices}")
    if out.exists() and not out.is_dir():
        fail(f"{out}: exists and is not a folder (--out)")
    _run(lambda: config_path(config))
    from dnabench.experiments.runner import run_benchmark

    result = _run(lambda: run_benchmark(config, out, scale=scale, stores=stores, only=only or None, devices=devices, dry_run=dry_run,
                                        console=console, reference=reference))
    if not result.ok and not dry_run:
        console.print(f"[red]{len(result.failed)} step(s) failed, {len(result.blocked)} left out[/]; see {out / 'state.json'}")
        raise typer.Exit(1)
