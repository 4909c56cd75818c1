"""A task's metrics over one whole split, as a flat dict of floats for logs and metrics.json.

Classification: AUROC and AUPRC (macro over labels with both classes), and for a single binary
label F1 and MCC at the threshold chosen on validation (appendix A.1): the validation split
chooses it (max F1), the test split reuses it. Regression: Spearman and Pearson over all
samples and per target, and MSE.
"""

from __future__ import annotations

import numpy as np

from dnabench.evaluation import auroc_auprc, choose_threshold, f1, mcc, regression_metrics
from dnabench.training.data import TaskInfo


def score(task: TaskInfo, targets: np.ndarray, preds: np.ndarray, threshold: float | None = None) -> dict[str, float]:
    """Metrics of `preds` against `targets` ([N, K]); `threshold` None means: choose it here."""
    if task.kind == "regression":
        return {k: float(v) for k, v in regression_metrics(targets, preds).items()}
    scores = auroc_auprc(targets, preds, groups=task.label_groups)
    out = {"auroc": float(scores.auroc.macro), "auprc": float(scores.auprc.macro)}
    if scores.auroc.n_skipped:
        out["labels_skipped"] = float(scores.auroc.n_skipped)
    if task.label_groups:
        for name, group in scores.auroc.groups.items():
            out[f"auroc_{name}"] = float(group.macro)
        for name, group in scores.auprc.groups.items():
            out[f"auprc_{name}"] = float(group.macro)
    if task.kind == "binary":
        y, p = targets[:, 0], preds[:, 0]
        keep = np.isfinite(y)
        y, p = y[keep], p[keep]
        if threshold is None:
            threshold = float(choose_threshold(y, p, metric="f1").threshold)
        out["threshold"] = float(threshold)
        out["f1"] = float(f1(y, p, threshold))
        out["mcc"] = float(mcc(y, p, threshold))
    return out
