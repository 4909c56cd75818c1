"""One token per base (A..N -> 4..8): the character-level input of the paper's one-hot scheme.

The model side turns these ids into one-hot vectors and convolves them; keeping them as ids
lets every tokenizer share the same batch type and special tokens.
"""

from __future__ import annotations

import numpy as np
import torch

from dnabench.alphabet import N
from dnabench.tokenize.base import (
    MASK,
    NUM_SPECIAL,
    PAD,
    CLS,
    UNK,
    Array,
    TokenBatch,
    Tokenizer,
    as_code_batch,
    as_id_batch,
    check_length,
    finish_batch,
    register,
    split_rows,
)


@register
class OneHotTokenizer(Tokenizer):
    """id = code + 4; vocab 9; T = L."""

    name = "onehot"

    @property
    def vocab_size(self) -> int:
        return NUM_SPECIAL + N + 1

    def encode(self, codes: Array, add_cls: bool = True) -> TokenBatch:
        c, is_numpy = as_code_batch(codes)
        ids = c.to(torch.int64) + NUM_SPECIAL
        return finish_batch(ids, torch.ones_like(ids, dtype=torch.bool), add_cls, is_numpy)

    def decode(self, ids: Array, attention_mask: Array | None = None) -> list[np.ndarray]:
        """UNK (never produced by encode) decodes to N."""
        t, m = as_id_batch(ids, attention_mask, self.vocab_size)
        keep = m & (t != PAD) & (t != CLS) & (t != MASK)
        flat = t[keep]
        flat = torch.where(flat == UNK, N, flat - NUM_SPECIAL)
        return split_rows(flat, keep.sum(dim=1))

    def num_tokens(self, length: int) -> int:
        return check_length(length)
