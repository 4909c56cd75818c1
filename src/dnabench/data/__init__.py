"""Dataset stores (card + regions table + labels), leakage reports, and batch access for training.

`dnabench.data.store` holds the on-disk format; `dnabench.data.leakage` the split-leakage counts
written into every card; `dnabench.data.dataset` batch access over a store (`StoreSource`,
the torch `StoreDataset`, `make_loader`; it imports torch, the other two do not).
"""

from dnabench.data.store import (
    FORMAT,
    FORMAT_VERSION,
    SPLIT_ALIASES,
    SPLITS,
    CSRLabels,
    DenseLabels,
    Store,
    StoreError,
    StoreWriter,
    open_store,
    write_store,
)

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "SPLITS",
    "SPLIT_ALIASES",
    "CSRLabels",
    "DenseLabels",
    "Store",
    "StoreError",
    "StoreWriter",
    "open_store",
    "write_store",
]
