"""Thresholded binary metrics (F1, MCC) and the choice of the threshold on the validation set.

The paper (appendix A.1/A.3) turns probabilities into decisions with a threshold "determined by the
validation set"; here that means: the threshold that maximises F1 or MCC on validation, then applied
unchanged to the test set. Convention everywhere: **predict positive iff score >= threshold**.

* ``F1 = 2 TP / (2 TP + FP + FN)``; 0 when there is no positive target and no positive prediction
  (sklearn's ``f1_score`` with ``zero_division=0``).
* ``MCC = (TP TN - FP FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN))``; 0 when any factor is 0
  (as ``sklearn.metrics.matthews_corrcoef``).

Samples whose target is NaN are ignored. For [N, L] inputs every label gets its own threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ._base import as_2d, float_scores

__all__ = ["ThresholdChoice", "choose_threshold", "confusion_counts", "f1", "mcc", "threshold_curve"]

Metric = Literal["f1", "mcc"]


@dataclass(frozen=True)
class ThresholdChoice:
    """Chosen threshold(s) and the validation score they reach (float for 1-D input, [L] arrays for 2-D)."""

    metric: str
    threshold: float | np.ndarray
    """Predict positive iff score >= threshold. +inf means "never positive" (only chosen when no
    candidate beats it, e.g. a label without positives)."""
    score: float | np.ndarray
    """F1 or MCC on the validation data at ``threshold``."""


def _f1_from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    tp, fp, fn = (np.asarray(a, dtype=np.float64) for a in (tp, fp, fn))
    den = 2 * tp + fp + fn
    return np.divide(2 * tp, den, out=np.zeros_like(den), where=den > 0)


def _mcc_from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, tn: np.ndarray) -> np.ndarray:
    tp, fp, fn, tn = (np.asarray(a, dtype=np.float64) for a in (tp, fp, fn, tn))
    den = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return np.divide(tp * tn - fp * fn, den, out=np.zeros_like(den), where=den > 0)


def _clean_1d(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop missing targets; validate 0/1 targets and finite-or-infinite (not NaN) scores."""
    if y.dtype.kind == "f":
        keep = ~np.isnan(y)
        if not keep.all():
            y, p = y[keep], p[keep]
    pos = y == 1
    if not np.all(pos | (y == 0)):
        raise ValueError("targets must be 0, 1 or NaN (missing)")
    if np.isnan(p).any():
        raise ValueError("NaN score for a sample with a (non-missing) target")
    return pos, p


def threshold_curve(y_true: Any, y_score: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """Confusion counts at every candidate threshold of one label, vectorised by one sort.

    Returns ``(thresholds, tp, fp, n_pos, n_neg)`` with thresholds descending: ``+inf`` (predict
    nothing) followed by every distinct score; ``tp[k]``/``fp[k]`` count samples with
    score >= thresholds[k]. Missing (NaN) targets are dropped first.
    """
    y = np.asarray(y_true)
    p = float_scores(np.asarray(y_score))
    if y.shape != p.shape or y.ndim != 1:
        raise ValueError(f"expected two 1-D arrays of equal length, got {y.shape} and {p.shape}")
    pos, p = _clean_1d(y, p)
    order = np.argsort(p)[::-1]  # order within ties is irrelevant: counts are read at tie ends
    ps = p[order]
    tp_cum = np.cumsum(pos[order], dtype=np.int64)
    n = ps.shape[0]
    ends = np.flatnonzero(np.r_[ps[1:] != ps[:-1], True]) if n else np.zeros(0, np.intp)
    tp = np.r_[0, tp_cum[ends]]
    fp = np.r_[0, ends + 1 - tp_cum[ends]]
    thresholds = np.r_[np.inf, ps[ends].astype(np.float64)]
    n_pos = int(tp_cum[-1]) if n else 0
    return thresholds, tp, fp, n_pos, n - n_pos


def _choose_1d(y: np.ndarray, p: np.ndarray, metric: Metric) -> tuple[float, float]:
    thr, tp, fp, n_pos, n_neg = threshold_curve(y, p)
    fn = n_pos - tp
    if metric == "f1":
        values = _f1_from_counts(tp, fp, fn)
    else:
        values = _mcc_from_counts(tp, fp, fn, n_neg - fp)
    k = int(np.argmax(values))  # first maximum = highest threshold among ties
    return float(thr[k]), float(values[k])


def choose_threshold(y_val: Any, p_val: Any, metric: Metric = "f1") -> ThresholdChoice:
    """The threshold maximising F1 or MCC on validation data, over all distinct scores.

    Candidates are ``+inf`` (predict nothing) and every distinct validation score ``s`` (predict
    positive iff score >= s); each is scored from cumulative counts after one sort, so the cost is
    O(N log N) per label. Ties in the metric go to the highest threshold. [N, L] inputs give one
    threshold per label (arrays of length L).
    """
    if metric not in ("f1", "mcc"):
        raise ValueError(f"metric must be 'f1' or 'mcc', got {metric!r}")
    y2, p2, was_1d = as_2d(y_val, p_val, ("y_val", "p_val"))
    n_labels = y2.shape[1]
    thr = np.empty(n_labels)
    val = np.empty(n_labels)
    cols = max(1, (1 << 22) // max(1, y2.shape[0]))
    for j0 in range(0, n_labels, cols):  # transpose a block of columns at once (cache-friendly)
        j1 = min(j0 + cols, n_labels)
        y_blk = np.ascontiguousarray(y2[:, j0:j1].T)
        p_blk = np.ascontiguousarray(p2[:, j0:j1].T)
        for k in range(j1 - j0):
            thr[j0 + k], val[j0 + k] = _choose_1d(y_blk[k], p_blk[k], metric)
    if was_1d:
        return ThresholdChoice(metric, float(thr[0]), float(val[0]))
    return ThresholdChoice(metric, thr, val)


def confusion_counts(y_true: Any, y_score: Any, threshold: float | np.ndarray) -> dict[str, np.ndarray]:
    """TP, FP, FN, TN per label of "positive iff score >= threshold", missing targets ignored.

    ``threshold`` is a scalar or one value per label. Counts are int64 arrays of length L (length 1
    for 1-D input).
    """
    y2, p2, _ = as_2d(y_true, y_score)
    p2 = float_scores(p2)
    thr = np.asarray(threshold, dtype=np.float64)
    if thr.ndim > 1 or (thr.ndim == 1 and thr.shape[0] != y2.shape[1]):
        raise ValueError(f"threshold must be a scalar or have one value per label ({y2.shape[1]})")
    n_labels = y2.shape[1]
    thr = np.broadcast_to(thr, (n_labels,))
    out = {k: np.zeros(n_labels, dtype=np.int64) for k in ("tp", "fp", "fn", "tn")}
    cols = max(1, (1 << 22) // max(1, y2.shape[0]))
    for j0 in range(0, n_labels, cols):  # bounded temporaries for large [N, L]
        j1 = min(j0 + cols, n_labels)
        y, p = y2[:, j0:j1], p2[:, j0:j1]
        valid = ~np.isnan(y) if y.dtype.kind == "f" else np.ones(y.shape, dtype=bool)
        pos = y == 1
        if not np.all(pos | (y == 0) | ~valid):
            raise ValueError("targets must be 0, 1 or NaN (missing)")
        if np.isnan(p[valid]).any():
            raise ValueError("NaN score for a sample with a (non-missing) target")
        pred = p >= thr[j0:j1]  # float32 scores compare exactly against the float64 threshold
        neg = valid & ~pos
        tp = np.count_nonzero(pred & pos, axis=0)
        fp = np.count_nonzero(pred & neg, axis=0)
        out["tp"][j0:j1] = tp
        out["fp"][j0:j1] = fp
        out["fn"][j0:j1] = np.count_nonzero(pos, axis=0) - tp
        out["tn"][j0:j1] = np.count_nonzero(neg, axis=0) - fp
    return out


def f1(y_true: Any, y_score: Any, threshold: float | np.ndarray = 0.5) -> float | np.ndarray:
    """F1 of "positive iff score >= threshold" (= sklearn ``f1_score`` on the binarised scores).

    1-D input gives a float; [N, L] input gives one F1 per label (threshold scalar or per label).
    """
    c = confusion_counts(y_true, y_score, threshold)
    out = _f1_from_counts(c["tp"], c["fp"], c["fn"])
    return float(out[0]) if np.ndim(y_true) == 1 else out


def mcc(y_true: Any, y_score: Any, threshold: float | np.ndarray = 0.5) -> float | np.ndarray:
    """Matthews correlation of "positive iff score >= threshold" (= sklearn ``matthews_corrcoef``).

    1-D input gives a float; [N, L] input gives one MCC per label (threshold scalar or per label).
    """
    c = confusion_counts(y_true, y_score, threshold)
    out = _mcc_from_counts(c["tp"], c["fp"], c["fn"], c["tn"])
    return float(out[0]) if np.ndim(y_true) == 1 else out
