"""Result containers and small helpers shared by the metric modules."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["GroupScore", "LabelScores", "group_macro", "summarize"]


@dataclass(frozen=True)
class GroupScore:
    """Macro average of one label group (e.g. all "TF" labels of Track7878)."""

    macro: float
    """Mean of the group's per-label values over the labels that were not skipped (NaN if none)."""
    n_used: int
    n_skipped: int

    def to_dict(self) -> dict[str, Any]:
        return {"macro": self.macro, "n_used": self.n_used, "n_skipped": self.n_skipped}


@dataclass(frozen=True)
class LabelScores:
    """One metric evaluated per label (column), with its macro average.

    A label is *skipped* when the metric is undefined for it (for AUROC/AUPRC: no positive or no
    negative target among the non-missing ones; for correlations: fewer than two pairs or a constant
    column). Skipped labels are NaN in ``per_label``, are left out of every macro average and are
    counted in ``n_skipped`` so that a macro over 7000 labels cannot silently be a macro over 70.
    """

    metric: str
    per_label: np.ndarray
    """float64 [L]; NaN where skipped."""
    macro: float
    """Unweighted mean of ``per_label`` over the labels used (NaN if every label was skipped)."""
    n_used: int
    n_skipped: int
    groups: dict[str, GroupScore] = field(default_factory=dict)
    """Macro per label group, in order of first appearance; empty unless groups were given."""
    error_bound: np.ndarray | None = None
    """Streaming (binned) results only: per-label upper bound of |binned - exact| (0 where skipped)."""

    @property
    def skipped(self) -> np.ndarray:
        """Indices of the skipped labels."""
        return np.flatnonzero(np.isnan(self.per_label))

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly summary (per-label values as a list with None for skipped labels)."""
        out: dict[str, Any] = {
            "metric": self.metric,
            "macro": _py(self.macro),
            "n_used": self.n_used,
            "n_skipped": self.n_skipped,
            "per_label": [_py(v) for v in self.per_label.tolist()],
        }
        if self.groups:
            out["groups"] = {k: {**g.to_dict(), "macro": _py(g.macro)} for k, g in self.groups.items()}
        if self.error_bound is not None:
            out["max_error_bound"] = float(np.max(self.error_bound, initial=0.0))
        return out


def _py(v: float) -> float | None:
    return None if v != v else float(v)


def _nanmean(values: np.ndarray) -> float:
    ok = values[~np.isnan(values)]
    return float(ok.mean()) if ok.size else float("nan")


def group_macro(per_label: np.ndarray, groups: Sequence[str]) -> dict[str, GroupScore]:
    """Macro average of ``per_label`` within each group: mean over the group's non-NaN labels.

    ``groups[i]`` names the group of label i (e.g. "DNase", "TF", "histone"); the result keeps the
    order in which groups first appear.
    """
    per_label = np.asarray(per_label, dtype=np.float64)
    names = list(groups)
    if len(names) != per_label.shape[0]:
        raise ValueError(f"groups has {len(names)} entries but there are {per_label.shape[0]} labels")
    uniq, first, inverse = np.unique(np.asarray(names, dtype=object), return_index=True, return_inverse=True)
    out: dict[str, GroupScore] = {}
    for g in np.argsort(first, kind="stable"):
        vals = per_label[inverse == g]
        n_skip = int(np.isnan(vals).sum())
        out[str(uniq[g])] = GroupScore(_nanmean(vals), int(vals.size - n_skip), n_skip)
    return out


def summarize(
    metric: str,
    per_label: np.ndarray,
    groups: Sequence[str] | None = None,
    error_bound: np.ndarray | None = None,
) -> LabelScores:
    """Wrap a per-label array (NaN = skipped) into :class:`LabelScores`."""
    per_label = np.asarray(per_label, dtype=np.float64)
    n_skipped = int(np.isnan(per_label).sum())
    return LabelScores(
        metric=metric,
        per_label=per_label,
        macro=_nanmean(per_label),
        n_used=int(per_label.size - n_skipped),
        n_skipped=n_skipped,
        groups=group_macro(per_label, groups) if groups is not None and len(groups) else {},
        error_bound=error_bound,
    )


def as_2d(y_true: Any, y_score: Any, names: tuple[str, str] = ("y_true", "y_score")) -> tuple[np.ndarray, np.ndarray, bool]:
    """Return ([N, L], [N, L], was_1d) views without copying or changing dtype."""
    t = np.asarray(y_true)
    s = np.asarray(y_score)
    if t.shape != s.shape:
        raise ValueError(f"{names[0]} has shape {t.shape} but {names[1]} has shape {s.shape}")
    if t.ndim == 1:
        return t[:, None], s[:, None], True
    if t.ndim != 2:
        raise ValueError(f"expected 1-D [N] or 2-D [N, L] arrays, got {t.ndim}-D")
    return t, s, False


def float_scores(s: np.ndarray) -> np.ndarray:
    """Scores as float32/float64 (kept as they are); other dtypes become float64 (ints) or float32 (float16)."""
    if s.dtype in (np.float32, np.float64):
        return s
    if s.dtype == np.float16:
        return s.astype(np.float32)
    if s.dtype.kind in "biu":
        return s.astype(np.float64)
    raise TypeError(f"scores must be real numbers, got dtype {s.dtype}")


def default_threads(n_threads: int | None) -> int:
    if n_threads is not None:
        if n_threads < 1:
            raise ValueError("n_threads must be >= 1")
        return int(n_threads)
    try:
        return max(1, min(8, len(os.sched_getaffinity(0))))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, min(8, os.cpu_count() or 1))
