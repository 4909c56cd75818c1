"""The demo's stores, built from the world's raw files by the real `prepare` commands.

Each store is made by the very command `dnabench prepare TASK` runs (`tasks.registry.get_prepare`),
so the demo checks the builders on files in their real formats. Only sizes change: GeneExp reads
20 segments of 200 bp (each with 400 bp of context: the 1000 bp backbone input) instead of 200,
and Track7878 keeps a tenth of its bins for validation and a tenth for testing, as its few
thousand bins would leave a 1 % split nearly empty.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dnabench.demo.world import World
from dnabench.io.genome import index_genome
from dnabench.progress import stage_progress
from dnabench.tasks.registry import get_prepare

__all__ = ["DEMO_TASKS", "GENEEXP_GEOMETRY", "store_options", "build_stores"]

DEMO_TASKS: tuple[str, ...] = ("promvary", "promfix", "methyl96", "track7878", "geneexp", "causalsnp", "mpraprom")
#: GeneExp's window, segment length and context in the demo: 20 segments, each read as 1000 bp
GENEEXP_GEOMETRY = {"window": 4_000, "segment_length": 200, "context": 400}


def store_options(world: World, task: str, genome: Path, out: Path, overwrite: bool = False) -> dict[str, Any]:
    """The options of `dnabench prepare TASK` that build the demo's store of `task` from `world`."""
    f = world.files
    common = {"genome": genome, "out": out, "overwrite": overwrite}
    if task in ("promvary", "promfix"):
        return {"promoters": f["promoters"], "seed": world.seed, **common}
    if task == "methyl96":
        return {"files": list(f["bedmethyl"]), "quiet": True, **common}
    if task == "track7878":
        return {"peaks": f["tracks"], "split": (0.8, 0.1, 0.1), "seed": world.seed, "quiet": True, **common}
    if task == "geneexp":
        return {"annotation": f["geneanno"], "expression": f["expression"], **GENEEXP_GEOMETRY, **common}
    if task == "causalsnp":
        return {"files": [f["finemapping"]], "seed": world.seed, **common}
    if task == "mpraprom":
        return {"table": f["mpra"], "promoters": f["mpra_promoters"], "release": "GRCh38", "seed": world.seed, **common}
    raise KeyError(f"unknown demo task {task!r}; tasks: {', '.join(DEMO_TASKS)}")


def build_stores(
    world: World,
    stores_dir: str | os.PathLike,
    progress: bool | Callable[[str, int, int], None] = False,
    tasks: tuple[str, ...] = DEMO_TASKS,
    overwrite: bool = False,
) -> dict[str, Path]:
    """Index the world's genome into `stores_dir/genome` and build one store a task under `stores_dir/TASK`.

    `progress` is True (a bar), False, or a callback `(stage, done, total)`. `overwrite` replaces
    stores and a genome cache built before. Returns the store folder of each task.
    """
    stores_dir = Path(stores_dir)
    stores_dir.mkdir(parents=True, exist_ok=True)
    if callable(progress):
        return _build(world, stores_dir, progress, tasks, overwrite)
    with stage_progress(bool(progress)) as update:
        return _build(world, stores_dir, update, tasks, overwrite)


def _build(world: World, stores_dir: Path, update: Callable[[str, int, int], None], tasks: tuple[str, ...], overwrite: bool) -> dict[str, Path]:
    total = len(tasks) + 1
    update("demo stores", 0, total)
    genome = stores_dir / "genome"
    index_genome(world.fasta, genome, softmask=True, overwrite=overwrite, progress=False)
    update("demo stores", 1, total)
    out: dict[str, Path] = {}
    for k, task in enumerate(tasks, start=2):
        out[task] = stores_dir / task
        get_prepare(task)(**store_options(world, task, genome, out[task], overwrite))
        update("demo stores", k, total)
    return out
