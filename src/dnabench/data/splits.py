"""Split names and the two split rules every builder and table reader shares.

One place for the names (train / val / test and the spellings accepted for them), a seeded
random split (optionally stratified, so each split keeps the class balance) and a split by
chromosome resolved through a genome's aliases (chr12 = 12).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["SPLITS", "SPLIT_ALIASES", "normalise_split", "random_split", "chromosome_split"]

from dnabench.data.split_names import SPLIT_ALIASES, SPLITS, normalise_split  # noqa: E402,F401  (re-exported)


def _cuts(n: int, fractions: Sequence[float]) -> np.ndarray:
    """Sizes of each split for n items: rounded, the last takes the remainder."""
    sizes = [int(round(n * f)) for f in fractions[:-1]]
    sizes.append(n - sum(sizes))
    if sizes[-1] < 0:
        raise ValueError(f"split fractions {list(fractions)} overshoot {n} items")
    return np.array(sizes, dtype=np.int64)


def random_split(
    n: int,
    fractions: Mapping[str, float] | Sequence[float],
    rng: np.random.Generator | int,
    strata: np.ndarray | None = None,
) -> np.ndarray:
    """Split names (object array of n) drawn at random in the given fractions.

    `fractions` maps split names to fractions, or lists them in train, val, test order; `rng`
    is a Generator or a seed. With `strata` (e.g. the binary label) each stratum is split on
    its own, so every split keeps the class balance; sizes are round(n_stratum * fraction),
    the last split taking the remainder.
    """
    if not isinstance(fractions, Mapping):
        values = [float(v) for v in fractions]
        if len(values) != len(SPLITS):
            raise ValueError(f"split fractions must be three numbers (train, val, test), got {list(fractions)}")
        fractions = dict(zip(SPLITS, values))
    if isinstance(rng, (int, np.integer)):
        rng = np.random.default_rng(int(rng))
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
