"""Batch access to a store: `StoreSource` (rows of the whole store) and `StoreDataset` (one split).

Indexing one sample at a time costs a Python call per sample; at 15,000 samples/s that is the
bottleneck. So `get_batch(indices)` gathers a whole batch with one `Genome.fetch_batch` call
(or one read of the stored codes) and one label gather, and `make_loader` hands the DataLoader
whole batches through the batch loader (`dnabench.data.loader`): one sampler, one batch
format, one augmentation path for library users and for `dnabench train`.

Codes are uint8 [B, L] (bytes, not one-hot floats, go to the GPU). Labels are float32
[B, n_labels], except 0/1 labels kept as CSR (Track7878), which come as uint8: a dense float32
row of 7878 labels is 31.5 KB a sample, and writing it dominated the batch (see
docs/performance.md). Training goes further and sends them as CSR pieces (`label_pieces`),
densified on the GPU.

Pickling (DataLoader workers under spawn/forkserver) sends only paths: the genome cache and the
store are opened again, memory-mapped, in the worker, never copied.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

try:  # torch is a dependency of dnabench, but keep the store usable without it
    from torch.utils.data import Dataset as _TorchDataset
except ImportError:  # pragma: no cover
    _TorchDataset = object  # type: ignore[misc,assignment]

from dnabench.data.loader import BatchSource, batch_loader
from dnabench.data.splits import normalise_split
from dnabench.data.store import CSRLabels, Store, open_store, row_indices, scatter_rows

__all__ = ["StoreSource", "StoreDataset", "make_loader", "binary_rows"]


def binary_rows(counts: np.ndarray, columns: np.ndarray, n_labels: int) -> np.ndarray:
    """uint8 [len(counts), n_labels] from CSR pieces (set labels per row, their columns)."""
    return scatter_rows(counts, columns, n_labels)


class StoreSource(BatchSource):
    """Gathers a batch of store rows: one genome fetch (or stored-codes read), one label gather.

    Pickles as paths. `label_dtype` "auto" gives uint8 for 0/1 CSR labels, float32 otherwise.
    `rows` (optional) maps batch indices to store rows (a split); None: indices are store rows.
    """

    def __init__(self, store: Store, genome: Any = None, label_dtype: str = "auto", rows: np.ndarray | None = None) -> None:
        if label_dtype not in ("auto", "float32"):
            raise ValueError(f"label_dtype must be 'auto' or 'float32', got {label_dtype!r}")
        self.store = store
        self.genome = genome
        self.label_dtype = label_dtype
        self.rows = rows
        labels = store.labels
        #: 0/1 labels kept as CSR: a batch can carry them as (counts, columns), densified on the GPU
        self.sparse_labels = isinstance(labels, CSRLabels) and labels.data is None  # type: ignore[misc]

    def store_rows(self, indices: Any) -> np.ndarray:
        """Store rows (int64) of batch indices; negative indices count from the end."""
        idx = row_indices(indices, self.store.n_rows if self.rows is None else self.rows.size)
        return idx if self.rows is None else self.rows[idx]

    def codes(self, indices: Any, shifts: Any = None, flips: Any = None) -> np.ndarray:
        """uint8 codes [B, *sample_shape]; `shifts` moves each window along the genome (N beyond
        the sequence), `flips` reads rows from the other strand, both inside the one gather."""
        return self.store.sequences(self.store_rows(indices), self.genome, check_genome=False, shifts=shifts, flips=flips)

    def label_pieces(self, indices: Any) -> tuple[np.ndarray, np.ndarray]:
        """(counts int64 [B], columns [nnz]) of 0/1 CSR labels, row after row: no dense matrix."""
        if not self.sparse_labels:
            raise ValueError(f"{self.store.path}: labels are not 0/1 CSR labels")
        return self.store.labels.pieces(self.store_rows(indices))  # type: ignore[union-attr]

    def labels(self, indices: Any) -> np.ndarray:
        """Dense labels [B, n_labels]: uint8 for 0/1 CSR labels (unless label_dtype="float32"), else float32."""
        if self.sparse_labels and self.label_dtype == "auto":
            return binary_rows(*self.label_pieces(indices), self.store.n_labels)
        return self.store.labels.dense(self.store_rows(indices))

    def __getstate__(self) -> dict:
        return {
            "store": str(self.store.path),
            "genome": None if self.genome is None else str(self.genome.path),
            "label_dtype": self.label_dtype,
            "rows": self.rows,
        }

    def __setstate__(self, state: dict) -> None:
        from dnabench.io.genome import open_genome

        genome = open_genome(state["genome"]) if state["genome"] else None
        StoreSource.__init__(self, open_store(state["store"]), genome, state.get("label_dtype", "auto"), state.get("rows"))


class StoreDataset(StoreSource, _TorchDataset):
    """One split of a store: `ds[i]` -> (codes uint8 [L], labels [n_labels]).

    `ds[array]` or `ds.get_batch(array)` -> (codes [B, L], labels [B, n_labels]) in one call;
    a DataLoader with `batch_size=B` gathers each batch in one call too (`__getitems__`).
    Indices are positions within the split; `ds.rows` maps them to store rows.
    """

    def __init__(
        self, store: Store | str | os.PathLike, split: str, genome: Any = None, check_genome: bool = True, label_dtype: str = "auto"
    ) -> None:
        if not isinstance(store, Store):
            store = open_store(store)
        split = normalise_split(split)
        if genome is not None and not hasattr(genome, "fetch_batch"):
            from dnabench.io.genome import open_genome

            genome = open_genome(genome)
        if genome is None and not store.has_inline_sequences:
            raise ValueError(f"{store.path}: this store holds coordinates only; pass its genome cache")
        if genome is not None and check_genome:
            store.check_genome(genome)
        super().__init__(store, genome, label_dtype, store.split_indices(split))
        self.split = split

    def __len__(self) -> int:
        return int(self.rows.size)  # type: ignore[union-attr]

    def __getitem__(self, index: Any) -> tuple[np.ndarray, np.ndarray]:
        if np.ndim(index) == 0:
            codes, labels = self.get_batch([int(index)])
            return codes[0], labels[0]
        return self.get_batch(index)

    def __getitems__(self, indices: list[int]) -> list[tuple[np.ndarray, np.ndarray]]:
        """torch's DataLoader(ds, batch_size=B) calls this: one gather for the batch, then per-sample
        tuples for the default collate. `make_loader` avoids even that split and restacking."""
        codes, labels = self.get_batch(indices)
        return list(zip(codes, labels))

    def __getstate__(self) -> dict:
        return {**super().__getstate__(), "rows": None, "split": self.split}  # rows come back from the split

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        self.split = state["split"]
        self.rows = self.store.split_indices(self.split)


def make_loader(
    dataset: StoreDataset,
    batch_size: int,
    shuffle: bool = True,
    seed: int = 0,
    drop_last: bool = False,
    num_workers: int = 0,
    pin_memory: bool | None = None,
    reverse_complement: bool = False,
    max_shift: int = 0,
    sparse_labels: bool = False,
    prefetch: bool | None = None,
) -> Any:
    """A DataLoader of whole batches: dicts of codes uint8 [B, L], labels [B, n_labels], index int64 [B].

    The training loader (`dnabench.data.loader.batch_loader`): shuffled by (seed, epoch) (call
    `loader.sampler.set_epoch(e)`), sharded over DDP ranks, augmentation drawn per batch.
    `sparse_labels` sends 0/1 CSR labels as pieces; `data.loader.dense_labels` densifies them.
    `prefetch` gathers batches in a background thread (default: on a GPU, without workers).
    """
    return batch_loader(
        dataset, np.arange(len(dataset)), batch_size, shuffle, seed, num_workers, reverse_complement, drop_last, max_shift,
        pin_memory, sparse_labels, prefetch=prefetch,
    )
