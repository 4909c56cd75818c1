"""Evaluation metrics of dnabench, each defined precisely in its module's docstring.

* :mod:`.classification` - exact AUROC and AUPRC (sklearn's average precision) per label, macro over
  labels with both classes (others skipped and counted), macro per label group; NaN targets = missing.
* :mod:`.streaming` - :class:`StreamingBinaryMetrics`, the same numbers for test sets too large for
  memory (Track7878), from per-label score histograms, with a per-label error bound.
* :mod:`.regression` - Spearman / Pearson / MSE, pooled over all pairs ("across all test samples") or
  per target and macro-averaged; NaN pairs ignored.
* :mod:`.thresholds` - F1 and MCC at a threshold, and the threshold maximising either on validation.
* :mod:`.scoring` - a task's metrics over a whole split (exact, or streamed for huge label sets).
"""

from ._base import GroupScore, LabelScores, group_macro
from .classification import BinaryScores, auroc, auroc_auprc, average_precision
from .regression import (
    mse,
    mse_per_target,
    pearson,
    pearson_per_target,
    regression_metrics,
    spearman,
    spearman_per_target,
)
from .scoring import STREAMING_MIN_LABELS, SplitScorer, is_streamed, score
from .streaming import StreamingBinaryMetrics
from .thresholds import ThresholdChoice, choose_threshold, confusion_counts, f1, mcc, threshold_curve

__all__ = [
    "STREAMING_MIN_LABELS",
    "SplitScorer",
    "is_streamed",
    "score",
    "BinaryScores",
    "GroupScore",
    "LabelScores",
    "StreamingBinaryMetrics",
    "ThresholdChoice",
    "auroc",
    "auroc_auprc",
    "average_precision",
    "choose_threshold",
    "confusion_counts",
    "f1",
    "group_macro",
    "mcc",
    "mse",
    "mse_per_target",
    "pearson",
    "pearson_per_target",
    "regression_metrics",
    "spearman",
    "spearman_per_target",
    "threshold_curve",
]
