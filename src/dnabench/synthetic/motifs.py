"""Motifs of the synthetic world as position weight matrices: sampling instances and scoring them.

Every planted signal (promoter elements, TF sites, enhancers, the motifs that variants break or
make) is an instance of one of these motifs. A motif is a consensus plus a per-position
conservation: instances are drawn base by base from the PWM, so they vary as real sites do, and
the log-odds score of any sequence against the PWM is the one measure of "how much motif" that
methylation, expression, fine-mapping and MPRA effects are computed from.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from dnabench.alphabet import encode, reverse_complement

__all__ = ["Motif", "MOTIFS", "PROMOTER_ELEMENTS", "TF_MOTIFS", "motif", "best_match"]


@dataclass(frozen=True)
class Motif:
    """A consensus with the probability of the consensus base at each position."""

    name: str
    consensus: str
    conservation: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.conservation) != len(self.consensus):
            raise ValueError(f"motif {self.name}: {len(self.conservation)} conservation values for {len(self.consensus)} bases")
        if not all(0.25 < c < 1 for c in self.conservation):
            raise ValueError(f"motif {self.name}: conservation must lie in (0.25, 1)")

    @property
    def length(self) -> int:
        return len(self.consensus)

    @cached_property
    def codes(self) -> np.ndarray:
        return encode(self.consensus)

    @cached_property
    def pwm(self) -> np.ndarray:
        """Base probabilities [length, 4]: the consensus base gets its conservation, the others share the rest."""
        cons = np.asarray(self.conservation)
        probs = np.repeat(((1 - cons) / 3)[:, None], 4, axis=1)
        probs[np.arange(self.length), self.codes] = cons
        return probs

    @cached_property
    def log_odds(self) -> np.ndarray:
        """log(p / 0.25) [length, 4]: the score of a base at each position against a uniform background."""
        return np.log(self.pwm / 0.25)

    @cached_property
    def max_score(self) -> float:
        return float(self.log_odds.max(axis=1).sum())

    def sample(self, rng: np.random.Generator, n: int = 1) -> np.ndarray:
        """`n` instances drawn from the PWM, uint8 codes [n, length]."""
        cum = np.cumsum(self.pwm, axis=1)
        u = rng.random((n, self.length, 1))
        return (u > cum[None]).sum(axis=2).astype(np.uint8).clip(0, 3)

    def score(self, codes: np.ndarray) -> np.ndarray:
        """Log-odds of each row of `codes` [..., length] read on its given strand (N scores 0)."""
        codes = np.asarray(codes)
        table = np.vstack([self.log_odds.T, np.zeros((1, self.length))])  # [5, length], N = 0
        return table[codes, np.arange(self.length)].sum(axis=-1)


def _motif(name: str, consensus: str, low: float, high: float, seed: int) -> Motif:
    """A motif whose conservation runs from `low` to `high`, fixed by `seed` so the world never changes."""
    rng = np.random.default_rng(seed)
    return Motif(name, consensus, tuple(np.round(rng.uniform(low, high, len(consensus)), 3).tolist()))


#: core promoter elements (paper 4.1.1): TATA box ~-30, CAAT box ~-80, GC box (Sp1) -40..-110
PROMOTER_ELEMENTS: dict[str, Motif] = {
    "TATA": _motif("TATA", "TATAAAAG", 0.75, 0.97, 1),
    "CAAT": _motif("CAAT", "GGCCAATCT", 0.7, 0.97, 2),
    "GCBOX": _motif("GCBOX", "GGGGCGGGG", 0.7, 0.95, 3),
}

#: transcription factor motifs: the TF tracks, enhancers, fine-mapped variants and MPRA elements use them
TF_MOTIFS: dict[str, Motif] = {
    "CTCF": _motif("CTCF", "CCACCAGGGGGCGC", 0.7, 0.97, 11),
    "EBOX": _motif("EBOX", "CCACGTGG", 0.75, 0.97, 12),
    "GATA": _motif("GATA", "AGATAAGA", 0.75, 0.97, 13),
    "AP1": _motif("AP1", "ATGACTCAT", 0.75, 0.97, 14),
    "ETS": _motif("ETS", "ACCGGAAGT", 0.75, 0.97, 15),
    "NFKB": _motif("NFKB", "GGGAATTTCC", 0.75, 0.97, 16),
    "FOXA": _motif("FOXA", "TGTTTACTTA", 0.75, 0.97, 17),
    "CEBP": _motif("CEBP", "ATTGCGCAAT", 0.75, 0.97, 18),
}

MOTIFS: dict[str, Motif] = {**PROMOTER_ELEMENTS, **TF_MOTIFS}


def motif(name: str) -> Motif:
    """A motif of the world by name."""
    if name not in MOTIFS:
        raise KeyError(f"unknown motif {name!r}; motifs: {', '.join(MOTIFS)}")
    return MOTIFS[name]


def best_match(m: Motif, codes: np.ndarray) -> tuple[int, str, float]:
    """(offset, strand, score) of the best-scoring placement of `m` in `codes`, either strand."""
    codes = np.asarray(codes)
    if codes.size < m.length:
        raise ValueError(f"sequence of {codes.size} bases is shorter than motif {m.name} ({m.length})")
    view = np.lib.stride_tricks.sliding_window_view(codes, m.length)
    plus = m.score(view)
    minus = m.score(reverse_complement(view))
    i_plus, i_minus = int(np.argmax(plus)), int(np.argmax(minus))
    if plus[i_plus] >= minus[i_minus]:
        return i_plus, "+", float(plus[i_plus])
    return i_minus, "-", float(minus[i_minus])
