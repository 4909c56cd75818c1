"""Motif PWMs: instances follow the conservation, scores are log-odds, best_match finds planted sites."""

from __future__ import annotations

import numpy as np
import pytest

from dnabench.alphabet import reverse_complement
from dnabench.synthetic.motifs import MOTIFS, Motif, best_match, motif


def test_instances_follow_the_conservation():
    m = MOTIFS["CTCF"]
    codes = m.sample(np.random.default_rng(0), 20_000)
    share = (codes == m.codes[None]).mean(axis=0)
    assert np.allclose(share, m.conservation, atol=0.02)
    assert np.allclose(m.pwm.sum(axis=1), 1.0)


def test_score_is_log_odds_and_the_consensus_scores_most():
    m = MOTIFS["TATA"]
    assert m.score(m.codes) == pytest.approx(m.max_score)
    other = m.codes.copy()
    other[2] = (other[2] + 1) % 4
    expected = m.max_score - np.log(m.conservation[2] / 0.25) + np.log((1 - m.conservation[2]) / 3 / 0.25)
    assert m.score(other) == pytest.approx(expected)
    assert m.score(np.full(m.length, 4)) == 0.0  # N scores nothing


def test_best_match_finds_a_planted_site_on_its_strand():
    rng = np.random.default_rng(1)
    m = MOTIFS["GATA"]  # not a palindrome (CEBP is)
    seq = rng.integers(0, 4, 300).astype(np.uint8)
    seq[120 : 120 + m.length] = reverse_complement(m.codes)
    offset, strand, score = best_match(m, seq)
    assert (offset, strand) == (120, "-") and score == pytest.approx(m.max_score)


def test_bad_motifs_are_refused():
    with pytest.raises(ValueError, match="conservation"):
        Motif("X", "ACGT", (0.9, 0.9, 0.9))
    with pytest.raises(KeyError, match="unknown motif"):
        motif("NOPE")
    with pytest.raises(ValueError, match="shorter"):
        best_match(MOTIFS["CTCF"], np.zeros(5, np.uint8))
