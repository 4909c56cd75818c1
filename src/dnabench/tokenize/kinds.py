"""The tokenizer kinds (paper 5.1), listed once; a leaf with no PyTorch, so configs and the
command line's help can name them without importing the tokenizers."""

from __future__ import annotations

from typing import Literal, get_args

TokenizerKind = Literal["onehot", "kmer", "patch", "bpe"]
TOKENIZERS: tuple[str, ...] = get_args(TokenizerKind)

__all__ = ["TokenizerKind", "TOKENIZERS"]
