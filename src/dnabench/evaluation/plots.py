"""The report's figures as PNG bytes (matplotlib, Agg backend: no display needed).

Each function takes plain arrays or frames and returns the PNG, so the report can both write it
to a file and embed it in its HTML page.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from dnabench.evaluation.thresholds import threshold_curve

__all__ = ["roc_pr_png", "bars_png", "curves_png", "scatter_png", "roc_points", "pr_points", "label_curves"]

_MAX_POINTS = 5000
_LABEL_WIDTH = 14  # characters of a bar's label a line


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=96, bbox_inches="tight")
    _pyplot().close(fig)
    return buffer.getvalue()


def roc_points(targets: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false positive rate, true positive rate) at every threshold of one label."""
    _, tp, fp, n_pos, n_neg = threshold_curve(targets, scores)
    return fp / max(n_neg, 1), tp / max(n_pos, 1)


def pr_points(targets: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(recall, precision) at every threshold of one label (precision 1 where nothing is called)."""
    _, tp, fp, n_pos, _ = threshold_curve(targets, scores)
    called = tp + fp
    precision = np.where(called > 0, tp / np.maximum(called, 1), 1.0)
    return tp / max(n_pos, 1), precision


def roc_pr_png(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], title: str) -> bytes:
    """ROC and PR curves side by side, one line per label (name -> (targets, scores))."""
    plt = _pyplot()
    fig, (roc_ax, pr_ax) = plt.subplots(1, 2, figsize=(8, 3.6))
    for name, (y, p) in curves.items():
        fpr, tpr = roc_points(y, p)
        recall, precision = pr_points(y, p)
        roc_ax.plot(fpr, tpr, label=name, linewidth=1.2)
        pr_ax.plot(recall, precision, label=name, linewidth=1.2)
    roc_ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=0.8)
    roc_ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC", xlim=(0, 1), ylim=(0, 1.02))
    pr_ax.set(xlabel="recall", ylabel="precision", title="precision-recall", xlim=(0, 1), ylim=(0, 1.02))
    if 1 < len(curves) <= 8:
        pr_ax.legend(fontsize=7, loc="lower left")
    fig.suptitle(title, fontsize=9)
    return _png(fig)


def bars_png(frame: pd.DataFrame, title: str, ylabel: str) -> bytes:
    """One bar per results cell (`label`: a model and its grid-axis values; `mean`, `sd`, `n`): mean
    with the SD over seeds as an error bar. Long labels are wrapped so neighbours do not overlap."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(3.0, 0.9 * len(frame) + 1.5), 3.2))
    x = np.arange(len(frame))
    sd = np.nan_to_num(frame["sd"].to_numpy(dtype=float), nan=0.0)
    ax.bar(x, frame["mean"].to_numpy(dtype=float), yerr=sd, capsize=4, color="#4C72B0")
    ax.set_xticks(x, [f"{textwrap.fill(str(label), _LABEL_WIDTH)}\n(n={n})" for label, n in zip(frame["label"], frame["n"])], fontsize=8)
    ax.set(ylabel=ylabel, title=title)
    low = float(np.nanmin(frame["mean"] - sd)) if len(frame) else 0.0
    if 0 < low:
        ax.set_ylim(max(0.0, low - 0.1 * abs(low)), None)
    return _png(fig)


def curves_png(log: pd.DataFrame, title: str, monitor: str | None = None) -> bytes:
    """Training loss (per logged step and per epoch), validation loss and the monitored metric by step."""
    plt = _pyplot()
    series = [c for c in ("train/loss_step", "train/loss_epoch", "train/mlm_loss", "val/loss", "val/mlm_loss") if c in log]
    metric = monitor if monitor and monitor in log else None
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for column in series:
        part = log[["step", column]].dropna()
        style = ".-" if column.startswith("train") else "o-"
        ax.plot(part["step"], part[column], style, label=column, linewidth=1, markersize=3)
    ax.set(xlabel="step", ylabel="loss", title=title)
    if metric is not None:
        right = ax.twinx()
        part = log[["step", metric]].dropna()
        right.plot(part["step"], part[metric], "s--", color="#C44E52", label=metric, markersize=3, linewidth=1)
        right.set_ylabel(metric)
        right.legend(fontsize=7, loc="lower right")
    if series:
        ax.legend(fontsize=7, loc="upper right")
    return _png(fig)


def scatter_png(targets: np.ndarray, preds: np.ndarray, title: str, seed: int = 0) -> bytes:
    """Predicted against measured values (pooled over targets; at most 5,000 points, drawn at random)."""
    plt = _pyplot()
    y, p = np.asarray(targets, dtype=float).ravel(), np.asarray(preds, dtype=float).ravel()
    keep = np.isfinite(y) & np.isfinite(p)
    y, p = y[keep], p[keep]
    if y.size > _MAX_POINTS:
        pick = np.random.default_rng(seed).choice(y.size, _MAX_POINTS, replace=False)
        y, p = y[pick], p[pick]
    fig, ax = plt.subplots(figsize=(3.8, 3.6))
    ax.scatter(y, p, s=4, alpha=0.4)
    if y.size:
        lo, hi = float(min(y.min(), p.min())), float(max(y.max(), p.max()))
        ax.plot([lo, hi], [lo, hi], color="grey", linestyle=":", linewidth=0.8)
    ax.set(xlabel="measured", ylabel="predicted", title=title)
    return _png(fig)


def label_curves(frame: pd.DataFrame, names: Sequence[str], max_labels: int = 6) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (targets, scores) from a test_predictions frame: each label up to `max_labels`, and
    beyond that all labels pooled into one curve (`all labels`)."""
    if len(names) <= max_labels:
        return {n: (frame[f"target_{n}"].to_numpy(float), frame[f"pred_{n}"].to_numpy(float)) for n in names}
    y = np.concatenate([frame[f"target_{n}"].to_numpy(float) for n in names])
    p = np.concatenate([frame[f"pred_{n}"].to_numpy(float) for n in names])
    return {f"all {len(names)} labels pooled": (y, p)}
