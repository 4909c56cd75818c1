"""Four ways to turn nucleotide codes into Transformer tokens (paper section 5.1).

All share the special ids PAD=0 CLS=1 MASK=2 UNK=3 and return a :class:`TokenBatch`::

    tok = get_tokenizer("kmer", k=5)
    batch = tok.encode(codes)          # codes: uint8 [B, L], numpy or torch
    tok.save("run/tokenizer"); load_tokenizer("run/tokenizer")
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from dnabench.tokenize.kinds import TOKENIZERS, TokenizerKind

#: public name -> the submodule that defines it (loaded on first use: PEP 562)
_EXPORTS = {
    **{name: "base" for name in ("CLS", "CONFIG_FILE", "MASK", "NUM_SPECIAL", "PAD", "SPECIAL_TOKENS", "UNK", "TokenBatch", "Tokenizer")},
    "BPE_FILE": "bpe",
    "BPETokenizer": "bpe",
    "train_bpe": "bpe",
    "KmerTokenizer": "kmer",
    "OneHotTokenizer": "onehot",
    "PatchTokenizer": "patch",
}
#: the modules whose classes register a tokenizer kind
_KIND_MODULES = ("kmer", "patch", "onehot", "bpe")


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'dnabench.tokenize' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"dnabench.tokenize.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def _registry() -> dict:
    for module in _KIND_MODULES:
        importlib.import_module(f"dnabench.tokenize.{module}")
    return importlib.import_module("dnabench.tokenize.base")._REGISTRY


def get_tokenizer(name: str, **params: Any) -> Any:
    """Build a tokenizer by name: onehot, kmer (k, stride), patch (k), bpe (path=dir or bpe.json)."""
    registry = _registry()
    if name not in registry:
        raise ValueError(f"unknown tokenizer {name!r}; choose one of {', '.join(TOKENIZERS)}")
    return registry[name](**params)


def load_tokenizer(directory: str | Path) -> Any:
    """Read back a tokenizer written by ``Tokenizer.save``."""
    _registry()
    return __getattr__("Tokenizer").load(directory)


__all__ = [
    "BPE_FILE",
    "CLS",
    "CONFIG_FILE",
    "MASK",
    "NUM_SPECIAL",
    "PAD",
    "SPECIAL_TOKENS",
    "TOKENIZERS",
    "UNK",
    "BPETokenizer",
    "KmerTokenizer",
    "OneHotTokenizer",
    "PatchTokenizer",
    "TokenBatch",
    "TokenizerKind",
    "Tokenizer",
    "get_tokenizer",
    "load_tokenizer",
    "train_bpe",
]
