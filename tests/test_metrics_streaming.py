"""StreamingBinaryMetrics: equals the exact path within its own (guaranteed) error bound."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from dnabench.evaluation import StreamingBinaryMetrics, auroc_auprc


def realistic(seed: int, n: int = 20_000, labels: int = 12):
    """~2-10 % positives, AUROC ~0.8, float32 probabilities (logit-normal)."""
    rng = np.random.default_rng(seed)
    prev = rng.uniform(0.02, 0.1, labels)
    y = rng.random((n, labels)) < prev
    z = np.log(prev / (1 - prev)) + rng.uniform(0.8, 1.6, labels) * y + rng.standard_normal((n, labels))
    return y, (1 / (1 + np.exp(-z))).astype(np.float32)


def stream(y, p, splits, **kw) -> StreamingBinaryMetrics:
    acc = StreamingBinaryMetrics(y.shape[1] if y.ndim == 2 else 1, **kw)
    for part_y, part_p in zip(np.array_split(y, splits), np.array_split(p, splits)):
        acc.update(part_y, part_p)
    return acc


@pytest.mark.parametrize("scale", ["sqrt", "linear"])
def test_within_bound_and_1e3_of_exact(scale):
    y, p = realistic(0)
    exact = auroc_auprc(y, p)
    res = stream(y, p, 7, scale=scale).compute()
    for got, ref in ((res.auroc, exact.auroc), (res.auprc, exact.auprc)):
        err = np.abs(got.per_label - ref.per_label)
        assert np.all(err <= got.error_bound + 1e-12)  # the bound is a guarantee
        assert err.max() <= 1e-3
        assert abs(got.macro - ref.macro) <= 1e-3
    assert res.n_samples == len(y)
    assert res.auroc.error_bound.max() <= 1e-3  # the documented bound itself, for 2**14 bins


def test_result_independent_of_batching_and_threads():
    y, p = realistic(1, n=6_000, labels=9)
    ref = stream(y, p, 1, n_threads=1)
    threaded = StreamingBinaryMetrics(9, n_threads=2, tile_elements=4096)
    threaded.update(np.tile(y, (50, 1)), np.tile(p, (50, 1)))  # large enough to use both threads
    np.testing.assert_array_equal(threaded.counts, 50 * ref.counts.astype(np.int64))
    for splits, threads, tile in ((3, 2, 1 << 19), (17, 1, 1000), (600, 2, 64)):
        acc = stream(y, p, splits, n_threads=threads, tile_elements=tile)
        np.testing.assert_array_equal(acc.counts, ref.counts)
        a, b = acc.compute(), ref.compute()
        np.testing.assert_array_equal(a.auroc.per_label, b.auroc.per_label)
        np.testing.assert_array_equal(a.auprc.per_label, b.auprc.per_label)


def test_exact_when_every_distinct_score_has_its_own_bin():
    rng = np.random.default_rng(2)
    bins = 64
    y = rng.random((3000, 5)) < 0.2
    k = np.clip(rng.integers(0, bins, (3000, 5)) + 10 * y, 0, bins - 1)
    p = (k + 0.5) / bins  # bin centres, with many ties
    res = stream(y, p, 4, bins=bins, scale="linear").compute()
    for j in range(5):
        assert res.auroc.per_label[j] == pytest.approx(roc_auc_score(y[:, j], p[:, j]), abs=1e-12)
        assert res.auprc.per_label[j] == pytest.approx(average_precision_score(y[:, j], p[:, j]), abs=1e-12)


def test_all_equal_scores_perfect_and_inverted():
    y = np.array([0, 1, 0, 0, 1, 0, 1, 0], dtype=bool)
    res = stream(y, np.full(8, 0.3, np.float32), 3).compute()
    assert res.auroc.macro == 0.5 and res.auprc.macro == pytest.approx(3 / 8)
    assert res.auroc.error_bound[0] == 0.5  # every pair shares the bin: the bound says so
    p = np.where(y, 0.9, 0.1)
    good = stream(y, p, 2).compute()
    bad = stream(y, 1 - p, 2).compute()
    assert good.auroc.macro == 1.0 and good.auprc.macro == 1.0
    assert bad.auroc.macro == 0.0
    assert bad.auprc.macro == pytest.approx(average_precision_score(y, 1 - p))


def test_skipped_labels_nan_targets_and_groups():
    y, p = realistic(3, n=8_000, labels=6)
    yf = y.astype(np.float32)
    yf[np.random.default_rng(3).random(yf.shape) < 0.1] = np.nan
    yf[:, 1] = np.where(np.isnan(yf[:, 1]), np.nan, 0)  # no positive
    yf[:, 4] = np.nan  # all missing
    p[np.isnan(yf)] = np.nan  # scores of missing targets may be NaN
    groups = ["TF", "TF", "DNase", "histone", "DNase", "TF"]
    res = stream(yf, p, 5, groups=groups).compute()
    exact = auroc_auprc(yf, p, groups=groups)
    for got, ref in ((res.auroc, exact.auroc), (res.auprc, exact.auprc)):
        np.testing.assert_array_equal(np.isnan(got.per_label), np.isnan(ref.per_label))
        assert (got.n_used, got.n_skipped) == (4, 2)
        ok = ~np.isnan(ref.per_label)
        assert np.all(np.abs(got.per_label[ok] - ref.per_label[ok]) <= got.error_bound[ok] + 1e-12)
        for name, g in got.groups.items():
            vals = got.per_label[np.array(groups) == name]
            assert g.macro == pytest.approx(np.nanmean(vals), abs=1e-15) if g.n_used else np.isnan(g.macro)
            assert g.n_skipped == int(np.isnan(vals).sum())
    assert res.auroc.groups["DNase"].n_skipped == 1 and res.auroc.groups["TF"].n_skipped == 1


def test_float32_float64_single_sample_and_1d():
    y, p = realistic(4, n=3_000, labels=3)
    a = stream(y, p, 3).compute()
    b = stream(y, p.astype(np.float64), 3).compute()
    np.testing.assert_allclose(a.auroc.per_label, b.auroc.per_label, atol=1e-3)
    one = StreamingBinaryMetrics(3)
    one.update(y[:1], p[:1])
    assert one.compute().auroc.n_skipped == 3
    flat = stream(y[:, 0], p[:, 0], 4).compute()
    assert flat.auroc.per_label.shape == (1,)
    assert flat.auroc.macro == pytest.approx(roc_auc_score(y[:, 0], p[:, 0]), abs=1e-3)


def test_merge_memory_overflow_promotion_and_range():
    y, p = realistic(5, n=4_000, labels=4)
    whole = stream(y, p, 1, bins=1024)
    a, b = stream(y[:1500], p[:1500], 2, bins=1024), stream(y[1500:], p[1500:], 2, bins=1024)
    a.merge(b)
    np.testing.assert_array_equal(a.counts, whole.counts)
    assert a.n_samples == 4000
    assert whole.nbytes == StreamingBinaryMetrics.memory_bytes(4, 1024) + 4 == 4 * 1024 * 2 * 4 + 4
    assert StreamingBinaryMetrics.memory_bytes(7878, 4096) == 7878 * 4096 * 2 * 4  # 258 MB
    whole.n_samples = 2**32 - 10  # pretend: the next batch could overflow uint32 counts
    whole.update(y[:20], p[:20])
    assert whole.counts.dtype == np.uint64
    with pytest.raises(ValueError, match="merge"):
        a.merge(StreamingBinaryMetrics(4, bins=512))
    # logits binned directly over a range; out-of-range scores are clipped into the end bins
    logits = np.log(p / (1 - p))
    ex = auroc_auprc(y, logits)
    res = stream(y, np.clip(logits, -12, 12), 2, score_range=(-12.0, 12.0), scale="linear").compute()
    assert np.all(np.abs(res.auroc.per_label - ex.auroc.per_label) <= res.auroc.error_bound + 1e-12)
    edge = StreamingBinaryMetrics(1, bins=8, scale="linear")
    edge.update(np.array([1, 0, 1, 0]), np.array([1.0, -0.5, 2.0, 0.0]))
    assert edge.counts[0, 1, 7] == 2 and edge.counts[0, 0, 0] == 2


def test_validation_errors():
    acc = StreamingBinaryMetrics(3)
    with pytest.raises(ValueError, match="shape"):
        acc.update(np.zeros((4, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="0, 1 or NaN"):
        acc.update(np.full((2, 3), 2.0), np.zeros((2, 3)))
    p = np.zeros((2, 3), np.float32)
    p[1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN score"):
        acc.update(np.zeros((2, 3)), p)
    big = np.zeros((4000, 3), np.float32)
    big[3999, 2] = np.nan  # in the last tile: the batch is rejected before anything is counted
    fresh = StreamingBinaryMetrics(3, tile_elements=64)
    with pytest.raises(ValueError, match="NaN score"):
        fresh.update(np.zeros((4000, 3)), big)
    assert fresh.counts.sum() == 0 and fresh.n_samples == 0
    assert acc.counts.sum() == 0 and acc.n_samples == 0
    with pytest.raises(ValueError):
        StreamingBinaryMetrics(3, scale="log")
    with pytest.raises(ValueError):
        StreamingBinaryMetrics(3, score_range=(1.0, 0.0))
