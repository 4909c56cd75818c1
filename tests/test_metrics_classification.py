"""Exact AUROC / AUPRC against scikit-learn, per label, macro, per group, with skipped labels."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from dnabench.evaluation import auroc, auroc_auprc, average_precision, group_macro


def sklearn_per_label(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reference: sklearn per column, NaN targets dropped, single-class columns NaN."""
    y2 = y.reshape(len(y), -1).astype(np.float64)
    p2 = p.reshape(len(p), -1)
    auc = np.full(y2.shape[1], np.nan)
    ap = np.full(y2.shape[1], np.nan)
    for j in range(y2.shape[1]):
        keep = ~np.isnan(y2[:, j])
        t, s = y2[keep, j], p2[keep, j]
        if 0 < t.sum() < len(t):
            auc[j] = roc_auc_score(t, s)
            ap[j] = average_precision_score(t, s)
    return auc, ap


def random_case(rng: np.random.Generator, n: int, labels: int, decimals: int | None = 2):
    y = rng.random((n, labels)) < rng.uniform(0.05, 0.5, labels)
    p = rng.random((n, labels)) * 0.7 + 0.3 * y
    if decimals is not None:
        p = np.round(p, decimals)  # many ties, including ties between positives and negatives
    return y, p


@pytest.mark.parametrize("decimals", [None, 2, 1])
def test_matches_sklearn_random_with_ties(decimals):
    rng = np.random.default_rng(decimals or 0)
    y, p = random_case(rng, 400, 25, decimals)
    res = auroc_auprc(y, p)
    ref_auc, ref_ap = sklearn_per_label(y, p)
    np.testing.assert_allclose(res.auroc.per_label, ref_auc, rtol=0, atol=1e-12)
    np.testing.assert_allclose(res.auprc.per_label, ref_ap, rtol=0, atol=1e-12)
    assert res.auroc.macro == pytest.approx(ref_auc.mean(), abs=1e-12)
    assert res.auprc.macro == pytest.approx(ref_ap.mean(), abs=1e-12)
    assert (res.auroc.n_used, res.auroc.n_skipped, res.n_samples) == (25, 0, 400)


def test_single_functions_agree_with_combined():
    y, p = random_case(np.random.default_rng(1), 200, 6)
    both = auroc_auprc(y, p)
    np.testing.assert_array_equal(auroc(y, p).per_label, both.auroc.per_label)
    np.testing.assert_array_equal(average_precision(y, p).per_label, both.auprc.per_label)


def test_all_equal_scores():
    y = np.array([0, 1, 0, 0, 1, 0, 1, 0], dtype=float)
    p = np.full(8, 0.3)
    res = auroc_auprc(y, p)
    assert res.auroc.macro == roc_auc_score(y, p) == 0.5
    assert res.auprc.macro == pytest.approx(average_precision_score(y, p), abs=1e-15)
    assert res.auprc.macro == pytest.approx(3 / 8)


def test_perfect_and_inverted():
    rng = np.random.default_rng(2)
    y = rng.random((300, 4)) < 0.3
    p = y + rng.random((300, 4)) * 0.5  # positives always above negatives
    res = auroc_auprc(y, p)
    np.testing.assert_allclose(res.auroc.per_label, 1.0)
    np.testing.assert_allclose(res.auprc.per_label, 1.0)
    inv = auroc_auprc(y, -p)
    np.testing.assert_allclose(inv.auroc.per_label, 0.0, atol=1e-15)
    np.testing.assert_allclose(inv.auprc.per_label, sklearn_per_label(y, -p)[1], atol=1e-12)


def test_labels_without_positives_or_negatives_are_skipped_and_counted():
    rng = np.random.default_rng(3)
    y, p = random_case(rng, 100, 6)
    y[:, 1] = False  # no positive
    y[:, 4] = True  # no negative
    res = auroc_auprc(y, p)
    for scores in (res.auroc, res.auprc):
        assert np.isnan(scores.per_label[[1, 4]]).all()
        assert (scores.n_used, scores.n_skipped) == (4, 2)
        np.testing.assert_array_equal(scores.skipped, [1, 4])
        assert scores.macro == pytest.approx(np.nanmean(scores.per_label))
    ref_auc, ref_ap = sklearn_per_label(y, p)
    np.testing.assert_allclose(res.auroc.per_label, ref_auc, atol=1e-12)
    np.testing.assert_allclose(res.auprc.per_label, ref_ap, atol=1e-12)


def test_nan_targets_are_ignored_per_label():
    rng = np.random.default_rng(4)
    y, p = random_case(rng, 300, 8)
    yf = y.astype(np.float32)
    yf[rng.random(yf.shape) < 0.2] = np.nan
    yf[:, 2] = np.nan  # a label entirely missing: skipped
    yf[:150, 5] = np.nan
    yf[150:, 5] = 0  # its remaining targets are all negative: skipped
    p[np.isnan(yf)] = np.nan  # scores of missing targets may be anything, even NaN
    res = auroc_auprc(yf, p)
    ref_auc, ref_ap = sklearn_per_label(yf, np.nan_to_num(p))
    np.testing.assert_allclose(res.auroc.per_label, ref_auc, atol=1e-12)
    np.testing.assert_allclose(res.auprc.per_label, ref_ap, atol=1e-12)
    assert res.auroc.n_skipped == 2


def test_single_sample_and_empty():
    res = auroc_auprc(np.array([[1, 0, 1]]), np.array([[0.2, 0.4, 0.9]]))
    assert res.auroc.n_skipped == 3 and np.isnan(res.auroc.macro) and res.n_samples == 1
    empty = auroc_auprc(np.zeros((0, 2)), np.zeros((0, 2)))
    assert empty.auroc.n_skipped == 2


def test_binary_1d_input():
    rng = np.random.default_rng(5)
    y = rng.random(500) < 0.1
    p = np.round(rng.random(500) + 0.2 * y, 2)
    res = auroc_auprc(y.astype(int), p)
    assert res.auroc.per_label.shape == (1,)
    assert res.auroc.macro == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert res.auprc.macro == pytest.approx(average_precision_score(y, p), abs=1e-12)


def test_float32_scores_not_upcast_and_exact():
    rng = np.random.default_rng(6)
    y, p = random_case(rng, 300, 10, decimals=None)
    p32 = p.astype(np.float32)
    p32[:50] = p32[50:100]  # exact float32 ties
    res = auroc_auprc(y, p32, chunk_elements=500)  # several column blocks
    ref = auroc_auprc(y, p32.astype(np.float64))  # same values, same order
    np.testing.assert_array_equal(res.auroc.per_label, ref.auroc.per_label)
    np.testing.assert_array_equal(res.auprc.per_label, ref.auprc.per_label)
    ref_auc, ref_ap = sklearn_per_label(y, p32)
    np.testing.assert_allclose(res.auroc.per_label, ref_auc, atol=1e-12)
    np.testing.assert_allclose(res.auprc.per_label, ref_ap, atol=1e-12)


def test_blocks_and_threads_do_not_change_results():
    y, p = random_case(np.random.default_rng(7), 250, 33)
    a = auroc_auprc(y, p, n_threads=1)
    b = auroc_auprc(y, p, n_threads=2, chunk_elements=1000)
    np.testing.assert_array_equal(a.auroc.per_label, b.auroc.per_label)
    np.testing.assert_array_equal(a.auprc.per_label, b.auprc.per_label)


def test_group_macro_equals_manual_mean():
    rng = np.random.default_rng(8)
    y, p = random_case(rng, 200, 9)
    y[:, 3] = False  # skipped label inside group "TF"
    groups = ["DNase", "TF", "TF", "TF", "histone", "DNase", "TF", "histone", "histone"]
    res = auroc_auprc(y, p, groups=groups)
    assert list(res.auroc.groups) == ["DNase", "TF", "histone"]
    g = np.array(groups)
    for scores in (res.auroc, res.auprc):
        for name, gs in scores.groups.items():
            vals = scores.per_label[g == name]
            assert gs.macro == pytest.approx(np.nanmean(vals), abs=1e-15)
            assert (gs.n_used, gs.n_skipped) == (int((~np.isnan(vals)).sum()), int(np.isnan(vals).sum()))
    assert res.auroc.groups["TF"].n_skipped == 1
    assert group_macro(res.auroc.per_label, groups) == res.auroc.groups
    with pytest.raises(ValueError, match="groups"):
        auroc_auprc(y, p, groups=groups[:-1])
    d = res.to_dict()
    assert d["auroc"]["per_label"][3] is None and d["auroc"]["groups"]["TF"]["n_skipped"] == 1


def test_target_dtypes_and_validation():
    y, p = random_case(np.random.default_rng(9), 100, 3)
    ref = auroc_auprc(y, p).auroc.per_label
    for dt in (np.int8, np.int64, np.float32, np.float64, np.uint8):
        np.testing.assert_array_equal(auroc_auprc(y.astype(dt), p).auroc.per_label, ref)
    bad = y.astype(float)
    bad[0, 0] = 2
    with pytest.raises(ValueError, match="0, 1 or NaN"):
        auroc_auprc(bad, p)
    p_nan = p.copy()
    p_nan[5, 1] = np.nan
    with pytest.raises(ValueError, match="NaN score"):
        auroc_auprc(y, p_nan)
    with pytest.raises(ValueError, match="shape"):
        auroc_auprc(y, p[:, :2])
