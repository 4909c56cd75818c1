"""Training data from a dataset store: coordinates + labels in the store, sequence from the genome cache."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from dnabench.data.store import Store, open_store, sha256_file
from dnabench.tasks import get_task
from dnabench.training.data import TaskInfo, TrainingData


class StoreSource:
    """Gathers a batch of store rows: one genome fetch, one label slice. Pickles as paths."""

    def __init__(self, store: Store, genome) -> None:
        self.store = store
        self.genome = genome

    def get_batch(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.store.sequences(indices, self.genome, check_genome=False), self.store.labels.dense(indices)

    def __getstate__(self) -> dict:
        return {"store": str(self.store.path), "genome": None if self.genome is None else str(self.genome.path)}

    def __setstate__(self, state: dict) -> None:
        from dnabench.io.genome import open_genome

        self.store = open_store(state["store"])
        self.genome = open_genome(state["genome"]) if state["genome"] else None


def load_store_data(path: str | os.PathLike, genome: str | os.PathLike | None = None) -> TrainingData:
    """A store folder as TrainingData; the genome defaults to the cache the store was built on."""
    from dnabench.io.genome import open_genome

    store = open_store(path)
    g = None
    if not store.has_inline_sequences:
        where = genome or (store.card.get("genome") or {}).get("cache_path")
        if where is None:
            raise ValueError(f"{path}: this store keeps coordinates; pass --genome CACHE")
        g = open_genome(where)
        store.check_genome(g)
    spec = get_task(store.task)
    kind = store.label_kind if store.label_kind in ("binary", "multilabel", "regression") else spec.label_kind
    monitor = spec.metrics[0]
    groups = (store.card.get("labels") or {}).get("groups")
    task = TaskInfo(
        kind=kind,  # type: ignore[arg-type]
        loss=spec.loss_kind,
        masked=spec.masked,
        metrics=list(spec.metrics),
        monitor=monitor,
        label_names=store.label_names,
        label_groups=list(groups) if groups else None,
        head_output="probability" if spec.output_activation == "sigmoid" else "value",
    )
    splits = {s: store.split_indices(s) for s in ("train", "val", "test")}
    return TrainingData(
        source=StoreSource(store, g),
        splits=splits,
        task=task,
        input_length=int(store.input_length or 0),
        description=f"{store.task} store {Path(path).name}: {store.n_rows:,} rows",
        card_sha256=sha256_file(Path(path) / "dataset.json"),
        extra={"counts": {s: int(v.size) for s, v in splits.items()}},
    )
