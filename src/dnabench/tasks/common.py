"""Pieces every task builder shares: card records of sources and genome, splits, seeds."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dnabench.data.store import SPLITS, sha256_file

__all__ = [
    "source_record",
    "genome_record",
    "guess_build",
    "random_split",
    "chromosome_split",
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


def _cuts(n: int, fractions: Sequence[float]) -> np.ndarray:
    """Sizes of each split for n items: rounded, the last takes the remainder."""
    sizes = [int(round(n * f)) for f in fractions[:-1]]
    sizes.append(n - sum(sizes))
    if sizes[-1] < 0:
        raise ValueError(f"split fractions {list(fractions)} overshoot {n} items")
    return np.array(sizes, dtype=np.int64)


def random_split(
    n: int,
    fractions: Mapping[str, float],
    rng: np.random.Generator,
    strata: np.ndarray | None = None,
) -> np.ndarray:
    """Split names (object array of n) drawn at random in the given fractions.

    With `strata` (e.g. the binary label) each stratum is split on its own, so every split keeps
    the class balance; sizes are round(n_stratum * fraction), the last split taking the remainder.
    """
    names = [s for s in SPLITS if s in fractions]
    frac = np.array([float(fractions[s]) for s in names])
    if (frac < 0).any() or not np.isclose(frac.sum(), 1.0):
        raise ValueError(f"split fractions must be >= 0 and sum to 1, got {dict(fractions)}")
    out = np.empty(n, dtype=object)
    groups = [np.arange(n)] if strata is None else [np.flatnonzero(strata == v) for v in np.unique(strata)]
    for members in groups:
        order = members[rng.permutation(members.size)]
        sizes = _cuts(members.size, frac)
        bounds = np.concatenate([[0], np.cumsum(sizes)])
        for name, lo, hi in zip(names, bounds[:-1], bounds[1:]):
            out[order[lo:hi]] = name
    return out


def chromosome_split(
    chrom_index: np.ndarray, genome: Any, valid: Sequence[str], test: Sequence[str]
) -> tuple[np.ndarray, dict]:
    """Split names by chromosome (names resolved through the genome's aliases: chr12 = 12).

    Returns the split of each row and the rule as written in the card (with the names found in
    this genome and those it lacks).
    """
    out = np.full(chrom_index.shape, "train", dtype=object)
    rule: dict = {"kind": "chromosome", "train": "all other chromosomes"}
    for split, names in (("val", valid), ("test", test)):
        found, absent = [], []
        for name in names:
            if name in genome:
                idx = genome.resolve(name)
                out[chrom_index == idx] = split
                found.append(genome.names[idx])
            else:
                absent.append(name)
        rule[split] = list(names)
        if absent:
            rule[f"{split}_absent_from_genome"] = absent
    return out, rule
