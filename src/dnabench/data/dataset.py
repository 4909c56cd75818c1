"""A torch `Dataset` over one split of a store, with whole-batch gathering.

Indexing one sample at a time costs a Python call per sample; at 15,000 samples/s that is the
bottleneck. So `StoreDataset.get_batch(indices)` gathers a whole batch with one
`Genome.fetch_batch` call and one label gather, and `BatchIndexSampler` hands the DataLoader
arrays of indices (use it as the `sampler` with `batch_size=None`, see `make_loader`). Each
batch is (codes uint8 [B, L], labels float32 [B, n_labels]): bytes, not one-hot floats, go to
the GPU.

Pickling (DataLoader workers under spawn/forkserver) sends only paths: the genome cache and the
store are opened again in the worker, never copied.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np

try:  # torch is a dependency of dnabench, but keep the store usable without it
    from torch.utils.data import Dataset as _TorchDataset
    from torch.utils.data import Sampler as _TorchSampler
except ImportError:  # pragma: no cover
    _TorchDataset = object  # type: ignore[misc,assignment]
    _TorchSampler = object  # type: ignore[misc,assignment]

from dnabench.data.store import SPLIT_ALIASES, SPLITS, Store, open_store

__all__ = ["StoreDataset", "BatchIndexSampler", "make_loader"]


class StoreDataset(_TorchDataset):
    """One split of a store: `ds[i]` -> (codes uint8 [L], labels float32 [n_labels]).

    `ds[array]` or `ds.get_batch(array)` -> (codes [B, L], labels [B, n_labels]) in one call.
    Indices are positions within the split; `ds.rows` maps them to store rows.
    """

    def __init__(self, store: Store | str | os.PathLike, split: str, genome: Any = None, check_genome: bool = True) -> None:
        if not isinstance(store, Store):
            store = open_store(store)
        split = SPLIT_ALIASES.get(split, split)
        if split not in SPLITS:
            raise KeyError(f"unknown split {split!r}; splits are {', '.join(SPLITS)}")
        if genome is not None and not hasattr(genome, "fetch_batch"):
            from dnabench.io.genome import open_genome

            genome = open_genome(genome)
        if genome is None and not store.has_inline_sequences:
            raise ValueError(f"{store.path}: this store holds coordinates only; pass its genome cache")
        if genome is not None and check_genome:
            store.check_genome(genome)
        self.store = store
        self.split = split
        self.genome = genome
        self.rows = store.split_indices(split)

    def __len__(self) -> int:
        return int(self.rows.size)

    def get_batch(self, indices: Any) -> tuple[np.ndarray, np.ndarray]:
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= self.rows.size):
            raise IndexError(f"index out of range for split {self.split!r} of {self.rows.size} rows")
        rows = self.rows[idx]
        codes = self.store.sequences(rows, self.genome, check_genome=False)
        labels = self.store.labels.dense(rows)
        return codes, labels

    def __getitem__(self, index: Any) -> tuple[np.ndarray, np.ndarray]:
        if np.ndim(index) == 0:
            i = int(index)
            if i < 0:
                i += len(self)
            codes, labels = self.get_batch([i])
            return codes[0], labels[0]
        return self.get_batch(index)

    def __getitems__(self, indices: list[int]) -> list[tuple[np.ndarray, np.ndarray]]:
        """torch's DataLoader(ds, batch_size=B) calls this: one fetch for the batch, then per-sample
        tuples for the default collate. `make_loader` avoids even that split and restacking."""
        codes, labels = self.get_batch(indices)
        return list(zip(codes, labels))

    def __getstate__(self) -> dict:
        return {
            "store_path": str(self.store.path),
            "split": self.split,
            "genome_path": None if self.genome is None else str(self.genome.path),
        }

    def __setstate__(self, state: dict) -> None:
        genome = None
        if state["genome_path"] is not None:
            from dnabench.io.genome import open_genome

            genome = open_genome(state["genome_path"])
        self.__init__(open_store(state["store_path"]), state["split"], genome, check_genome=False)  # type: ignore[misc]


class BatchIndexSampler(_TorchSampler):
    """Yields int64 index arrays of `batch_size` (shuffled per epoch by `seed` + epoch)."""

    def __init__(self, n: int, batch_size: int, shuffle: bool = True, seed: int = 0, drop_last: bool = False) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.n = int(n)
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.n // self.batch_size if self.drop_last else -(-self.n // self.batch_size)

    def __iter__(self) -> Iterator[np.ndarray]:
        order = (
            np.random.default_rng([self.seed, self.epoch]).permutation(self.n)
            if self.shuffle
            else np.arange(self.n, dtype=np.int64)
        )
        for i in range(len(self)):
            yield order[i * self.batch_size : (i + 1) * self.batch_size]


def batch_to_torch(batch: tuple[np.ndarray, np.ndarray]) -> tuple[Any, Any]:
    import torch

    codes, labels = batch
    return torch.from_numpy(np.ascontiguousarray(codes)), torch.from_numpy(np.ascontiguousarray(labels))


def make_loader(
    dataset: StoreDataset,
    batch_size: int,
    shuffle: bool = True,
    seed: int = 0,
    drop_last: bool = False,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> Any:
    """A DataLoader yielding (codes uint8 tensor [B, L], labels float32 tensor [B, n_labels]).

    Each batch is one `get_batch` call (sampler of index arrays, batch_size=None).
    """
    from torch.utils.data import DataLoader

    sampler = BatchIndexSampler(len(dataset), batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last)
    return DataLoader(
        dataset,
        sampler=sampler,
        batch_size=None,
        collate_fn=batch_to_torch,
        num_workers=num_workers,
        pin_memory=pin_memory,
        persistent_workers=num_workers > 0,
    )
