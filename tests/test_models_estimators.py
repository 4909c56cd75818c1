"""Estimators: the k-mer spectrum against a plain count, per-label fits on unmasked rows only, save and
load to the same numbers, options checked, untrusted .skops content refused."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from dnabench.alphabet import decode, encode, reverse_complement
from dnabench.models.estimators import (
    build_estimator,
    canonical_kmer_columns,
    estimator_config,
    is_estimator_dir,
    kmer_spectrum,
    load_estimator,
)

SKOPS = "skops (a dnabench dependency: pip install -e .) is not installed; scikit-learn models cannot be saved"


def _rc(text: str) -> str:
    return text[::-1].translate(str.maketrans("ACGT", "TGCA"))


def _direct_spectrum(seq: str, k: int) -> dict[str, int]:
    """Canonical k-mer counts of one sequence by a plain loop over its positions."""
    counts: Counter[str] = Counter()
    for i in range(len(seq) - k + 1):
        word = seq[i : i + k]
        if "N" in word:
            continue
        counts[min(word, _rc(word))] += 1
    return dict(counts)


def _column_of(word: str, k: int) -> int:
    column, _ = canonical_kmer_columns(k)
    index = 0
    for letter in word:
        index = index * 4 + "ACGT".index(letter)
    return int(column[index])


@pytest.mark.parametrize("k", [1, 3, 4])
def test_the_spectrum_of_a_sequence_is_its_direct_count(k):
    rng = np.random.default_rng(k)
    codes = rng.integers(0, 4, size=(5, 60)).astype(np.uint8)
    codes[1, 10] = codes[3, 0] = codes[3, 59] = 4  # N: k-mers holding it are skipped
    codes[4, :] = 4  # a row of N has no k-mer
    got = kmer_spectrum(codes, k)
    _, width = canonical_kmer_columns(k)
    assert got.shape == (5, width) and got.dtype == np.float32
    for row in range(5):
        direct = _direct_spectrum(decode(codes[row]), k)
        total = sum(direct.values())
        want = np.zeros(width, dtype=np.float64)
        for word, n in direct.items():
            want[_column_of(word, k)] = n / total if total else 0.0
        np.testing.assert_allclose(got[row], want, rtol=1e-6, atol=0)
    assert not got[4].any()


def test_canonical_columns_fold_each_kmer_with_its_reverse_complement():
    column, width = canonical_kmer_columns(2)
    assert width == 10  # 16 dimers: 4 palindromes + 6 pairs
    assert _column_of("AC", 2) == _column_of("GT", 2) and _column_of("AT", 2) != _column_of("TA", 2)
    codes = encode("ACGTTGCAAGGCTTANNACCGTAGCTAGGGATCCATTTAAAGGCC")[None]
    for k in (3, 6):
        np.testing.assert_array_equal(kmer_spectrum(codes, k), kmer_spectrum(reverse_complement(codes), k))


def test_unknown_options_and_bad_values_are_named():
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['n_trees'\].*n_estimators"):
        estimator_config("random_forest", {"n_trees": 10})
    with pytest.raises(ValueError, match="learning_rate must be > 0"):
        estimator_config("xgboost", {"learning_rate": 0})
    with pytest.raises(ValueError, match="max_features must be"):
        estimator_config("random_forest", {"max_features": "half"})
    with pytest.raises(ValueError, match="device must be auto, cpu or cuda"):
        estimator_config("xgboost", {"device": "tpu"})
    with pytest.raises(ValueError, match="unknown estimator"):
        estimator_config("svm", {})
    config = estimator_config("kmer_lr", {"C": "1e-2", "k": 4.0, "class_weight": "none"})  # as YAML may give them
    assert (config.C, config.k, config.class_weight) == (0.01, 4, None)
    assert estimator_config("random_forest", {"max_features": 0.5}).max_features == 0.5


def _planted(n: int = 300, seed: int = 0):
    """Two labels: `a` follows feature 0 everywhere; `b` follows feature 1 where it is set and is
    NaN on every row where feature 1 would say the opposite, so a fit that used those rows with
    any filled-in value would learn another model."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = np.zeros((n, 2), dtype=np.float32)
    y[:, 0] = x[:, 0] > 0
    y[:, 1] = x[:, 1] > 0
    masked = rng.random(n) < 0.4
    y[masked, 1] = np.nan
    return x, y, masked


def test_the_random_forest_of_a_label_is_fitted_on_its_unmasked_rows_only():
    from sklearn.ensemble import RandomForestClassifier

    x, y, masked = _planted()
    config = estimator_config("random_forest", {"n_estimators": 25, "n_jobs": 1})
    model = build_estimator("random_forest", config, ["a", "b"], regression=False).fit(x, y)
    assert [f["rows"] for f in model.fits] == [len(x), int((~masked).sum())]
    alone = RandomForestClassifier(n_estimators=25, class_weight="balanced", n_jobs=1, random_state=0).fit(x[~masked], y[~masked, 1])
    filled = RandomForestClassifier(n_estimators=25, class_weight="balanced", n_jobs=1, random_state=0).fit(x, np.nan_to_num(y[:, 1]))
    probe = np.random.default_rng(9).normal(size=(200, 4)).astype(np.float32)
    got = model.predict(probe)
    np.testing.assert_array_equal(got[:, 1], alone.predict_proba(probe)[:, 1].astype(np.float32))
    assert not np.array_equal(got[:, 1], filled.predict_proba(probe)[:, 1].astype(np.float32))


def test_random_forest_saves_and_loads_to_the_same_numbers(tmp_path):
    pytest.importorskip("skops", reason=SKOPS)
    x, y, _ = _planted()
    model = build_estimator("random_forest", {"n_estimators": 20, "n_jobs": 1, "seed": 3}, ["a", "b"], regression=False).fit(x, y)
    before = model.predict(x)
    model.save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "config.json").read_text())
    assert meta["model"] == "random_forest" and meta["input"] == "features" and meta["input_shape"] == [4]
    assert meta["config"]["seed"] == 3 and meta["label_names"] == ["a", "b"] and "dnabench" in meta
    assert is_estimator_dir(tmp_path / "m")
    np.testing.assert_array_equal(load_estimator(tmp_path / "m").predict(x), before)
    with pytest.raises(ValueError, match="features of width 3"):
        load_estimator(tmp_path / "m").predict(x[:, :3])


def test_xgboost_stops_early_on_validation_and_loads_to_the_same_numbers(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 6)).astype(np.float32)
    y = (x[:, 0] * 2 + np.sin(x[:, 1]) + rng.normal(scale=0.3, size=400)).astype(np.float32)[:, None]
    y[::7] = np.nan
    options = {"n_estimators": 300, "learning_rate": 0.3, "early_stopping_rounds": 5, "n_jobs": 1, "device": "cpu"}
    model = build_estimator("xgboost", options, ["effect"], regression=True).fit(x[:300], y[:300], x[300:], y[300:])
    fit = model.fits[0]
    assert fit["rows"] == int(np.isfinite(y[:300]).sum()) and fit["best_iteration"] < fit["rounds"] <= 300
    before = model.predict(x)
    model.save(tmp_path / "x")
    assert (tmp_path / "x" / "label_0000.ubj").is_file()
    np.testing.assert_array_equal(load_estimator(tmp_path / "x").predict(x), before)
    classifier = build_estimator("xgboost", {**options, "n_estimators": 20}, ["hit"], regression=False)
    classifier.fit(x[:300], (x[:300, :1] > 0).astype(np.float32))
    probs = classifier.predict(x)
    assert probs.min() >= 0 and probs.max() <= 1
    classifier.save(tmp_path / "c")
    np.testing.assert_array_equal(load_estimator(tmp_path / "c").predict(x), probs)


def test_kmer_lr_saves_and_loads_and_a_one_class_label_is_a_constant(tmp_path):
    pytest.importorskip("skops", reason=SKOPS)
    rng = np.random.default_rng(2)
    codes = rng.integers(0, 4, size=(200, 50)).astype(np.uint8)
    gc = np.isin(codes, (1, 2)).mean(axis=1)
    y = np.stack([gc > np.median(gc), np.zeros(200)], axis=1).astype(np.float32)
    with pytest.warns(UserWarning, match="label 'none': every training row is 0"):
        model = build_estimator("kmer_lr", {"k": 2, "C": 1.0, "n_jobs": 2}, ["gc", "none"], regression=False).fit(codes, y)
    before = model.predict(codes)
    assert (before[:, 1] == 0).all()
    model.save(tmp_path / "k")
    np.testing.assert_array_equal(load_estimator(tmp_path / "k").predict(codes), before)
    with pytest.raises(ValueError, match="reads uint8 sequence codes"):
        model.predict(codes.astype(np.float32))


class Handmade:
    """A type outside scikit-learn and NumPy: loading a .skops file that holds one must be refused."""

    def __init__(self) -> None:
        self.value = 1


def test_a_skops_file_with_types_outside_sklearn_and_numpy_is_refused(tmp_path):
    sio = pytest.importorskip("skops.io", reason=SKOPS)
    from dnabench.models.estimators import _load_sklearn

    sio.dump({"model": Handmade()}, tmp_path / "bad.skops")
    with pytest.raises(ValueError, match="outside scikit-learn and NumPy.*Handmade"):
        _load_sklearn(tmp_path / "bad.skops")


def test_kmer_lr_chooses_its_regularisation_on_the_validation_rows():
    from dnabench.models.estimators import C_GRID, FALLBACK_C

    rng = np.random.default_rng(4)
    codes = rng.integers(0, 4, size=(300, 40)).astype(np.uint8)
    gc = np.isin(codes, (1, 2)).mean(axis=1)
    y = (gc + rng.normal(0, 0.05, 300) > np.median(gc)).astype(np.float32)[:, None]
    model = build_estimator("kmer_lr", {"k": 2}, ["gc"], regression=False).fit(codes[:200], y[:200], codes[200:], y[200:])
    fit = model.fits[0]
    scores = {float(c): v for c, v in fit["val_auroc_by_C"].items()}
    assert fit["C_chosen_by"] == "validation AUROC" and set(scores) == set(C_GRID)
    assert scores[fit["C"]] == max(scores.values())
    alone = build_estimator("kmer_lr", {"k": 2}, ["gc"], regression=False).fit(codes[:200], y[:200])
    assert alone.fits[0]["C"] == FALLBACK_C
    given = build_estimator("kmer_lr", {"k": 2, "C": 0.5}, ["gc"], regression=False).fit(codes[:200], y[:200], codes[200:], y[200:])
    assert "C" not in given.fits[0]
