"""The best achievable score of each demo task: the generating rule, scored like a model.

For every test row of a store the oracle looks up what the world generated the row from (the
promoter strength of a window, the methylation probability from CpG density, a bin's chance
of being called a peak, a gene's noiseless expression, a variant's causal probability, an SNV's
true effect) and scores those predictions with the task's own metrics
(`evaluation.scoring.score`, the function that scores trained models). The noise the world
adds (silent promoters, binomial reads, peak jitter, fine-mapping chance, MPRA measurement)
keeps these scores below 1. The rule is the best predictor in expectation; on a finite test split a
model can land a little above it by chance, but a model far above it has learned the split, not the rule.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from dnabench.data.store import Store, open_store
from dnabench.io.files import write_json
from dnabench.data.task import LabelSet, TaskSpec
from dnabench.demo.world import World
from dnabench.evaluation.scoring import score
from dnabench.synthetic.peaks import bin_probabilities
from dnabench.synthetic.promoters import promoter_window_scores

__all__ = ["ORACLE_FILE", "oracle_predictions", "best_achievable"]

ORACLE_FILE = "oracle.json"


def _promoters(world: World, store: Store, rows: np.ndarray) -> np.ndarray:
    r = store.regions.iloc[rows]
    return promoter_window_scores(world.truth["promoters"], r["chrom"].astype(str).to_numpy(), r["start"].to_numpy(), r["end"].to_numpy())[:, None]


def _methylation(world: World, store: Store, rows: np.ndarray) -> np.ndarray:
    r = store.regions.iloc[rows][["chrom", "pos"]].astype({"chrom": str})
    truth = world.truth["methylation"]
    merged = r.merge(truth, on=["chrom", "pos"], how="left", validate="one_to_one")
    return merged[[f"p_{name}" for name in store.label_names]].to_numpy(float)


def _tracks(world: World, store: Store, rows: np.ndarray) -> np.ndarray:
    r = store.regions.iloc[rows]
    params = store.card["parameters"]
    bin_start = r["start"].to_numpy() + int(params["flank"])
    chrom = r["chrom"].astype(str).to_numpy()
    by_name = {t.accession: t for t in world.tracks}
    return np.stack([
        bin_probabilities(by_name[name], chrom, bin_start, int(params["bin_size"]), float(params["min_overlap"]))
        for name in store.label_names
    ], axis=1)


def _expression(world: World, store: Store, rows: np.ndarray) -> np.ndarray:
    genes = world.truth["genes"].set_index("gene_id")["name"]
    names = genes.loc[store.regions.iloc[rows]["gene_id"].astype(str)].to_numpy()
    return world.truth["expression"].loc[names, store.label_names].to_numpy(float)


def _variants(world: World, store: Store, rows: np.ndarray) -> np.ndarray:
    r = store.regions.iloc[rows][["chrom", "pos", "ref", "alt"]].astype({"chrom": str, "ref": str, "alt": str})
    truth = world.truth["variants"]
    merged = r.merge(truth, on=["chrom", "pos", "ref", "alt"], how="left", validate="one_to_one")
    return merged[[f"p_{t}" for t in store.label_names]].to_numpy(float)


def _mpra(world: World, store: Store, rows: np.ndarray) -> np.ndarray:
    r = store.regions.iloc[rows][["chrom", "pos", "ref", "alt"]].astype({"chrom": str, "ref": str, "alt": str})
    truth = world.truth["mpra"][["chrom", "pos", "ref", "alt", "effect"]]
    merged = r.merge(truth, on=["chrom", "pos", "ref", "alt"], how="left", validate="one_to_one")
    return merged[["effect"]].to_numpy(float)


_RULES: dict[str, Callable[[World, Store, np.ndarray], np.ndarray]] = {
    "promvary": _promoters, "promfix": _promoters, "methyl96": _methylation, "track7878": _tracks,
    "geneexp": _expression, "causalsnp": _variants, "mpraprom": _mpra,
}


def oracle_predictions(world: World, task: str, store: Store, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """(targets, predictions of the generating rule) of one split of a demo store, both [rows, labels]."""
    if task not in _RULES:
        raise KeyError(f"no generating rule for task {task!r}; tasks: {', '.join(_RULES)}")
    rows = store.split_indices(split)
    preds = _RULES[task](world, store, rows)
    if np.isnan(preds).any():
        raise ValueError(f"{task}: {int(np.isnan(preds).any(axis=1).sum())} {split} rows of {store.path} are not in the world's truth")
    return store.labels.dense(rows).astype(np.float32), preds.astype(np.float32)


def best_achievable(world: World, stores: Mapping[str, str | os.PathLike], out: str | os.PathLike | None = None) -> dict[str, dict[str, float]]:
    """The generating rule's score on each store's test split, with the task's own metrics.

    Written as `oracle.json` in `out` (default: the folder holding the stores) with the world's
    seed and scale; returns {task: {metric: value}}.
    """
    result: dict[str, dict[str, float]] = {}
    for task, path in stores.items():
        store = open_store(path)
        targets, preds = oracle_predictions(world, task, store)
        spec, labels = TaskSpec.from_card(store.card), LabelSet.from_card(store.card)
        result[task] = score(spec, labels, targets, preds)
    folder = Path(out) if out is not None else Path(next(iter(stores.values()))).parent
    record = {"seed": world.seed, "scale": world.scale, "split": "test", "scores": result}
    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / ORACLE_FILE, record, sort_keys=True)
    return result
