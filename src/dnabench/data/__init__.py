"""Dataset stores (card + regions table + labels), leakage reports, and batch access for training.

`dnabench.data.store` holds the on-disk format; `dnabench.data.leakage` the split-leakage counts
written into every card; `dnabench.data.dataset` batch access over a store (`StoreSource`,
the torch `StoreDataset`, `make_loader`; it imports torch, the other two do not).
"""

from __future__ import annotations

import importlib
from typing import Any

#: names of `dnabench.data.store`, loaded on first use (PEP 562): `dnabench.data.task` and the
#: command line's help need no pandas
_STORE_NAMES = ("FORMAT", "FORMAT_VERSION", "SPLIT_ALIASES", "SPLITS", "CSRLabels", "DenseLabels", "Store", "StoreError",
                "StoreWriter", "open_store", "write_store")


def __getattr__(name: str) -> Any:
    if name not in _STORE_NAMES:
        raise AttributeError(f"module 'dnabench.data' has no attribute {name!r}")
    value = getattr(importlib.import_module("dnabench.data.store"), name)
    globals()[name] = value
    return value


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
