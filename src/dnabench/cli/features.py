"""`dnabench features`: a backbone's representations of a store's rows, into a features folder (docs/features.md)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from dnabench.cli.common import console, fail, run as _run

__all__ = ["register_features"]


def register_features(app: typer.Typer) -> None:
    """Add `features` to the app."""
    app.command()(features)


def features(
    run: Annotated[Path, typer.Argument(metavar="RUN", help="Backbone: a run folder (its best/), a pretraining run (its encoder/) or a saved model folder.")],
    data: Annotated[Path, typer.Option(help="Dataset store whose rows to represent (window, pair or segmented).", show_default="required")],
    out: Annotated[Path, typer.Option(help="Features folder to write (a finished one with the same features is kept).", show_default="required")],
    genome: Annotated[Optional[Path], typer.Option(help="Genome cache for a store that keeps coordinates.", show_default="the cache in the store's card")] = None,
    batch_size: Annotated[int, typer.Option(help="Backbone windows a forward pass (a segmented row is S windows).")] = 256,
    device: Annotated[Optional[str], typer.Option(help="cpu, cuda or cuda:N.", show_default="cuda if available")] = None,
    bf16: Annotated[bool, typer.Option("--bf16/--fp32", help="bf16 autocast on CUDA (the CPU always computes in float32).")] = True,
    reverse_complement: Annotated[bool, typer.Option("--reverse-complement", help="Average the representations of both strands.", show_default="off")] = False,
    pair: Annotated[str, typer.Option(help="Pairs: concat ([ref; alt], 2 x d values) or diff (alt - ref, d values).")] = "concat",
    dtype: Annotated[str, typer.Option(help="float16 (half the disk) or float32.")] = "float16",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace other features at --out (only a features folder), or an unfinished extraction with other arguments.", show_default="off")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.", show_default="off")] = False,
) -> None:
    """Represent every row of a store with a backbone's embedding; resumable, and reused when already made."""
    if not run.exists():
        fail(f"{run}: no such run or model folder")
    if not (data / "dataset.json").is_file():
        fail(f"{data}: not a dataset store (no dataset.json) (--data)")
    if genome is not None and not genome.exists():
        fail(f"{genome}: no such genome cache (--genome)")
    if pair not in ("concat", "diff"):
        fail(f"--pair must be concat or diff, got {pair!r}")
    if dtype not in ("float16", "float32"):
        fail(f"--dtype must be float16 or float32, got {dtype!r}")
    if batch_size < 1:
        fail(f"--batch-size must be >= 1, got {batch_size}")
    from dnabench.data.features import open_features
    from dnabench.training.features import extract_features

    computed = [0]

    def count(start: int, stop: int, rows: int) -> None:
        computed[0] += stop - start

    began = time.perf_counter()
    path = _run(
        lambda: extract_features(
            run, data, out, genome, batch_size, device, bf16, reverse_complement, pair, dtype, overwrite, not quiet, on_chunk=count
        )
    )
    elapsed = time.perf_counter() - began
    result = open_features(path, check_store=False)
    shape = " x ".join(f"{v:,}" for v in result.array.shape)
    if computed[0] == 0:
        console.print(f"{path}: already holds these features ({result.rows:,} rows, {shape} {result.array.dtype}); nothing computed")
        return
    console.print(
        f"{path}: {result.rows:,} rows, {shape} {result.array.dtype} ({result.kind}); {computed[0]:,} rows computed in "
        f"{elapsed:.1f} s, {computed[0] / max(elapsed, 1e-9):,.1f} rows/s"
    )
