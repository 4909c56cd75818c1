"""What training needs to know about a data set, whatever it was read from.

A sequence table (CSV/TSV/Parquet) and a dataset store both become a `TrainingData`: a batch
source, the rows of each split, the task's spec (kind, loss, metrics) and its labels.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dnabench.data.dataset import StoreSource
from dnabench.data.loader import BatchSource, ResumableDataLoader, batch_loader
from dnabench.data.splits import SPLITS
from dnabench.data.store import open_store
from dnabench.data.tables import TableSource, load_sequence_table
from dnabench.data.task import LabelKind, LabelSet, TaskSpec, table_spec
from dnabench.io.files import sha256_file

__all__ = ["TrainingData", "load_training_data", "infer_label_kind", "split_loaders"]


@dataclass
class TrainingData:
    source: BatchSource
    splits: dict[str, np.ndarray]
    spec: TaskSpec
    labels: LabelSet
    input_length: int
    description: str
    card_sha256: str
    extra: dict = field(default_factory=dict)

    def split(self, name: str) -> np.ndarray:
        if name not in self.splits:
            raise ValueError(f"no split {name!r}; have {', '.join(self.splits)}")
        return self.splits[name]


def infer_label_kind(labels: np.ndarray) -> LabelKind:
    """Binary (one 0/1 column), multilabel (several 0/1 columns) or regression (anything else)."""
    finite = labels[np.isfinite(labels)]
    if finite.size > 0 and np.isin(finite, (0.0, 1.0)).all():
        return LabelKind.BINARY if labels.shape[1] == 1 else LabelKind.MULTILABEL
    return LabelKind.REGRESSION


def load_training_data(path: str | os.PathLike, seed: int = 0, genome: str | os.PathLike | None = None) -> TrainingData:
    """A dataset store folder (with dataset.json) or a sequence table file."""
    path = Path(path)
    if path.is_dir():
        return load_store_data(path, genome)
    table = load_sequence_table(path, seed=seed)
    spec = table_spec(infer_label_kind(table.labels), len(table.label_names), int(table.codes.shape[1]), masked=bool(np.isnan(table.labels).any()))
    splits = {s: table.indices(s) for s in SPLITS}
    empty = [s for s, idx in splits.items() if idx.size == 0]
    if empty:
        raise ValueError(f"{path}: split(s) {', '.join(empty)} have no rows; use a larger table or a split column")
    return TrainingData(
        source=TableSource(table),
        splits=splits,
        spec=spec,
        labels=LabelSet(tuple(table.label_names)),
        input_length=int(table.codes.shape[1]),
        description=f"sequence table {path.name}: {len(table.codes):,} rows, {table.codes.shape[1]} bp",
        card_sha256=sha256_file(path),
        extra={"counts": table.counts()},
    )


def load_store_data(path: str | os.PathLike, genome: str | os.PathLike | None = None) -> TrainingData:
    """A store folder as TrainingData, its spec read from its card; the genome defaults to the
    cache the store was built on."""
    from dnabench.io.genome import open_genome

    store = open_store(path)
    g = None
    if not store.has_inline_sequences:
        where = genome or (store.card.get("genome") or {}).get("cache_path")
        if where is None:
            raise ValueError(f"{path}: this store keeps coordinates; pass --genome CACHE")
        g = open_genome(where)
        store.check_genome(g)
    splits = {s: store.split_indices(s) for s in SPLITS}
    return TrainingData(
        source=StoreSource(store, g),
        splits=splits,
        spec=TaskSpec.from_card(store.card),
        labels=LabelSet.from_card(store.card),
        input_length=int(store.input_length or 0),
        description=f"{store.task} store {Path(path).name}: {store.n_rows:,} rows",
        card_sha256=sha256_file(Path(path) / "dataset.json"),
        extra={"counts": {s: int(v.size) for s, v in splits.items()}},
    )


def split_loaders(data: TrainingData, config: Any) -> dict[str, ResumableDataLoader]:
    """Train / val / test loaders of a run (a TrainConfig): only training shuffles and augments."""
    return {
        split: batch_loader(
            data.source,
            data.split(split),
            config.batch_size,
            shuffle=split == "train",
            seed=config.seed,
            num_workers=config.num_workers,
            reverse_complement=config.reverse_complement_augment and split == "train",
            max_shift=config.max_shift if split == "train" else 0,
            sparse_labels=True,
        )
        for split in SPLITS
    }
