"""Position information for the encoder: rotary (default), T5-style relative bias, learned absolute.

Rotary tables are computed once (for ``max_positions``, on the model's device) as non-persistent
fp32 buffers and sliced per forward; the relative bias is computed once per forward as one
vector per head over every offset and shared by every layer (as in T5).
"""

from __future__ import annotations

import math

import torch
from torch import nn


# ----------------------------------------------------------------------------- rotary


def rotary_cos_sin(positions: torch.Tensor, head_dim: int, base: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of ``positions x inv_freq``: two ``[len(positions), head_dim // 2]`` fp32 tensors."""
    half = head_dim // 2
    inv_freq = base ** (-torch.arange(0, half, dtype=torch.float64, device=positions.device) / half)
    angles = positions.to(torch.float64)[:, None] * inv_freq[None, :]
    return angles.cos().float(), angles.sin().float()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate pairs ``(x[i], x[i + D/2])`` by the angle of each position (GPT-NeoX layout).

    ``cos`` / ``sin`` must broadcast against ``x[..., : D // 2]``; they are cast to ``x.dtype``
    so bf16 activations stay bf16.
    """
    cos = cos.to(x.dtype)
    sin = sin.to(x.dtype)
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)


class RotaryEmbedding(nn.Module):
    """Caches cos/sin for ``max_positions`` positions; longer inputs get freshly computed tables."""

    def __init__(self, head_dim: int, base: float = 10000.0, max_positions: int = 2048) -> None:
        super().__init__()
        self.head_dim = head_dim
        self.base = float(base)
        cos, sin = rotary_cos_sin(torch.arange(max_positions), head_dim, self.base)
        self.register_buffer("cos_cached", cos, persistent=False)
        self.register_buffer("sin_cached", sin, persistent=False)

    def forward(self, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        if length <= self.cos_cached.shape[0]:
            return self.cos_cached[:length], self.sin_cached[:length]
        positions = torch.arange(length, device=self.cos_cached.device)
        return rotary_cos_sin(positions, self.head_dim, self.base)


# ----------------------------------------------------------------------------- relative (T5)


def relative_bucket(relative_position: torch.Tensor, num_buckets: int = 32, max_distance: int = 128) -> torch.Tensor:
    """T5's bidirectional bucketing of ``key_pos - query_pos``.

    Half the buckets per direction; within a direction the first half are exact offsets and the
    rest grow logarithmically up to ``max_distance`` (farther offsets share the last bucket).
    """
    num_buckets //= 2
    buckets = (relative_position > 0).long() * num_buckets
    n = relative_position.abs()
    max_exact = num_buckets // 2
    is_small = n < max_exact
    scaled = torch.log(n.clamp(min=1).float() / max_exact) / math.log(max_distance / max_exact)
    large = max_exact + (scaled * (num_buckets - max_exact)).long()
    large = large.clamp(max=num_buckets - 1)
    return buckets + torch.where(is_small, n, large)


class RelativePositionBias(nn.Module):
    """Learned bias per head and bucket, as one vector per head over every offset.

    ``forward(T)`` gives ``[H, 2S - 1]`` with S = max(max_positions, T): entry ``d + S - 1`` is
    the bias at offset ``d = key - query``. The span is fixed (not T) so that compiled kernels
    see a constant shape and a constant centre whatever the sequence length.
    """

    def __init__(self, num_heads: int, num_buckets: int = 32, max_distance: int = 128, max_positions: int = 2048) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.num_buckets = num_buckets
        self.max_distance = max_distance
        self.max_positions = max_positions
        self.bias = nn.Embedding(num_buckets, num_heads)

    def forward(self, length: int) -> torch.Tensor:
        span = max(self.max_positions, length)
        offsets = torch.arange(-(span - 1), span, device=self.bias.weight.device)
        buckets = relative_bucket(offsets, self.num_buckets, self.max_distance)
        return self.bias(buckets).t().contiguous()  # [H, 2S - 1]


def relative_bias_matrix(per_offset: torch.Tensor, length: int) -> torch.Tensor:
    """``[H, 2S - 1]`` per-offset bias -> ``[H, T, T]`` with entry (i, j) = bias at offset j - i."""
    centre = (per_offset.shape[-1] - 1) // 2
    pos = torch.arange(length, device=per_offset.device)
    index = pos[None, :] - pos[:, None] + centre  # [T, T]
    return per_offset[:, index]


# ----------------------------------------------------------------------------- absolute


class AbsolutePositionEmbedding(nn.Module):
    """Learned position vectors for positions ``0 .. max_positions - 1`` (CLS is position 0)."""

    def __init__(self, max_positions: int, hidden_size: int) -> None:
        super().__init__()
        self.max_positions = max_positions
        self.embedding = nn.Embedding(max_positions, hidden_size)

    def forward(self, length: int) -> torch.Tensor:
        if length > self.max_positions:
            raise ValueError(
                f"sequence of {length} tokens exceeds max_positions={self.max_positions} of the absolute "
                "position embedding; build the model with a larger max_positions"
            )
        return self.embedding.weight[:length]
