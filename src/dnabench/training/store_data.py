"""Training data from a dataset store: coordinates + labels in the store, sequence from the genome cache.

The batch source is `dnabench.data.dataset.StoreSource` (re-exported here).
"""

from __future__ import annotations

import os
from pathlib import Path

from dnabench.data.dataset import StoreSource
from dnabench.data.store import open_store, sha256_file
from dnabench.tasks import get_task
from dnabench.training.data import TaskInfo, TrainingData

__all__ = ["StoreSource", "load_store_data"]


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
