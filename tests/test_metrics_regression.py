"""Spearman / Pearson / MSE, flat and per target, against SciPy and scikit-learn."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import mean_squared_error

from dnabench.evaluation import (
    mse,
    mse_per_target,
    pearson,
    pearson_per_target,
    regression_metrics,
    spearman,
    spearman_per_target,
)


def data(seed: int = 0, n: int = 300, targets: int = 6, decimals: int | None = 1):
    rng = np.random.default_rng(seed)
    t = rng.normal(size=(n, targets))
    p = 0.6 * t + rng.normal(size=(n, targets))
    if decimals is not None:  # ties on both sides
        t, p = np.round(t, decimals), np.round(p, decimals)
    return t, p


@pytest.mark.parametrize("decimals", [None, 1, 0])
def test_flat_equals_scipy(decimals):
    t, p = data(decimals or 1, decimals=decimals)
    assert spearman(t, p) == pytest.approx(spearmanr(t.ravel(), p.ravel()).statistic, abs=1e-12)
    assert pearson(t, p) == pytest.approx(pearsonr(t.ravel(), p.ravel()).statistic, abs=1e-12)
    assert mse(t, p) == pytest.approx(mean_squared_error(t.ravel(), p.ravel()), rel=1e-12)


def test_per_target_equals_scipy():
    t, p = data(2)
    sp = spearman_per_target(t, p)
    pe = pearson_per_target(t, p)
    ms = mse_per_target(t, p)
    ref_s = [spearmanr(t[:, j], p[:, j]).statistic for j in range(t.shape[1])]
    ref_p = [pearsonr(t[:, j], p[:, j]).statistic for j in range(t.shape[1])]
    np.testing.assert_allclose(sp.per_label, ref_s, atol=1e-12)
    np.testing.assert_allclose(pe.per_label, ref_p, atol=1e-12)
    np.testing.assert_allclose(ms.per_label, ((t - p) ** 2).mean(axis=0), rtol=1e-12)
    assert sp.macro == pytest.approx(np.mean(ref_s), abs=1e-12)
    assert (sp.n_used, sp.n_skipped) == (6, 0)


def test_1d_input():
    t, p = data(3, targets=1)
    t, p = t[:, 0], p[:, 0]
    assert spearman(t, p) == pytest.approx(spearmanr(t, p).statistic, abs=1e-12)
    assert spearman_per_target(t, p).macro == pytest.approx(spearmanr(t, p).statistic, abs=1e-12)
    assert pearson(t, p) == pytest.approx(pearsonr(t, p).statistic, abs=1e-12)


def test_nan_pairs_are_dropped():
    t, p = data(4)
    rng = np.random.default_rng(4)
    t[rng.random(t.shape) < 0.15] = np.nan
    p[rng.random(p.shape) < 0.05] = np.nan
    ok = ~(np.isnan(t) | np.isnan(p))
    ref_flat = spearmanr(t[ok], p[ok]).statistic
    assert spearman(t, p) == pytest.approx(ref_flat, abs=1e-12)
    assert pearson(t, p) == pytest.approx(pearsonr(t[ok], p[ok]).statistic, abs=1e-12)
    assert mse(t, p) == pytest.approx(np.mean((t[ok] - p[ok]) ** 2), rel=1e-12)
    sp = spearman_per_target(t, p)
    pe = pearson_per_target(t, p)
    ms = mse_per_target(t, p)
    for j in range(t.shape[1]):
        k = ok[:, j]
        assert sp.per_label[j] == pytest.approx(spearmanr(t[k, j], p[k, j]).statistic, abs=1e-12)
        assert pe.per_label[j] == pytest.approx(pearsonr(t[k, j], p[k, j]).statistic, abs=1e-12)
        assert ms.per_label[j] == pytest.approx(np.mean((t[k, j] - p[k, j]) ** 2), rel=1e-12)


def test_constant_and_too_short_columns_are_skipped():
    t, p = data(5, n=50, targets=4)
    t[:, 1] = 0.5  # constant target
    p[:, 2] = np.nan
    p[0, 2] = 1.0  # a single valid pair
    sp = spearman_per_target(t, p)
    pe = pearson_per_target(t, p)
    for r in (sp, pe):
        assert np.isnan(r.per_label[[1, 2]]).all()
        assert (r.n_used, r.n_skipped) == (2, 2)
        assert r.macro == pytest.approx(np.nanmean(r.per_label))
    assert mse_per_target(t, p).n_skipped == 0
    assert mse_per_target(t, np.full_like(p, np.nan)).n_skipped == 4


def test_single_sample_and_constant_input():
    assert np.isnan(spearman([1.0], [2.0]))
    assert np.isnan(pearson([1.0], [2.0]))
    assert mse([1.0], [3.0]) == 4.0
    assert np.isnan(spearman([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))
    assert np.isnan(mse([np.nan], [1.0]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.isnan(spearmanr([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]).statistic)  # same convention


def test_perfect_and_inverted():
    x = np.random.default_rng(6).normal(size=(100, 3))
    assert spearman(x, 2 * x + 1) == pytest.approx(1.0)
    assert pearson(x, 2 * x + 1) == pytest.approx(1.0)
    assert spearman(x, np.exp(-x)) == pytest.approx(-1.0)  # monotone, not linear
    np.testing.assert_allclose(spearman_per_target(x, -x).per_label, -1.0)
    assert mse(x, x) == 0.0


def test_float32_input():
    t, p = data(7, decimals=None)
    t32, p32 = t.astype(np.float32), p.astype(np.float32)
    assert spearman(t32, p32) == pytest.approx(spearmanr(t32.ravel(), p32.ravel()).statistic, abs=1e-9)
    assert pearson(t32, p32) == pytest.approx(
        pearsonr(t32.ravel().astype(np.float64), p32.ravel().astype(np.float64)).statistic, abs=1e-9
    )
    assert isinstance(mse(t32, p32), float)


def test_regression_metrics_and_validation():
    t, p = data(8)
    out = regression_metrics(t, p)
    assert set(out) == {"spearman", "spearman_per_target", "pearson", "pearson_per_target", "mse"}
    assert out["spearman"] == spearman(t, p)
    with pytest.raises(ValueError, match="shape"):
        spearman(t, p[:, :2])
