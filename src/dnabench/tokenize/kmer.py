"""Overlapping k-mers (the paper's 5-mer scheme): one token per window of k bases.

id = 4 + base-4 value of the k-mer, first base most significant; a window holding N becomes
UNK, so the vocabulary stays 4 + 4**k instead of growing to 5**k.
"""

from __future__ import annotations

import numpy as np
import torch

from dnabench.alphabet import N, NUM_BASES
from dnabench.tokenize.base import (
    CLS,
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


@register
class KmerTokenizer(Tokenizer):
    """k-mers with step ``stride`` (default 1): T = (L - k) // stride + 1; vocab 4 + 4**k."""

    name = "kmer"

    def __init__(self, k: int = 5, stride: int = 1) -> None:
        self.k = check_k(k)
        if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or not 1 <= stride <= self.k:
            raise ValueError(f"stride must be an integer in [1, k={self.k}] so every base is covered, got {stride!r}")
        self.stride = int(stride)

    @property
    def vocab_size(self) -> int:
        return NUM_SPECIAL + NUM_BASES**self.k

    def config(self) -> dict:
        return {"type": self.name, "k": self.k, "stride": self.stride}

    def num_tokens(self, length: int) -> int:
        length = check_length(length)
        if length < self.k:
            raise ValueError(f"sequence length {length} is shorter than k={self.k}")
        return (length - self.k) // self.stride + 1

    def encode(self, codes: Array, add_cls: bool = True) -> TokenBatch:
        c, is_numpy = as_code_batch(codes)
        n_tok = self.num_tokens(c.shape[1])
        span = (n_tok - 1) * self.stride + 1  # slice length that yields n_tok windows
        c = c.to(torch.int64)
        value = torch.zeros((c.shape[0], n_tok), dtype=torch.int64, device=c.device)
        has_n = torch.zeros((c.shape[0], n_tok), dtype=torch.bool, device=c.device)
        for j in range(self.k):  # loop over k only; each step is a whole-batch op
            base = c[:, j : j + span : self.stride]
            value = value * NUM_BASES + base
            has_n |= base == N
        ids = torch.where(has_n, UNK, value + NUM_SPECIAL)
        return finish_batch(ids, torch.ones_like(ids, dtype=torch.bool), add_cls, is_numpy)

    def decode(self, ids: Array, attention_mask: Array | None = None) -> list[np.ndarray]:
        """Rebuild (T-1)*stride + k bases per row from the overlapping k-mers.

        A base is N only when every k-mer covering it is UNK. Unlike the other tokenizers a
        MASK token keeps its slot here (it says nothing about its bases) so that the
        neighbouring k-mers stay aligned; PAD, CLS and masked-out positions are dropped.
        With stride > 1, bases after the last full window (not encoded) are not returned.
        """
        t, m = as_id_batch(ids, attention_mask, self.vocab_size)
        k, s = self.k, self.stride
        keep = m & (t != PAD) & (t != CLS)
        counts = keep.sum(dim=1)
        # Move kept tokens to the left of each row, order preserved.
        order = torch.argsort((~keep).to(torch.int8), dim=1, stable=True)
        tok = t.gather(1, order)
        slot = torch.arange(t.shape[1], device=t.device)
        known = (slot < counts[:, None]) & (tok >= NUM_SPECIAL)
        value = (tok - NUM_SPECIAL).clamp(min=0)
        lengths = torch.where(counts > 0, (counts - 1) * s + k, 0)
        width = max(int(lengths.max()) if lengths.numel() else 0, 0)
        dump = width  # extra column that swallows writes from unknown k-mers
        out = torch.full((t.shape[0], width + 1), N, dtype=torch.int64, device=t.device)
        for j in range(k):  # loop over k only
            digit = torch.div(value, NUM_BASES ** (k - 1 - j), rounding_mode="floor") % NUM_BASES
            pos = torch.where(known, slot * s + j, dump)
            out.scatter_(1, pos, torch.where(known, digit, N))
        out = out[:, :width]
        real = torch.arange(width, device=t.device) < lengths[:, None]
        return split_rows(out[real], lengths)
