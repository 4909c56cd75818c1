"""`dnabench report`: PNG plots and one self-contained HTML page from run or benchmark folders."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from dnabench.cli.common import console, fail, run as _run

__all__ = ["register_report"]


def register_report(app: typer.Typer) -> None:
    """Add `report` to the app."""
    app.command()(report)


def report(
    inputs: Annotated[list[Path], typer.Argument(metavar="RUN_OR_BENCHMARK...", help="Run folders, benchmark folders, or folders that hold run folders.")],
    out: Annotated[Path, typer.Option(help="Folder for report.html and plots/.")],
    reference: Annotated[Optional[Path], typer.Option(help="oracle.json of {task: {metric: best achievable value}} shown beside benchmark results.", show_default="none")] = None,
) -> None:
    """Write OUT/report.html (images embedded) and OUT/plots/*.png: curves, ROC/PR or scatter, bars, results table, configs and provenance."""
    for path in inputs:
        if not path.exists():
            fail(f"{path}: no such run or benchmark folder")
    if reference is not None and not reference.is_file():
        fail(f"{reference}: no such file (--reference)")
    if out.exists() and not out.is_dir():
        fail(f"{out}: exists and is not a folder (--out)")
    from dnabench.evaluation.report import write_report

    page = _run(lambda: write_report(inputs, out, reference))
    console.print(f"report written to {page}")
