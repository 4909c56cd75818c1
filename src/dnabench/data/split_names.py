"""The split names (train / val / test) and the spellings accepted for them.

A leaf without NumPy, so that the task spec and the command line's help name the splits
without importing the split rules (`dnabench.data.splits` re-exports these).
"""

from __future__ import annotations

__all__ = ["SPLITS", "SPLIT_ALIASES", "normalise_split"]

SPLITS: tuple[str, ...] = ("train", "val", "test")
#: other spellings accepted when writing a store, reading a table's split column or asking for a split
SPLIT_ALIASES: dict[str, str] = {
    "training": "train",
    "valid": "val",
    "validation": "val",
    "dev": "val",
    "testing": "test",
}


def normalise_split(name: str) -> str:
    """The canonical split name of `name` (case-insensitive), or KeyError listing the valid ones."""
    key = str(name).strip().lower()
    key = SPLIT_ALIASES.get(key, key)
    if key not in SPLITS:
        raise KeyError(f"unknown split {name!r}; splits are {', '.join(SPLITS)} (or {', '.join(SPLIT_ALIASES)})")
    return key
