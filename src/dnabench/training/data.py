"""What training needs to know about a data set, whatever it was read from.

A sequence table (CSV/TSV/Parquet) and a dataset store both become a `TrainingData`: a batch
source, the rows of each split, and the task's kind, loss and metrics.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from dnabench.alphabet import shift_and_flip
from dnabench.io.sequence_table import SequenceTable, load_sequence_table

TaskKind = Literal["binary", "multilabel", "regression"]


@dataclass
class TaskInfo:
    """How to train and score: kind, loss, the validation metric that picks the best checkpoint."""

    kind: TaskKind
    loss: str  # a dnabench.models.losses kind: bce, focal, huber, mse
    masked: bool  # targets may be NaN (missing) and are then ignored
    metrics: list[str]
    monitor: str
    label_names: list[str]
    label_groups: list[str] | None = None
    #: "probability" (sigmoid) or "value"; None: probability unless the task is a regression
    head_output: str | None = None

    @property
    def output(self) -> str:
        """The model head's output: a probability (sigmoid; Methyl96's fractions too) or a value."""
        if self.head_output is not None:
            return self.head_output
        return "value" if self.kind == "regression" else "probability"


def infer_task(labels: np.ndarray, label_names: list[str]) -> TaskInfo:
    """Binary (one 0/1 column), multilabel (several 0/1 columns) or regression (anything else)."""
    finite = labels[np.isfinite(labels)]
    is_binary = finite.size > 0 and np.isin(finite, (0.0, 1.0)).all()
    masked = bool(np.isnan(labels).any())
    if is_binary:
        kind: TaskKind = "binary" if labels.shape[1] == 1 else "multilabel"
        return TaskInfo(kind, "bce", masked, ["auroc", "auprc"], "auroc", label_names)
    return TaskInfo("regression", "mse", masked, ["spearman", "pearson", "mse"], "spearman", label_names)


@dataclass
class TableSource:
    """Batches from an in-memory sequence table; a shift moves a sequence within itself (N fill)."""

    table: SequenceTable
    #: get_batch takes `flips` (rows reverse-complemented in the gather)
    gathers_flips = True

    def get_batch(
        self, indices: np.ndarray, shifts: np.ndarray | None = None, flips: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        return shift_and_flip(self.table.codes[indices], shifts, flips), self.table.labels[indices]


@dataclass
class TrainingData:
    source: object
    splits: dict[str, np.ndarray]
    task: TaskInfo
    input_length: int
    description: str
    card_sha256: str
    extra: dict = field(default_factory=dict)

    def split(self, name: str) -> np.ndarray:
        if name not in self.splits:
            raise ValueError(f"no split {name!r}; have {', '.join(self.splits)}")
        return self.splits[name]


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def load_training_data(path: str | os.PathLike, seed: int = 0, genome: str | os.PathLike | None = None) -> TrainingData:
    """A dataset store folder (with dataset.json) or a sequence table file."""
    path = Path(path)
    if path.is_dir():
        from dnabench.training.store_data import load_store_data

        return load_store_data(path, genome)
    table = load_sequence_table(path, seed=seed)
    task = infer_task(table.labels, table.label_names)
    splits = {s: table.indices(s) for s in ("train", "val", "test")}
    empty = [s for s, idx in splits.items() if idx.size == 0]
    if empty:
        raise ValueError(f"{path}: split(s) {', '.join(empty)} have no rows; use a larger table or a split column")
    return TrainingData(
        source=TableSource(table),
        splits=splits,
        task=task,
        input_length=int(table.codes.shape[1]),
        description=f"sequence table {path.name}: {len(table.codes):,} rows, {table.codes.shape[1]} bp",
        card_sha256=_sha256_file(path),
        extra={"counts": table.counts()},
    )
