"""The oracle: the generating rule scored with each task's metrics, high but below 1, from the truths."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dnabench.data.store import open_store
from dnabench.demo.oracle import ORACLE_FILE, best_achievable, oracle_predictions
from dnabench.demo.stores import build_stores
from dnabench.demo.world import make_world
from dnabench.evaluation.classification import auroc_auprc

#: the planned range of each task's headline metric
PLANNED = {"promvary": ("auroc", 0.85, 0.995), "promfix": ("auroc", 0.85, 0.995), "methyl96": ("spearman", 0.7, 0.95),
           "track7878": ("auroc", 0.85, 0.995), "geneexp": ("spearman", 0.7, 0.95), "causalsnp": ("auroc", 0.8, 0.995),
           "mpraprom": ("spearman", 0.7, 0.95)}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("oracle")
    world = make_world(tmp / "world", seed=0, scale="small")
    stores = build_stores(world, tmp / "stores")
    return world, stores, best_achievable(world, stores), tmp


def test_scores_are_in_the_planned_range_and_written(built):
    _, _, scores, tmp = built
    for task, (metric, low, high) in PLANNED.items():
        assert low <= scores[task][metric] <= high, (task, scores[task])
    record = json.loads((tmp / "stores" / ORACLE_FILE).read_text())
    assert record["scores"] == scores and record["seed"] == 0 and record["scale"] == "small"


def test_predictions_come_from_the_truth(built):
    world, stores, scores, _ = built
    store = open_store(stores["promvary"])
    targets, preds = oracle_predictions(world, "promvary", store)
    assert auroc_auprc(targets, preds).auroc.macro == pytest.approx(scores["promvary"]["auroc"])
    shuffled = np.random.default_rng(0).permutation(preds)
    assert abs(auroc_auprc(targets, shuffled).auroc.macro - 0.5) < 0.15
    # the rule's own numbers: the silent promoters (listed, no element) score 0
    silent = set(world.truth["promoters"].query("silent and listed")["name"] + "_1")
    names = store.regions.iloc[store.split_indices("test")]["name"].astype(str).to_numpy()
    assert (preds[np.isin(names, list(silent)), 0] == 0).all()
    targets, preds = oracle_predictions(world, "mpraprom", open_store(stores["mpraprom"]))
    assert np.corrcoef(targets[:, 0], preds[:, 0])[0, 1] > 0.7


def test_rows_missing_from_the_truth_are_an_error(built):
    world, stores, _, _ = built
    full = world.truth["mpra"]
    world.truth["mpra"] = full.iloc[:10]
    try:
        with pytest.raises(ValueError, match="not in the world's truth"):
            oracle_predictions(world, "mpraprom", open_store(stores["mpraprom"]))
    finally:
        world.truth["mpra"] = full
    with pytest.raises(KeyError, match="no generating rule"):
        oracle_predictions(world, "deepsea", open_store(stores["promvary"]))
