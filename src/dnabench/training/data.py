"""What training needs to know about a data set, whatever it was read from.

A sequence table (CSV/TSV/Parquet), a dataset store and a features folder (backbone
representations of a store's rows) all become a `TrainingData`: a batch source, the rows of
each split, the task's spec (kind, loss, metrics) and its labels.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dnabench.data.dataset import StoreSource
from dnabench.data.features import FeatureSource, is_features_folder, open_features
from dnabench.data.loader import BatchSource, ResumableDataLoader, batch_loader
from dnabench.data.splits import SPLITS
from dnabench.data.store import open_store
from dnabench.data.tables import TableSource, load_sequence_table
from dnabench.data.task import LabelKind, LabelSet, TaskSpec, table_spec
from dnabench.io.files import sha256_file

__all__ = ["TrainingData", "load_training_data", "load_config_data", "load_features_data", "infer_label_kind", "split_loaders", "subsample_train"]


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


def load_config_data(config: Any, path: str | os.PathLike | None = None, genome: str | os.PathLike | None = None) -> TrainingData:
    """The data of a run config (a TrainConfig), or other data at `path` read with its table options."""
    return load_training_data(
        path if path is not None else config.data, seed=config.seed, genome=genome or config.genome,
        label_columns=getattr(config, "label_columns", None), sequence_column=getattr(config, "sequence_column", None),
        label_kind=getattr(config, "label_kind", None),
    )


def load_training_data(
    path: str | os.PathLike, seed: int = 0, genome: str | os.PathLike | None = None, label_columns: list[str] | None = None,
    sequence_column: str | None = None, label_kind: str | None = None,
) -> TrainingData:
    """A dataset store folder (with dataset.json), a features folder (features.json) or a sequence
    table file; `label_columns`, `sequence_column` and `label_kind` apply to tables."""
    path = Path(path)
    if path.is_dir() and is_features_folder(path):
        return load_features_data(path)
    if path.is_dir():
        return load_store_data(path, genome)
    kind = LabelKind.parse(label_kind, "label_kind") if label_kind is not None else None
    table = load_sequence_table(path, label_columns=label_columns, seed=seed, sequence_column=sequence_column,
                                allow_integer_classes=kind is LabelKind.REGRESSION)
    found = infer_label_kind(table.labels)
    if kind is not None and kind is not LabelKind.REGRESSION and found is LabelKind.REGRESSION:
        raise ValueError(f"{path}: --label-kind {kind.value} needs 0/1 labels, but {', '.join(table.label_names)} hold other values")
    kind = kind or found
    spec = table_spec(kind, len(table.label_names), int(table.codes.shape[1]), masked=bool(np.isnan(table.labels).any()))
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
        description=(f"sequence table {path.name}: {len(table.codes):,} rows, {table.codes.shape[1]} bp, "
                     f"labels {', '.join(table.label_names)} ({kind.value}), split {table.split_rule}"),
        card_sha256=sha256_file(path),
        extra={"counts": table.counts()},
    )


def open_store_genome(path: str | os.PathLike, genome: str | os.PathLike | None = None) -> tuple[Any, Any]:
    """A store and the genome cache it reads (None for inline sequences): `genome`, or the cache
    its card names, checked against the card."""
    from dnabench.io.genome import open_genome

    store = open_store(path)
    if store.has_inline_sequences:
        return store, None
    where = genome or (store.card.get("genome") or {}).get("cache_path")
    if where is None:
        raise ValueError(f"{path}: this store keeps coordinates; pass --genome CACHE")
    g = open_genome(where)
    store.check_genome(g)
    return store, g


def load_store_data(path: str | os.PathLike, genome: str | os.PathLike | None = None) -> TrainingData:
    """A store folder as TrainingData, its spec read from its card; the genome defaults to the
    cache the store was built on."""
    store, g = open_store_genome(path, genome)
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


def load_features_data(path: str | os.PathLike) -> TrainingData:
    """A features folder as TrainingData: features as the batch source, splits, spec and labels
    from its store's card (a store changed since extraction is refused). `input_length` is the
    bases each backbone window read; `extra["features"]` holds the folder's meta."""
    features = open_features(path)
    source = FeatureSource(features)
    store = source.store
    splits = {s: store.split_indices(s) for s in SPLITS}
    shape = "x".join(str(v) for v in features.array.shape[1:])
    return TrainingData(
        source=source,
        splits=splits,
        spec=TaskSpec.from_card(store.card),
        labels=LabelSet.from_card(store.card),
        input_length=int(features.meta["input_length"]),
        description=f"{store.task} features {Path(path).name} ({features.kind}, {shape} {features.array.dtype}): {store.n_rows:,} rows",
        card_sha256=sha256_file(Path(path) / "features.json"),
        extra={"counts": {s: int(v.size) for s, v in splits.items()}, "features": dict(features.meta)},
    )


def subsample_train(data: TrainingData, fraction: float, seed: int) -> TrainingData:
    """`data` with a seeded `fraction` of its training rows (at least one), kept in store order;
    the validation and test splits stay whole so scores compare across fractions."""
    rows = data.split("train")
    n = max(1, round(rows.size * fraction))
    keep = np.sort(np.random.default_rng([seed, 7919]).choice(rows.size, size=n, replace=False))
    counts = dict(data.extra.get("counts") or {})
    counts["train"] = n
    return dataclasses.replace(data, splits={**data.splits, "train": rows[keep]}, extra={**data.extra, "counts": counts})


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
            fill_last=bool(getattr(config, "compile", False)),  # one batch shape: no second compilation
        )
        for split in SPLITS
    }
