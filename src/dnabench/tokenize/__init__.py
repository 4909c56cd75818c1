"""Four ways to turn nucleotide codes into Transformer tokens (paper section 5.1).

All share the special ids PAD=0 CLS=1 MASK=2 UNK=3 and return a :class:`TokenBatch`::

    tok = get_tokenizer("kmer", k=5)
    batch = tok.encode(codes)          # codes: uint8 [B, L], numpy or torch
    tok.save("run/tokenizer"); load_tokenizer("run/tokenizer")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dnabench.tokenize.base import (
    CLS,
    CONFIG_FILE,
    MASK,
    NUM_SPECIAL,
    PAD,
    SPECIAL_TOKENS,
    UNK,
    TokenBatch,
    Tokenizer,
    _REGISTRY,
    TOKENIZERS,
    TokenizerKind,
)
from dnabench.tokenize.bpe import BPE_FILE, BPETokenizer, train_bpe
from dnabench.tokenize.kmer import KmerTokenizer
from dnabench.tokenize.onehot import OneHotTokenizer
from dnabench.tokenize.patch import PatchTokenizer


def get_tokenizer(name: str, **params: Any) -> Tokenizer:
    """Build a tokenizer by name: onehot, kmer (k, stride), patch (k), bpe (path=dir or bpe.json)."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown tokenizer {name!r}; choose one of {', '.join(TOKENIZERS)}")
    return _REGISTRY[name](**params)


def load_tokenizer(directory: str | Path) -> Tokenizer:
    """Read back a tokenizer written by ``Tokenizer.save``."""
    return Tokenizer.load(directory)


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
