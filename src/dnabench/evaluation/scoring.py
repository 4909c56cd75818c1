"""A task's metrics over one whole split, as a flat dict of floats for logs and metrics.json.

Classification: AUROC and AUPRC (macro over labels with both classes), and for a single binary
label F1 and MCC at the threshold chosen on validation (appendix A.1): the validation split
chooses it (max F1), the test split reuses it. Regression: Spearman and Pearson over all
samples and per target, and MSE.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dnabench.data.task import LabelKind, LabelSet, TaskSpec
from dnabench.evaluation.classification import auroc_auprc
from dnabench.evaluation.regression import regression_metrics
from dnabench.evaluation.streaming import StreamingBinaryMetrics
from dnabench.evaluation.thresholds import choose_threshold, f1, mcc

#: multilabel tasks with at least this many labels are scored from streamed histograms
#: (Track7878, DeepSEA's 919): their splits do not fit in memory as dense predictions.
STREAMING_MIN_LABELS = 100


def is_streamed(spec: TaskSpec, labels: LabelSet) -> bool:
    return spec.label_kind is LabelKind.MULTILABEL and len(labels) >= STREAMING_MIN_LABELS


def score(spec: TaskSpec, labels: LabelSet, targets: np.ndarray, preds: np.ndarray, threshold: float | None = None) -> dict[str, float]:
    """Metrics of `preds` against `targets` ([N, K]); `threshold` None means: choose it here."""
    if spec.label_kind is LabelKind.REGRESSION:
        return {k: float(v) for k, v in regression_metrics(targets, preds).items()}
    groups = list(labels.groups) if labels.groups else None
    return _classification(spec, groups, auroc_auprc(targets, preds, groups=groups), targets, preds, threshold)


def per_label_scores(spec: TaskSpec, labels: LabelSet, targets: np.ndarray, preds: np.ndarray) -> dict[str, dict[str, float | None]]:
    """Each label's own scores (regression: Spearman and Pearson; classification: AUROC and
    AUPRC), as {label: {metric: value}}; None where a label's metric is undefined (a constant
    column, one class only). GeneExp's per-tissue Spearman is this."""
    if spec.label_kind is LabelKind.REGRESSION:
        from dnabench.evaluation.regression import pearson_per_target, spearman_per_target

        columns = {"spearman": spearman_per_target(targets, preds).per_label, "pearson": pearson_per_target(targets, preds).per_label}
    else:
        scores = auroc_auprc(targets, preds)
        columns = {"auroc": scores.auroc.per_label, "auprc": scores.auprc.per_label}
    return {
        str(name): {metric: (float(values[j]) if np.isfinite(values[j]) else None) for metric, values in columns.items()}
        for j, name in enumerate(labels.names)
    }


class SplitScorer:
    """Scores one split fed batch by batch: exactly (batches kept) or, for large multilabel
    tasks, from per-label histograms whose memory does not grow with the rows
    (`StreamingBinaryMetrics`, |error| <= ~1e-4 at the default bins; its bound is reported)."""

    def __init__(self, spec: TaskSpec, labels: LabelSet, streamed: bool | None = None, bins: int = 1 << 14) -> None:
        self.spec = spec
        self.labels = labels
        self.streamed = is_streamed(spec, labels) if streamed is None else streamed
        groups = list(labels.groups) if labels.groups else None
        self.histograms = StreamingBinaryMetrics(len(labels), bins, groups=groups) if self.streamed else None
        self._parts: list[tuple[np.ndarray, np.ndarray]] = []

    def update(self, targets: Any, preds: Any) -> None:
        targets, preds = np.asarray(targets, dtype=np.float32), np.asarray(preds, dtype=np.float32)
        if self.histograms is not None:
            self.histograms.update(targets, preds)
        else:
            self._parts.append((targets, preds))

    def compute(self, threshold: float | None = None) -> dict[str, float]:
        if self.histograms is not None:
            scores = self.histograms.compute()
            groups = list(self.labels.groups) if self.labels.groups else None
            out = _classification(self.spec, groups, scores, None, None, threshold)
            out["metric_error_bound"] = float(max(scores.auroc.error_bound.max(initial=0), scores.auprc.error_bound.max(initial=0)))
            out["rows_scored"] = float(self.histograms.n_samples)
            return out
        if not self._parts:
            return {}
        targets = np.concatenate([t for t, _ in self._parts])
        preds = np.concatenate([p for _, p in self._parts])
        return score(self.spec, self.labels, targets, preds, threshold)


def _classification(
    spec: TaskSpec, groups: list[str] | None, scores: Any, targets: np.ndarray | None, preds: np.ndarray | None, threshold: float | None
) -> dict[str, float]:
    out = {"auroc": float(scores.auroc.macro), "auprc": float(scores.auprc.macro)}
    if scores.auroc.n_skipped:
        out["labels_skipped"] = float(scores.auroc.n_skipped)
    if groups:
        for name, group in scores.auroc.groups.items():
            out[f"auroc_{name}"] = float(group.macro)
        for name, group in scores.auprc.groups.items():
            out[f"auprc_{name}"] = float(group.macro)
    if spec.label_kind is LabelKind.BINARY and targets is not None and preds is not None:
        y, p = targets[:, 0], preds[:, 0]
        keep = np.isfinite(y)
        y, p = y[keep], p[keep]
        if threshold is None:
            threshold = float(choose_threshold(y, p, metric="f1").threshold)
        out["threshold"] = float(threshold)
        out["f1"] = float(f1(y, p, threshold))
        out["mcc"] = float(mcc(y, p, threshold))
    return out
