"""F1 / MCC at a threshold and the validation-chosen threshold, against scikit-learn brute force."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.metrics import f1_score, matthews_corrcoef

from dnabench.evaluation import choose_threshold, confusion_counts, f1, mcc, threshold_curve

SK = {"f1": lambda y, pred: f1_score(y, pred, zero_division=0), "mcc": matthews_corrcoef}


def brute_force(y: np.ndarray, p: np.ndarray, metric: str) -> tuple[float, list[float]]:
    """sklearn's metric at every distinct score as threshold (predict p >= t), plus "never positive"."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values = [SK[metric](y, (p >= t).astype(int)) for t in np.unique(p)]
        none = SK[metric](y, np.zeros_like(y, dtype=int))
    return max(values + [none]), values


def case(seed: int, n: int = 120, decimals: int | None = 2):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    p = rng.random(n) * 0.8 + 0.25 * y
    return y, (np.round(p, decimals) if decimals is not None else p)


@pytest.mark.parametrize("metric", ["f1", "mcc"])
@pytest.mark.parametrize("seed,decimals", [(0, None), (1, 2), (2, 1)])
def test_choose_threshold_is_the_brute_force_maximum(metric, seed, decimals):
    y, p = case(seed, decimals=decimals)
    choice = choose_threshold(y, p, metric)
    best, values = brute_force(y, p, metric)
    assert choice.score == pytest.approx(best, abs=1e-12)
    assert choice.metric == metric
    # the returned threshold reaches that score under sklearn, and it is the highest such threshold
    assert SK[metric](y, (p >= choice.threshold).astype(int)) == pytest.approx(best, abs=1e-12)
    uniq = np.unique(p)
    reaching = [t for t, v in zip(uniq, values) if v >= best - 1e-12]
    assert choice.threshold == max(reaching)


@pytest.mark.parametrize("metric", ["f1", "mcc"])
def test_f1_mcc_equal_sklearn(metric):
    y, p = case(3, decimals=2)
    fn = f1 if metric == "f1" else mcc
    for t in (0.0, 0.2, 0.5, 0.77, 1.5):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = SK[metric](y, (p >= t).astype(int))
        assert fn(y, p, t) == pytest.approx(ref, abs=1e-12)


def test_degenerate_cases_match_sklearn_conventions():
    y = np.array([0, 0, 0, 0])
    p = np.array([0.1, 0.4, 0.4, 0.9])
    assert f1(y, p, 0.5) == 0.0 and mcc(y, p, 0.5) == 0.0  # no positives at all
    c = choose_threshold(y, p, "f1")
    assert c.threshold == np.inf and c.score == 0.0  # best is to predict nothing
    y1 = np.array([1, 0, 1, 0])
    assert mcc(y1, np.full(4, 0.3), 0.5) == matthews_corrcoef(y1, np.zeros(4, int)) == 0.0
    assert f1(y1, np.full(4, 0.3), 0.3) == pytest.approx(f1_score(y1, np.ones(4, int)))
    perfect = choose_threshold(y1, np.array([0.9, 0.1, 0.8, 0.2]), "mcc")
    assert perfect.score == 1.0 and perfect.threshold == 0.8
    single = choose_threshold(np.array([1]), np.array([0.3]), "f1")
    assert single.threshold == 0.3 and single.score == 1.0


def test_all_equal_scores():
    y, _ = case(4)
    p = np.full(len(y), 0.42)
    for metric in ("f1", "mcc"):
        choice = choose_threshold(y, p, metric)
        assert choice.score == pytest.approx(brute_force(y, p, metric)[0], abs=1e-12)


def test_multilabel_nan_targets_and_per_label_thresholds():
    rng = np.random.default_rng(5)
    y = (rng.random((150, 4)) < 0.3).astype(np.float32)
    p = np.round(rng.random((150, 4)) * 0.8 + 0.2 * y, 2).astype(np.float32)
    y[rng.random(y.shape) < 0.1] = np.nan
    for metric in ("f1", "mcc"):
        choice = choose_threshold(y, p, metric)
        assert choice.threshold.shape == (4,)
        for j in range(4):
            keep = ~np.isnan(y[:, j])
            best, _ = brute_force(y[keep, j].astype(int), p[keep, j], metric)
            assert choice.score[j] == pytest.approx(best, abs=1e-12)
        fn = f1 if metric == "f1" else mcc
        np.testing.assert_allclose(fn(y, p, choice.threshold), choice.score, atol=1e-12)


def test_threshold_curve_and_confusion_counts():
    y, p = case(6, n=60, decimals=1)
    thr, tp, fp, n_pos, n_neg = threshold_curve(y, p)
    assert thr[0] == np.inf and np.all(np.diff(thr) < 0)
    assert (n_pos, n_neg) == (int(y.sum()), int((1 - y).sum()))
    for k, t in enumerate(thr):
        pred = p >= t
        assert tp[k] == np.sum(pred & (y == 1)) and fp[k] == np.sum(pred & (y == 0))
    c = confusion_counts(y, p, 0.5)
    pred = p >= 0.5
    assert (c["tp"][0], c["fp"][0], c["fn"][0], c["tn"][0]) == (
        np.sum(pred & (y == 1)),
        np.sum(pred & (y == 0)),
        np.sum(~pred & (y == 1)),
        np.sum(~pred & (y == 0)),
    )


def test_validation_errors():
    y, p = case(7)
    with pytest.raises(ValueError, match="metric"):
        choose_threshold(y, p, "accuracy")
    with pytest.raises(ValueError, match="0, 1 or NaN"):
        f1(y * 2, p, 0.5)
    p_nan = p.astype(float).copy()
    p_nan[0] = np.nan
    with pytest.raises(ValueError, match="NaN score"):
        choose_threshold(y, p_nan)
    with pytest.raises(ValueError, match="threshold"):
        f1(np.zeros((5, 2)), np.zeros((5, 2)), np.zeros(3))
