"""Front ends (paper 5.1): token ids ``[B, T]`` -> input vectors ``[B, T', hidden]`` + token mask.

Every front end expects the CLS id at position 0 (``tokenizer.encode(codes)`` puts it there).
Embedding front ends (k-mer, BPE) embed every id. Convolutional front ends (k-patch, one-hot)
convolve the ids after position 0 and prepend the directly embedded CLS afterwards, so CLS
never mixes into the convolution; they zero padded positions before convolving, so a padded
row gives the same vectors as the row alone, and the one-hot front end's max-pool shrinks the
mask with the tokens (a pooled token is real when any base in its window is).
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from dnabench.models.config import NUM_SPECIAL, FrontendConfig

PAD_ID = 0
ONEHOT_VOCAB = NUM_SPECIAL + 5  # specials + A C G T N


def onehot_table(dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``[9, 4]`` lookup: ids 4..7 (A C G T) -> unit vectors; specials and N (id 8) -> zeros."""
    table = torch.zeros(ONEHOT_VOCAB, 4, dtype=dtype)
    table[NUM_SPECIAL : NUM_SPECIAL + 4] = torch.eye(4, dtype=dtype)
    return table


class TokenEmbeddingFrontend(nn.Module):
    """k-mer and BPE: each id straight to a vector (PAD embeds to zeros)."""

    def __init__(self, vocab_size: int, hidden_size: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, hidden_size, padding_idx=PAD_ID)

    def forward(self, ids: torch.Tensor, mask: Optional[torch.Tensor]) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        return self.embedding(ids), mask


#: Run the k-patch convolution in 2-D channels-last form on CUDA (benchmarks switch it off).
CHANNELS_LAST_CONV = True


def channels_last_conv(conv: nn.Conv1d, x: torch.Tensor) -> torch.Tensor:
    """``conv`` over the tokens of ``x`` [B, T, C] -> [B, T, C'], with no layout copies on a GPU.

    ``x`` is already channels-last; cuDNN's 1-D path converts it to channels-first and back
    (two transposing kernels each way), its 2-D path takes it as it is: the same convolution as
    ``[B, C, 1, T]`` in channels-last memory format.
    """
    images = x.transpose(1, 2).unsqueeze(2)  # [B, C, 1, T] with channels-last strides, no copy
    weight = conv.weight.unsqueeze(2).contiguous(memory_format=torch.channels_last)
    y = F.conv2d(images, weight, conv.bias, padding=(0, conv.padding[0]))
    return y.squeeze(2).transpose(1, 2)


class PatchFrontend(nn.Module):
    """k-patch: embed each patch id, then Conv1d (kernel 7, 'same') so a token sees ~7k bases."""

    def __init__(self, vocab_size: int, hidden_size: int, kernel_size: int = 7) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, hidden_size, padding_idx=PAD_ID)
        self.conv = nn.Conv1d(hidden_size, hidden_size, kernel_size, padding=kernel_size // 2)

    def forward(self, ids: torch.Tensor, mask: Optional[torch.Tensor]) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        cls = self.embedding(ids[:, :1])
        x = self.embedding(ids[:, 1:])
        if mask is not None:
            x = x.masked_fill(~mask[:, 1:, None], 0.0)
        if CHANNELS_LAST_CONV and x.is_cuda:
            x = channels_last_conv(self.conv, x)
        else:
            x = self.conv(x.transpose(1, 2)).transpose(1, 2)
        return torch.cat([cls.to(x.dtype), x], dim=1), mask


class OneHotFrontend(nn.Module):
    """one-hot: bases -> one-hot -> Conv1d (kernel 25, stride 1, 'same') -> MaxPool (4).

    N, MASK and PAD are all-zero columns (the conv's zero padding is N, too); T' = ceil(L / pool).
    """

    def __init__(self, hidden_size: int, kernel_size: int = 25, pool: int = 4) -> None:
        super().__init__()
        self.pool = pool
        self.register_buffer("onehot", onehot_table(), persistent=False)
        self.special = nn.Embedding(NUM_SPECIAL, hidden_size)
        self.conv = nn.Conv1d(4, hidden_size, kernel_size, padding=kernel_size // 2)

    def forward(self, ids: torch.Tensor, mask: Optional[torch.Tensor]) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        cls = self.special(ids[:, :1].clamp(max=NUM_SPECIAL - 1))
        bases = F.embedding(ids[:, 1:], self.onehot)  # [B, L, 4]
        y = self.conv(bases.transpose(1, 2))  # [B, hidden, L]
        if mask is None:
            y = F.max_pool1d(y, self.pool, self.pool, ceil_mode=True)
            return torch.cat([cls.to(y.dtype), y.transpose(1, 2)], dim=1), None
        base_mask = mask[:, 1:]
        y = y.masked_fill(~base_mask[:, None, :], -float("inf"))
        y = F.max_pool1d(y, self.pool, self.pool, ceil_mode=True)
        length = base_mask.shape[1]
        tokens = y.shape[-1]
        padded = F.pad(base_mask, (0, tokens * self.pool - length), value=False)
        token_mask = padded.view(padded.shape[0], tokens, self.pool).any(dim=-1)
        x = y.transpose(1, 2).masked_fill(~token_mask[:, :, None], 0.0)
        return torch.cat([cls.to(x.dtype), x], dim=1), torch.cat([mask[:, :1], token_mask], dim=1)


def build_frontend(config: FrontendConfig, hidden_size: int) -> nn.Module:
    kind = config.tokenizer
    if config.vocab_size is None:
        raise ValueError("FrontendConfig.vocab_size is unknown: pass the trained BPE tokenizer (tokenizer=...) or vocab_size")
    if kind in ("kmer", "bpe"):
        return TokenEmbeddingFrontend(config.vocab_size, hidden_size)
    if kind == "patch":
        return PatchFrontend(config.vocab_size, hidden_size, int(config.conv_kernel))  # type: ignore[arg-type]
    if kind == "onehot":
        return OneHotFrontend(hidden_size, int(config.conv_kernel), config.pool)  # type: ignore[arg-type]
    raise ValueError(f"unknown front end {kind!r}")  # pragma: no cover - config validates


def token_count(config: FrontendConfig, num_tokens: int) -> int:
    """Encoder length for ``num_tokens`` tokenizer tokens (CLS excluded): pooling shrinks one-hot."""
    if config.tokenizer == "onehot":
        return -(-num_tokens // config.pool)
    return num_tokens
