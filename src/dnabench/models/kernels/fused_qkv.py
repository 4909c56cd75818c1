"""q, k and v from one matmul, rotary positions applied, with a one-pass backward on a GPU.

Compiled on CUDA, attention computes q, k, v as one ``[tokens, 3 x hidden]`` matmul (one
input-gradient matmul over all three in the backward, instead of three smaller ones and a sum).
The forward is plain PyTorch, left to Inductor (v reaches SDPA as a view, uncopied); the
backward's assembly of the three gradients into one matrix, with the rotary rotation undone
and the bias gradient summed, is one Triton kernel (``triton_qkv``). Outside
``torch.compile``, on the CPU, or with ``ENABLED = False``, attention keeps three Linears over
slices of the weight (eager autograd then sums three input gradients instead of concatenating
three activation-sized ones).
"""

# No ``from __future__ import annotations`` here: torch.library reads the operators' schemas
# from their annotations, and older PyTorch releases accept only evaluated ones.
from typing import Optional

import torch
import torch.nn.functional as F

from dnabench.models.kernels.fused_norm import compiled_on_cuda
from dnabench.models.positions import apply_rotary

#: Compiled on a GPU, compute q, k and v with one matmul and the Triton backward.
ENABLED = True


def fused_applies(x: torch.Tensor, head_dim: int) -> bool:
    """Only inside ``torch.compile`` (Inductor fuses the forward) and for even head sizes
    (the kernel walks pairs of columns ``(i, i + D/2)``)."""
    return ENABLED and head_dim % 2 == 0 and compiled_on_cuda(x)


def qkv_projection(
    x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor], heads: int,
    cos: Optional[torch.Tensor] = None, sin: Optional[torch.Tensor] = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``x`` [B, T, hidden] -> q, k, v [B, T, heads, D] (q and k rotated where ``cos``/``sin``
    [T, D/2] are given); ``weight`` [3 x hidden, hidden] and ``bias`` as in ``nn.Linear``.

    Under autocast the matmul runs in the autocast dtype, as ``F.linear`` would."""
    if torch.is_autocast_enabled(x.device.type):
        x = x.to(torch.get_autocast_dtype(x.device.type))
    return _QKVProjection.apply(x, weight, bias, heads, cos, sin)


class _QKVProjection(torch.autograd.Function):
    """An autograd Function, not a custom operator: Dynamo traces its forward into the graph,
    so Inductor still fuses the rotary step, while the backward calls the Triton kernel."""

    @staticmethod
    def forward(ctx, x, weight, bias, heads, cos, sin):
        batch, length, hidden = x.shape
        w = weight.to(x.dtype)
        qkv = F.linear(x, w, None if bias is None else bias.to(x.dtype))
        q, k, v = qkv.view(batch, length, 3, heads, hidden // heads).unbind(2)
        if cos is not None:
            cos, sin = cos[:, None, :], sin[:, None, :]  # [T, 1, D/2] broadcasts over [B, T, H, D/2]
            q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        ctx.save_for_backward(x, w, cos, sin)
        ctx.has_bias = bias is not None
        return q, k, v

    @staticmethod
    def backward(ctx, grad_q, grad_k, grad_v):
        x, w, cos, sin = ctx.saved_tensors
        if cos is not None:
            cos, sin = cos[:, 0, :], sin[:, 0, :]
        grad_qkv, grad_bias = torch.ops.dnabench.qkv_backward(grad_q, grad_k, grad_v, cos, sin, ctx.has_bias)
        rows = grad_qkv.view(-1, grad_qkv.shape[-1])
        grad_x = (rows @ w).view(x.shape)
        grad_w = rows.t() @ x.reshape(-1, x.shape[-1])
        return grad_x, grad_w, grad_bias if ctx.has_bias else None, None, None, None


def _rows(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(-1, t.shape[-2] * t.shape[-1]).contiguous()


@torch.library.custom_op("dnabench::qkv_backward", mutates_args=())
def _backward_op(
    grad_q: torch.Tensor, grad_k: torch.Tensor, grad_v: torch.Tensor,
    cos: Optional[torch.Tensor], sin: Optional[torch.Tensor], has_bias: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """[B, T, H, D] gradients of q, k (rotated), v -> the projection output's gradient
    [B, T, 3 x H x D] and the bias gradient (float32 [3 x H x D]; empty without a bias)."""
    from dnabench.models.kernels import triton_qkv

    batch, length, heads, dim = grad_q.shape
    grad_qkv, grad_bias = triton_qkv.backward(
        _rows(grad_q), _rows(grad_k), _rows(grad_v),
        None if cos is None else cos.contiguous(), None if sin is None else sin.contiguous(),
        dim, length, has_bias,
    )
    return grad_qkv.view(batch, length, 3 * heads * dim), grad_bias


@_backward_op.register_fake
def _(grad_q, grad_k, grad_v, cos, sin, has_bias):
    batch, length, heads, dim = grad_q.shape
    grad_bias = grad_q.new_empty((3 * heads * dim,) if has_bias else (0,), dtype=torch.float32)
    return grad_q.new_empty((batch, length, 3 * heads * dim)), grad_bias
