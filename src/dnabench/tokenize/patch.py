"""Non-overlapping k-patches (the paper's 4-patch scheme): one token per k bases.

id = 4 + base-5 value of the patch, N counted as a fifth letter, so the scheme is lossless;
vocab 4 + 5**k. A ragged tail is padded with N, so decode returns ceil(L/k)*k bases per row:
callers that know L trim the result (``codes[:L]``).
"""

from __future__ import annotations

import numpy as np
import torch

from dnabench.alphabet import N
from dnabench.tokenize.base import (
    CLS,
    MASK,
    NUM_SPECIAL,
    PAD,
    UNK,
    Array,
    TokenBatch,
    Tokenizer,
    as_code_batch,
    as_id_batch,
    check_k,
    check_length,
    finish_batch,
    register,
    split_rows,
)

_RADIX = N + 1  # A C G T N


@register
class PatchTokenizer(Tokenizer):
    """k bases per token, stride k: T = ceil(L / k); vocab 4 + 5**k."""

    name = "patch"

    def __init__(self, k: int = 4) -> None:
        self.k = check_k(k)

    @property
    def vocab_size(self) -> int:
        return NUM_SPECIAL + _RADIX**self.k

    def config(self) -> dict:
        return {"type": self.name, "k": self.k}

    def num_tokens(self, length: int) -> int:
        return -(-check_length(length) // self.k)

    def encode(self, codes: Array, add_cls: bool = True) -> TokenBatch:
        c, is_numpy = as_code_batch(codes)
        batch, length = c.shape
        n_tok = self.num_tokens(length)
        tail = n_tok * self.k - length
        if tail:
            c = torch.cat([c, torch.full((batch, tail), N, dtype=c.dtype, device=c.device)], dim=1)
        patches = c.to(torch.int64).reshape(batch, n_tok, self.k)
        value = torch.zeros((batch, n_tok), dtype=torch.int64, device=c.device)
        for j in range(self.k):  # loop over k only
            value = value * _RADIX + patches[:, :, j]
        ids = value + NUM_SPECIAL
        return finish_batch(ids, torch.ones_like(ids, dtype=torch.bool), add_cls, is_numpy)

    def decode(self, ids: Array, attention_mask: Array | None = None) -> list[np.ndarray]:
        """k codes per kept token (T*k per row, tail padding included); UNK decodes to k N's."""
        t, m = as_id_batch(ids, attention_mask, self.vocab_size)
        keep = m & (t != PAD) & (t != CLS) & (t != MASK)
        flat = t[keep]
        value = (flat - NUM_SPECIAL).clamp(min=0)
        powers = _RADIX ** torch.arange(self.k - 1, -1, -1, device=t.device, dtype=torch.int64)
        digits = torch.div(value[:, None], powers, rounding_mode="floor") % _RADIX
        digits = torch.where((flat == UNK)[:, None], N, digits)
        return split_rows(digits.reshape(-1), keep.sum(dim=1) * self.k)
