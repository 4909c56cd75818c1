"""Regression metrics: Spearman and Pearson correlation, mean squared error.

Each comes in two flavours, because papers mean different things by "SpearmanR":

* **flat** (``spearman``, ``pearson``, ``mse``): all (sample, target) pairs pooled into one vector -
  the paper's "SpearmanR across all test samples" (Methyl96, GeneExp, MPRAProm). For a single
  target this is the plain correlation.
* **per target** (``*_per_target``): the metric of every column separately, then the unweighted
  mean over columns (``macro``), with undefined columns skipped and counted.

Definitions, over the pairs where neither the target nor the prediction is NaN:

* Pearson ``r = sum((x - mean x)(y - mean y)) / sqrt(sum (x - mean x)^2 * sum (y - mean y)^2)``.
* Spearman = Pearson of the ranks, ties getting their average rank (``scipy.stats.spearmanr``).
* MSE ``= mean((y_pred - y_true)^2)``.

A correlation is NaN (skipped) with fewer than two pairs or a constant side; MSE is NaN with no
pair. On finite data the results equal ``scipy.stats.spearmanr`` / ``pearsonr`` (up to rounding).
Regression test sets are small, so everything is computed in float64 in memory.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import rankdata

from ._base import LabelScores, summarize

__all__ = [
    "mse",
    "mse_per_target",
    "pearson",
    "pearson_per_target",
    "regression_metrics",
    "spearman",
    "spearman_per_target",
]


def _pair(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    if t.shape != p.shape:
        raise ValueError(f"y_true has shape {t.shape} but y_pred has shape {p.shape}")
    if t.ndim == 1:
        t, p = t[:, None], p[:, None]
    elif t.ndim != 2:
        raise ValueError(f"expected 1-D [N] or 2-D [N, T] arrays, got {t.ndim}-D")
    return t, p


def _pearson_columns(x: np.ndarray, y: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Pearson r of every column of x and y over the rows where ``valid`` (NaN if undefined)."""
    n = valid.sum(axis=0)
    xz = np.where(valid, x, 0.0)
    yz = np.where(valid, y, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        xc = np.where(valid, xz - xz.sum(axis=0) / n, 0.0)
        yc = np.where(valid, yz - yz.sum(axis=0) / n, 0.0)
        # scale by the largest deviation first (as scipy) so huge values cannot overflow the squares
        xc /= np.max(np.abs(xc), axis=0, initial=0.0)
        yc /= np.max(np.abs(yc), axis=0, initial=0.0)
        r = (xc * yc).sum(axis=0) / np.sqrt((xc * xc).sum(axis=0) * (yc * yc).sum(axis=0))
    r = np.clip(r, -1.0, 1.0)
    r[(n < 2) | ~np.isfinite(r)] = np.nan
    return r


def _ranks_columns(x: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Average ranks per column among the valid rows (invalid rows get NaN)."""
    out = np.full(x.shape, np.nan)
    full = valid.all(axis=0)
    if full.any():
        out[:, full] = rankdata(x[:, full], axis=0)
    for j in np.flatnonzero(~full):
        v = valid[:, j]
        out[v, j] = rankdata(x[v, j])
    return out


def pearson_per_target(y_true: Any, y_pred: Any) -> LabelScores:
    """Pearson r of every target column (NaN pairs ignored per column) and their macro mean."""
    t, p = _pair(y_true, y_pred)
    valid = ~(np.isnan(t) | np.isnan(p))
    return summarize("pearson", _pearson_columns(t, p, valid))


def spearman_per_target(y_true: Any, y_pred: Any) -> LabelScores:
    """Spearman rho of every target column (NaN pairs ignored per column) and their macro mean."""
    t, p = _pair(y_true, y_pred)
    valid = ~(np.isnan(t) | np.isnan(p))
    rt, rp = _ranks_columns(t, valid), _ranks_columns(p, valid)
    return summarize("spearman", _pearson_columns(rt, rp, valid))


def _flat(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    t, p = _pair(y_true, y_pred)
    t, p = t.ravel(), p.ravel()
    keep = ~(np.isnan(t) | np.isnan(p))
    return t[keep, None], p[keep, None]


def pearson(y_true: Any, y_pred: Any) -> float:
    """Pearson r over all (sample, target) pairs pooled, NaN pairs dropped (= ``scipy.stats.pearsonr``)."""
    t, p = _flat(y_true, y_pred)
    return float(_pearson_columns(t, p, np.ones(t.shape, bool))[0])


def spearman(y_true: Any, y_pred: Any) -> float:
    """Spearman rho over all (sample, target) pairs pooled, NaN pairs dropped (= ``scipy.stats.spearmanr``)."""
    t, p = _flat(y_true, y_pred)
    if t.shape[0] == 0:
        return float("nan")
    return float(_pearson_columns(rankdata(t, axis=0), rankdata(p, axis=0), np.ones(t.shape, bool))[0])


def mse(y_true: Any, y_pred: Any) -> float:
    """Mean squared error over all pairs where neither side is NaN (NaN if there is none)."""
    t, p = _flat(y_true, y_pred)
    return float(np.mean((p - t) ** 2)) if t.size else float("nan")


def mse_per_target(y_true: Any, y_pred: Any) -> LabelScores:
    """MSE of every target column over its non-NaN pairs, and their macro mean."""
    t, p = _pair(y_true, y_pred)
    valid = ~(np.isnan(t) | np.isnan(p))
    n = valid.sum(axis=0)
    sq = np.where(valid, (p - t) ** 2, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        per = np.where(n > 0, sq / n, np.nan)
    return summarize("mse", per)


def regression_metrics(y_true: Any, y_pred: Any) -> dict[str, float]:
    """All regression numbers at once: flat and per-target-macro Spearman and Pearson, flat MSE."""
    return {
        "spearman": spearman(y_true, y_pred),
        "spearman_per_target": spearman_per_target(y_true, y_pred).macro,
        "pearson": pearson(y_true, y_pred),
        "pearson_per_target": pearson_per_target(y_true, y_pred).macro,
        "mse": mse(y_true, y_pred),
    }
