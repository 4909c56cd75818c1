"""Bounded-memory AUROC/AUPRC for huge multi-label test sets, accumulated batch by batch.

Why: Track7878's test set is 840,000 x 7878 (6.6e9 scores, 26 GB as float32, 53 GB as float64);
an exact AUROC needs every label's scores sorted, i.e. the whole matrix. Instead,
:class:`StreamingBinaryMetrics` keeps, per label, a histogram of the scores of the positives and one
of the negatives over ``bins`` fixed bins of the probability. Each batch costs one vectorised
``np.add.at`` over ``(label * 2 + target) * bins + bin``; the state does not grow with the samples.

Bins: ``scale="sqrt"`` (default) makes them equal-width in ``sqrt(p)``, i.e. ``bin = floor(bins *
sqrt(p))``: width ``2 sqrt(p) / bins`` in p, so finer where rare labels put most of their scores
(p ~ 1e-3: 16x finer than equal-width bins) and at most 2x coarser near p = 1. ``scale="linear"``
gives ``floor(bins * p)``. Scores outside ``score_range`` (default [0, 1]) are clipped into the end
bins; another range (e.g. (-20, 20) for logits) is mapped onto [0, 1] first. Every step (clip,
affine map, sqrt, multiply) is monotone in the score, so binning never reorders two scores.

Method: the bins are treated as tied scores. With ``pos_b``/``neg_b`` the positives/negatives in bin
b and ``TP_b``/``FP_b`` those in bins >= b (P, N the totals):

* AUROC ``= sum_b pos_b * (#neg in bins < b + neg_b / 2) / (P N)`` - sklearn's AUROC of the binned
  scores (the trapezoid; pairs in one bin count one half, exactly like tied scores).
* AP ``= sum_b pos_b / P * TP_b / (TP_b + FP_b)`` - sklearn's step-wise average precision of the
  binned scores.

Error bound (quantisation only; the counts, hence the result, do not depend on how the data were
batched). Binning only merges scores within a bin, so per label

* ``|AUROC_binned - AUROC_exact| <= sum_b pos_b * neg_b / (2 P N)`` (the share of positive/negative
  pairs sharing a bin, halved);
* ``|AP_binned - AP_exact| <= sum_b pos_b / P * (hi_b - lo_b)`` with
  ``hi_b = TP_b / (TP_b + FP_{b+1})`` and ``lo_b = (TP_{b+1} + 1) / (TP_{b+1} + 1 + FP_b)``, the
  extreme precisions a positive inside bin b can have.

Both bounds are computed from the histograms and returned as ``LabelScores.error_bound``, so every
result carries its own guarantee. For score densities ``f+``/``f-`` the AUROC bound is about
``integral(f+ f- w) / 2`` with w the bin width, so it halves with every doubling of ``bins``. On the
benchmark's realistic data (2 % positives, AUROC ~0.8, float32; ``benchmarks/metrics.py``) the
default 2**14 sqrt bins give actual errors <= ~1e-4 and bounds <= ~3e-4 (equal-width bins: errors
3e-4, AUROC bound 3e-3).

Memory: ``num_labels * bins * 2 * itemsize`` bytes for the counts, e.g. 7878 x 2**14 x 2 x 4 B =
1.03 GB with uint32 counts (2**12 bins: 258 MB), plus ~25 B x ``tile_elements`` of scratch per
thread. Counts are uint32 and promoted to uint64 before they could overflow (> 4.29e9 samples).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import numpy as np

from ._base import default_threads, float_scores, summarize
from .classification import BinaryScores

__all__ = ["StreamingBinaryMetrics"]


class StreamingBinaryMetrics:
    """Per-label histogram accumulator for AUROC and AUPRC with a known error bound.

    Usage::

        acc = StreamingBinaryMetrics(num_labels=7878, groups=label_groups)
        for targets, probs in batches:        # [B, L] each; NaN targets = missing
            acc.update(targets, probs)
        res = acc.compute()                   # BinaryScores: res.auroc.macro, res.auprc.groups["TF"], ...

    Args:
        num_labels: L.
        bins: histogram bins per label and class (accuracy vs memory, see the module docstring).
        groups: optional group name per label, for macro averages per group.
        score_range: (low, high) of the scores, mapped onto [0, 1] before binning; outside values are
            clipped into the first/last bin. E.g. (-20, 20) with ``scale="linear"`` for logits.
        scale: "sqrt" (bins equal-width in sqrt of the mapped score; default) or "linear".
        count_dtype: uint32 (default) or uint64 counts.
        n_threads: threads for ``update``; each owns a disjoint stripe of labels (default: cores, <= 8).
        tile_elements: scores processed per thread step (bounds the scratch memory).
    """

    def __init__(
        self,
        num_labels: int,
        bins: int = 1 << 14,
        *,
        groups: Sequence[str] | None = None,
        score_range: tuple[float, float] = (0.0, 1.0),
        scale: Literal["sqrt", "linear"] = "sqrt",
        count_dtype: Any = np.uint32,
        n_threads: int | None = None,
        tile_elements: int = 1 << 19,
    ) -> None:
        if num_labels < 1 or bins < 2:
            raise ValueError("need num_labels >= 1 and bins >= 2")
        lo, hi = float(score_range[0]), float(score_range[1])
        if not hi > lo:
            raise ValueError(f"score_range must be (low, high) with high > low, got {score_range}")
        if scale not in ("sqrt", "linear"):
            raise ValueError(f"scale must be 'sqrt' or 'linear', got {scale!r}")
        count_dtype = np.dtype(count_dtype)
        if count_dtype not in (np.dtype(np.uint32), np.dtype(np.uint64)):
            raise ValueError("count_dtype must be uint32 or uint64")
        if groups is not None and len(groups) != num_labels:
            raise ValueError(f"groups has {len(groups)} entries but num_labels is {num_labels}")
        self.num_labels = int(num_labels)
        self.bins = int(bins)
        self.groups = list(groups) if groups is not None else None
        self.score_range = (lo, hi)
        self.scale = scale
        self.n_threads = default_threads(n_threads)
        self.tile_elements = max(1, int(tile_elements))
        self.n_samples = 0
        # [L, 2 (negative, positive), bins] flattened, plus one trash slot for missing targets.
        self._counts = np.zeros(self.num_labels * 2 * self.bins + 1, dtype=count_dtype)
        self._one = np.ones((), dtype=count_dtype)
        self._label_offset = np.arange(self.num_labels, dtype=np.intp) * (2 * self.bins)

    # ------------------------------------------------------------------ state
    @staticmethod
    def memory_bytes(num_labels: int, bins: int = 1 << 14, count_dtype: Any = np.uint32) -> int:
        """Bytes of the count array: ``num_labels * bins * 2 * itemsize``."""
        return int(num_labels) * int(bins) * 2 * np.dtype(count_dtype).itemsize

    @property
    def nbytes(self) -> int:
        return int(self._counts.nbytes)

    @property
    def counts(self) -> np.ndarray:
        """Histogram view [L, 2, bins]: ``[:, 0]`` negatives, ``[:, 1]`` positives, bin 0 = lowest scores."""
        return self._counts[:-1].reshape(self.num_labels, 2, self.bins)

    def reset(self) -> None:
        self._counts[:] = 0
        self.n_samples = 0

    def merge(self, other: StreamingBinaryMetrics) -> None:
        """Add another accumulator's counts (e.g. from another process or data shard)."""
        if (other.num_labels, other.bins, other.score_range, other.scale) != (
            self.num_labels,
            self.bins,
            self.score_range,
            self.scale,
        ):
            raise ValueError("can only merge accumulators with the same num_labels, bins, score_range and scale")
        self._ensure_capacity(other.n_samples)
        self._counts[:-1] += other._counts[:-1].astype(self._counts.dtype, copy=False)
        self.n_samples += other.n_samples

    def replace_counts(self, counts: np.ndarray) -> None:
        """Take summed counts [L, 2, bins] (another process's added in, e.g. by an all-reduce)."""
        counts = np.asarray(counts)
        if counts.shape != self.counts.shape:
            raise ValueError(f"counts of shape {counts.shape}, expected {self.counts.shape}")
        total = int(counts[0].sum())
        if total > np.iinfo(np.uint32).max:
            self._counts = self._counts.astype(np.uint64)
            self._one = np.ones((), dtype=np.uint64)
        self._counts[:-1] = counts.reshape(-1).astype(self._counts.dtype, copy=False)
        self.n_samples = total

    def _ensure_capacity(self, extra: int) -> None:
        if self._counts.dtype == np.uint32 and self.n_samples + extra > np.iinfo(np.uint32).max:
            self._counts = self._counts.astype(np.uint64)
            self._one = np.ones((), dtype=np.uint64)

    # ----------------------------------------------------------------- update
    def update(self, targets: Any, probs: Any) -> None:
        """Add a batch: ``targets`` and ``probs`` of shape [B, L] ([B] when num_labels == 1).

        Targets are 0/1 (bool, int or float) or NaN (missing, ignored); scores are float32/float64
        (NumPy arrays or CPU tensors) and are binned in their own dtype, never upcast as a whole.
        """
        y = np.asarray(targets)
        p = float_scores(np.asarray(probs))
        if self.num_labels == 1 and p.ndim == 1:
            y, p = y.reshape(-1, 1), p.reshape(-1, 1)
        if p.shape != y.shape or p.ndim != 2 or p.shape[1] != self.num_labels:
            raise ValueError(
                f"expected targets and probs of shape [B, {self.num_labels}], got {y.shape} and {p.shape}"
            )
        n_rows = p.shape[0]
        if n_rows == 0:
            return
        self._validate(y, p)  # before counting anything: a rejected batch leaves no trace
        self._ensure_capacity(n_rows)
        # threads only pay off for batches of >= ~2**18 scores per thread (start-up ~0.1 ms)
        n_stripes = max(1, min(self.n_threads, self.num_labels, p.size >> 18))
        edges = np.linspace(0, self.num_labels, n_stripes + 1).astype(int)
        stripes = [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a]
        if len(stripes) == 1:
            self._update_stripe(y, p, *stripes[0])
        else:  # disjoint label stripes -> disjoint count regions; NumPy releases the GIL
            with ThreadPoolExecutor(len(stripes)) as pool:
                for f in [pool.submit(self._update_stripe, y, p, a, b) for a, b in stripes]:
                    f.result()
        self.n_samples += n_rows

    @staticmethod
    def _validate(y: np.ndarray, p: np.ndarray) -> None:
        rows = max(1, (1 << 22) // p.shape[1])
        for r0 in range(0, p.shape[0], rows):
            yb, pb = y[r0 : r0 + rows], p[r0 : r0 + rows]
            missing = np.isnan(yb) if yb.dtype.kind == "f" else None
            if yb.dtype != np.bool_:
                ok = (yb == 0) | (yb == 1)
                if missing is not None:
                    ok |= missing
                if not ok.all():
                    raise ValueError("targets must be 0, 1 or NaN (missing)")
            if np.isnan(np.add.reduce(pb, axis=None)):  # cheap; exact test only when it fires
                bad = np.isnan(pb)
                if missing is not None:
                    bad &= ~missing
                if bad.any():
                    raise ValueError("NaN score for a sample with a (non-missing) target")

    def _update_stripe(self, y: np.ndarray, p: np.ndarray, l0: int, l1: int) -> None:
        # Tiles of as many rows as possible and as few labels as needed: consecutive scatter
        # targets then stay within one label's counts, which the cache holds.
        rows = min(p.shape[0], self.tile_elements)
        width = max(1, self.tile_elements // rows)
        for r0 in range(0, p.shape[0], rows):
            r1 = min(r0 + rows, p.shape[0])
            for c0 in range(l0, l1, width):
                c1 = min(c0 + width, l1)
                self._tile(y[r0:r1, c0:c1], p[r0:r1, c0:c1], c0)

    def _tile(self, y: np.ndarray, p: np.ndarray, c0: int) -> None:
        """Bin one [rows, labels] tile in label-major order (cache-friendly scatter) and count it."""
        yt, pt = y.T, p.T
        lo, hi = self.score_range
        f = np.empty(pt.shape, dtype=p.dtype)
        np.clip(pt, p.dtype.type(lo), p.dtype.type(hi), out=f)  # NaN stays NaN
        if (lo, hi) != (0.0, 1.0):
            f -= p.dtype.type(lo)
            f *= p.dtype.type(1.0 / (hi - lo))
        if self.scale == "sqrt":
            np.sqrt(f, out=f)  # correctly rounded, hence monotone
        f *= p.dtype.type(self.bins)
        np.minimum(f, self.bins - 1, out=f)  # every step is monotone in the score
        # targets and scores were validated in update(): NaN scores only where targets are missing
        pos = yt if y.dtype == np.bool_ else yt == 1
        missing = np.isnan(yt) if y.dtype.kind == "f" else None
        if missing is not None and np.isnan(np.add.reduce(f, axis=None)):
            f[np.isnan(f)] = 0  # counted in the trash slot below
        idx = np.empty(f.shape, dtype=np.intp)
        np.copyto(idx, f, casting="unsafe")  # truncation == floor for values >= 0
        idx += self._label_offset[c0 : c0 + f.shape[0], None]
        np.add(idx, self.bins, out=idx, where=pos)
        if missing is not None:
            np.copyto(idx, self._counts.shape[0] - 1, where=missing)  # trash slot
        np.add.at(self._counts, idx.reshape(-1), self._one)

    # ---------------------------------------------------------------- compute
    def compute(self, groups: Sequence[str] | None = None, *, block_labels: int = 64) -> BinaryScores:
        """AUROC and AUPRC per label (skipped: no positive or no negative), macro, per group.

        ``error_bound`` of each returned :class:`LabelScores` holds the per-label bound of
        |binned - exact| (see the module docstring). Work memory ~ 3 x 8 B x block_labels x bins;
        cost ~3 passes over the counts plus work per bin holding positives.
        """
        groups = self.groups if groups is None else list(groups)
        n_labels = self.num_labels
        auc = np.full(n_labels, np.nan)
        ap = np.full(n_labels, np.nan)
        auc_err = np.zeros(n_labels)
        ap_err = np.zeros(n_labels)
        h = self.counts
        for l0 in range(0, n_labels, block_labels):
            l1 = min(l0 + block_labels, n_labels)
            m = l1 - l0
            neg_le = np.cumsum(h[l0:l1, 0], axis=1, dtype=np.int64)  # negatives in bins <= b
            pos_le = np.cumsum(h[l0:l1, 1], axis=1, dtype=np.int64)
            n_neg = neg_le[:, -1].astype(np.float64)
            n_pos = pos_le[:, -1].astype(np.float64)
            ok = (n_pos > 0) & (n_neg > 0)
            # Only bins holding positives contribute (to AP, and to AUROC written per positive).
            r, c = np.nonzero(h[l0:l1, 1])
            pb = h[l0:l1, 1][r, c].astype(np.float64)  # pos_b
            nb = h[l0:l1, 0][r, c].astype(np.float64)  # neg_b
            neg_below = neg_le[r, c] - nb  # negatives in bins < b
            tp = n_pos[r] - pos_le[r, c] + pb  # TP_b: positives in bins >= b
            fp = n_neg[r] - neg_below  # FP_b
            # AUROC: every positive beats the negatives below its bin and ties half of its bin.
            auc_num = np.bincount(r, pb * (neg_below + 0.5 * nb), minlength=m)
            auc_bnd = np.bincount(r, pb * nb, minlength=m) * 0.5
            ap_num = np.bincount(r, pb * tp / (tp + fp), minlength=m)
            hi = tp / (tp + fp - nb)
            lo = (tp - pb + 1.0) / (tp - pb + 1.0 + fp)
            ap_bnd = np.bincount(r, pb * (hi - lo), minlength=m)
            with np.errstate(invalid="ignore", divide="ignore"):
                auc[l0:l1] = np.where(ok, auc_num / (n_pos * n_neg), np.nan)
                ap[l0:l1] = np.where(ok, ap_num / n_pos, np.nan)
                auc_err[l0:l1] = np.where(ok, auc_bnd / (n_pos * n_neg), 0.0)
                ap_err[l0:l1] = np.where(ok, ap_bnd / n_pos, 0.0)
        return BinaryScores(
            summarize("auroc", auc, groups, auc_err),
            summarize("auprc", ap, groups, ap_err),
            self.n_samples,
        )
