"""Split names and rules: one definition of train/val/test, random (stratified) and chromosome splits."""

from __future__ import annotations

import numpy as np
import pytest

from dnabench.data.splits import SPLITS, chromosome_split, normalise_split, random_split


def test_names_and_aliases():
    assert SPLITS == ("train", "val", "test")
    assert [normalise_split(s) for s in ("Train", "valid", "validation", "dev", "testing", " test ")] == ["train", "val", "val", "val", "test", "test"]
    with pytest.raises(KeyError, match="unknown split 'holdout'"):
        normalise_split("holdout")


def test_random_split_sizes_seed_and_strata():
    a = random_split(1000, (0.8, 0.1, 0.1), 3)
    assert [int((a == s).sum()) for s in SPLITS] == [800, 100, 100]
    assert np.array_equal(a, random_split(1000, {"train": 0.8, "val": 0.1, "test": 0.1}, np.random.default_rng(3)))
    assert not np.array_equal(a, random_split(1000, (0.8, 0.1, 0.1), 4))
    label = np.r_[np.ones(300), np.zeros(700)]
    b = random_split(1000, (0.8, 0.1, 0.1), 0, strata=label)
    for s in SPLITS:
        assert label[b == s].mean() == pytest.approx(0.3, abs=0.01)
    with pytest.raises(ValueError, match="sum to 1"):
        random_split(10, (0.5, 0.5, 0.5), 0)
    with pytest.raises(ValueError, match="three numbers"):
        random_split(10, (0.5, 0.5), 0)


def test_chromosome_split_resolves_aliases(genome):
    ci = np.array([genome.resolve("chr1"), genome.resolve("chr2"), genome.resolve("chr1")])
    split, rule = chromosome_split(ci, genome, valid=["2"], test=["chrZ"])
    assert split.tolist() == ["train", "val", "train"]
    assert rule["val"] == ["2"] and rule["test_absent_from_genome"] == ["chrZ"]
