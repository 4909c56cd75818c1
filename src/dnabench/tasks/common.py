"""Pieces every task builder shares: card records of sources and genome, seeds (splits: `dnabench.data.splits`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from dnabench.io.files import sha256_file

__all__ = [
    "as_genome",
    "known_chromosomes",
    "source_record",
    "genome_record",
    "guess_build",
    "child_rngs",
]

# chr1 length -> assembly name, to fill the card when the caller does not say
_CHR1_LENGTHS = {248_956_422: "hg38", 249_250_621: "hg19", 248_387_328: "hs1"}


def source_record(path: str | os.PathLike, role: str) -> dict:
    path = Path(path)
    return {
        "role": role,
        "name": path.name,
        "path": str(path.resolve()),
        "bytes": path.stat().st_size,
        "sha256": sha256_file(path),
    }


def guess_build(genome: Any) -> str | None:
    """hg38 / hg19 / hs1 from the length of chr1, else None."""
    try:
        return _CHR1_LENGTHS.get(genome.length("chr1"))
    except KeyError:
        return None


def genome_record(genome: Any, build: str | None = None) -> dict:
    src = genome.meta.get("source", {})
    return {
        "build": build or guess_build(genome),
        "cache_path": str(Path(genome.path).resolve()),
        "source_path": src.get("path"),
        "source_format": src.get("format"),
        "source_sha256": src.get("sha256"),
        "sequences": len(genome),
        "total_length": int(genome.lengths.sum()),
    }


def child_rngs(seed: int, n: int) -> list[np.random.Generator]:
    """Independent generators for the separate random steps of one build.

    Changing how many draws one step makes does not move the others (positions of negatives do
    not change when the offsets of positives are drawn differently, and so on).
    """
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n)]


def as_genome(genome: Any) -> Any:
    """An open genome cache: `genome` itself, or the cache at that path."""
    if hasattr(genome, "fetch_batch"):
        return genome
    from dnabench.io.genome import open_genome

    return open_genome(genome)


def known_chromosomes(genome: Any, limit: int = 30) -> str:
    """The genome's sequence names for an error message, cut after `limit`."""
    names = genome.names
    return ", ".join(names[:limit]) + (f", ... ({len(names)} in all)" if len(names) > limit else "")
