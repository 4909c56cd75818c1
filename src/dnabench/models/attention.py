"""Multi-head self-attention through ``scaled_dot_product_attention`` (or FlexAttention for a bias).

One Linear holds q, k and v, and each reaches SDPA as a ``[B, H, T, D]`` view of a
``[B, T, H, D]`` tensor, with no transposing copy. Compiled on a GPU, the Linear is one matmul
with a fused backward (``fused_qkv``); otherwise each of q, k, v comes from its slice of the
weight, so eager autograd sums three input gradients instead of concatenating three
activation-sized ones. Without padding and without a bias ``attn_mask`` is None, so the GPU can
use its FlashAttention kernel. A relative-position bias goes through
FlexAttention with a ``score_mod`` on CUDA (no ``[B, H, T, T]`` tensor is built) and through
SDPA with an exact float bias elsewhere.
"""

from __future__ import annotations

from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn

from dnabench.models.kernels import fused_qkv
from dnabench.models.positions import apply_rotary

_compiled_flex: Optional[Callable] = None


#: Tile sizes for FlexAttention's Triton kernels with 16-bit inputs (None: PyTorch's defaults).
FLEX_KERNEL_OPTIONS: Optional[dict] = {"BLOCK_M": 64, "BLOCK_N": 64}

#: How the relative bias reaches FlexAttention: "matrix" ([H, T, T], gradient contention only
#: across the batch) or "offset" ([H, 2S - 1], every score of an offset adds into one address).
FLEX_BIAS_LAYOUT = "matrix"

#: FlexAttention needs a head size of at least 16.
FLEX_MIN_HEAD_DIM = 16


def flex_available() -> bool:
    try:
        from torch.nn.attention.flex_attention import flex_attention  # noqa: F401
    except ImportError:  # pragma: no cover - torch < 2.5
        return False
    return True


def _flex_fn() -> Callable:
    """FlexAttention, compiled once per process (it is only fast compiled); raw inside a compile."""
    global _compiled_flex
    from torch.nn.attention.flex_attention import flex_attention

    if torch.compiler.is_compiling():
        return flex_attention
    if _compiled_flex is None:
        _compiled_flex = torch.compile(flex_attention)
    return _compiled_flex


def flex_relative_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    bias: torch.Tensor,
    key_mask: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Attention with a relative-position bias added to the scores and padded keys at -inf.

    ``bias`` is either ``[H, T, T]`` (entry (i, j) = bias at offset j - i, see
    ``relative_bias_matrix``) or ``[H, 2S - 1]`` indexed by offset + S - 1 (``S`` a constant
    span, so the centre stays a constant when T is dynamic). ``key_mask`` is ``[B, T]`` bool
    with True for real tokens. Gradients reach the bias.
    """
    if bias.ndim == 3:

        def biased(score, h, q_idx, kv_idx):
            return score + bias[h, q_idx, kv_idx]

    else:
        shift = (bias.shape[-1] - 1) // 2

        def biased(score, h, q_idx, kv_idx):
            return score + bias[h, kv_idx - q_idx + shift]

    if key_mask is None:

        def score_mod(score, b, h, q_idx, kv_idx):
            return biased(score, h, q_idx, kv_idx)

    else:

        def score_mod(score, b, h, q_idx, kv_idx):
            return torch.where(key_mask[b, kv_idx], biased(score, h, q_idx, kv_idx), -float("inf"))

    # Autocast stays off inside (q, k, v keep their dtype; the fp32 bias meets fp32 scores).
    # 16-bit inputs get 64 x 64 tiles: PyTorch's default tiles for a head size of 64 ask an H100
    # for more shared memory than it has once the bias needs a gradient.
    options = FLEX_KERNEL_OPTIONS if q.dtype in (torch.bfloat16, torch.float16) else None
    with torch.autocast(q.device.type, enabled=False):
        if options:
            return _flex_fn()(q, k, v, score_mod=score_mod, kernel_options=dict(options))
        return _flex_fn()(q, k, v, score_mod=score_mod)


class MultiHeadAttention(nn.Module):
    """Self-attention with a fused QKV projection; positions arrive as rotary tables or a bias."""

    def __init__(self, hidden_size: int, num_heads: int, dropout: float = 0.0, bias: bool = True) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.num_heads = num_heads
        self.head_dim = hidden_size // num_heads
        self.dropout = dropout
        self.qkv = nn.Linear(hidden_size, 3 * hidden_size, bias=bias)
        self.out = nn.Linear(hidden_size, hidden_size, bias=bias)

    def forward(
        self,
        x: torch.Tensor,
        cos: Optional[torch.Tensor] = None,
        sin: Optional[torch.Tensor] = None,
        attn_mask: Optional[torch.Tensor] = None,
        flex_bias: Optional[torch.Tensor] = None,
        flex_key_mask: Optional[torch.Tensor] = None,
        add_out_bias: bool = True,
    ) -> torch.Tensor:
        """``x`` [B, T, hidden]. ``cos``/``sin`` [T, D/2] for rotary; ``attn_mask`` for SDPA
        (bool, True = attend, or an additive float bias), broadcastable to [B, H, T, T];
        ``flex_bias`` [H, 2T - 1] (+ ``flex_key_mask`` [B, T]) selects FlexAttention.
        ``add_out_bias=False`` leaves the output projection's bias to the caller."""
        batch, length, _ = x.shape
        heads, dim = self.num_heads, self.head_dim
        if fused_qkv.fused_applies(x, dim):
            q, k, v = fused_qkv.qkv_projection(x, self.qkv.weight, self.qkv.bias, heads, cos, sin)
        else:
            weights = self.qkv.weight.chunk(3, dim=0)
            biases = self.qkv.bias.chunk(3) if self.qkv.bias is not None else (None, None, None)
            q, k, v = (F.linear(x, w, b).view(batch, length, heads, dim) for w, b in zip(weights, biases))
            if cos is not None and sin is not None:
                cos, sin = cos[:, None, :], sin[:, None, :]  # [T, 1, D/2] broadcasts over [B, T, H, D/2]
                q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # [B, H, T, D] views
        dropout_p = self.dropout if self.training else 0.0
        if flex_bias is not None:
            out = flex_relative_attention(q, k, v, flex_bias, flex_key_mask)
        else:
            if attn_mask is not None and attn_mask.dtype != torch.bool and attn_mask.dtype != q.dtype:
                attn_mask = attn_mask.to(q.dtype)
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p)
        out = out.transpose(1, 2).reshape(batch, length, self.hidden_size)
        return F.linear(out, self.out.weight, self.out.bias if add_out_bias else None)
