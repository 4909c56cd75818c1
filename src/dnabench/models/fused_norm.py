"""``residual + dropout(branch + bias)`` and its LayerNorm in one step: the boundary between
sublayers.

A pre-norm encoder crosses this boundary twice a block. Compiled, PyTorch runs it as several
kernels, keeps a byte-per-element dropout mask for the backward and sums the output
projection's bias gradient in a pass of its own; on CUDA with Triton installed it runs here as
one forward and one backward kernel (``triton_norm``) that store no mask. The two kernels are custom operators with their own autograd, so ``torch.compile`` keeps
them whole. Elsewhere the same function is the plain PyTorch expression; ``ENABLED = False``
forces that path everywhere (benchmarks measure both in one run).
"""

# No ``from __future__ import annotations`` here: torch.library reads the operators' schemas
# from their annotations, and older PyTorch releases accept only evaluated ones.
import importlib.util
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

#: Use the Triton kernels where they can run (CUDA tensors, Triton importable).
ENABLED = True

#: Whether Triton is installed (looked up, not imported: importing it takes a second).
_TRITON = importlib.util.find_spec("triton") is not None


def triton_available() -> bool:
    return _TRITON


def fused_applies(branch: torch.Tensor, norm: nn.LayerNorm) -> bool:
    return (
        ENABLED
        and branch.is_cuda
        and norm.weight is not None
        and norm.bias is not None
        and len(norm.normalized_shape) == 1
        and triton_available()
    )


def add_dropout_norm(
    residual: Optional[torch.Tensor],
    branch: torch.Tensor,
    norm: nn.LayerNorm,
    p: float,
    training: bool,
    branch_bias: Optional[torch.Tensor] = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``new = residual + dropout(branch + branch_bias)`` (``residual`` None: no residual;
    ``branch_bias`` None: no bias) and ``norm(new)``.

    A Linear's bias handed over as ``branch_bias`` (the Linear itself run without it) has its
    gradient summed inside the fused backward, not by a separate reduction over all rows.
    Shapes ``[..., hidden]``. On the fused path both outputs have the promoted dtype of
    ``residual`` and ``branch`` (the LayerNorm output does not go to float32 under autocast;
    the next Linear casts to bf16 anyway).
    """
    p = float(p) if training else 0.0
    if not fused_applies(branch, norm):
        if branch_bias is not None:
            branch = branch + branch_bias
        new = F.dropout(branch, p, training=p > 0)
        if residual is not None:
            new = residual + new
        return new, norm(new)
    dtype = branch.dtype if residual is None else torch.promote_types(residual.dtype, branch.dtype)
    new, out, _, _, _ = torch.ops.dnabench.add_dropout_norm(
        residual, branch, branch_bias, norm.weight, norm.bias, p, float(norm.eps), dtype
    )
    return new, out


def _rows(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(-1, t.shape[-1]).contiguous()


@torch.library.custom_op("dnabench::add_dropout_norm", mutates_args=())
def _fused_forward(
    residual: Optional[torch.Tensor], branch: torch.Tensor, branch_bias: Optional[torch.Tensor], weight: torch.Tensor,
    bias: torch.Tensor, p: float, eps: float, dtype: torch.dtype,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """-> new residual, normed (both ``dtype``), per-row mean and 1/std (float32), and the dropout
    seed (int64 [1] on the device: the kernels read it there, so nothing waits for the GPU)."""
    from dnabench.models import triton_norm

    if p > 0:
        seed = torch.randint(0, 2**31 - 1, (1,), dtype=torch.int64, device=branch.device)
    else:
        seed = torch.zeros(1, dtype=torch.int64, device=branch.device)
    rows = None if residual is None else _rows(residual)
    new, out, mean, rstd = triton_norm.forward(rows, _rows(branch), branch_bias, weight, bias, seed, p, eps, dtype)
    return new.view(branch.shape), out.view(branch.shape), mean, rstd, seed


@_fused_forward.register_fake
def _(residual, branch, branch_bias, weight, bias, p, eps, dtype):
    rows = branch.numel() // branch.shape[-1]
    stats = branch.new_empty(rows, dtype=torch.float32)
    seed = branch.new_empty(1, dtype=torch.int64)
    new = torch.empty_like(branch, dtype=dtype)
    return new, torch.empty_like(new), stats, torch.empty_like(stats), seed


@torch.library.custom_op("dnabench::add_dropout_norm_backward", mutates_args=())
def _fused_backward(
    grad_new: torch.Tensor, grad_out: torch.Tensor, new: torch.Tensor, weight: torch.Tensor, mean: torch.Tensor,
    rstd: torch.Tensor, seed: torch.Tensor, p: float, branch_dtype: torch.dtype, has_residual: bool,
    has_branch_bias: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """-> gradients of residual (empty without one), branch, and LayerNorm weight and bias (and
    branch bias) as [2 or 3, N]."""
    from dnabench.models import triton_norm

    grad_res, grad_branch, grad_norm = triton_norm.backward(
        _rows(grad_new), _rows(grad_out), _rows(new), weight, mean, rstd, seed, p, branch_dtype, has_residual,
        has_branch_bias,
    )
    if has_residual:
        grad_res = grad_res.view(new.shape)
    return grad_res, grad_branch.view(new.shape), grad_norm


@_fused_backward.register_fake
def _(grad_new, grad_out, new, weight, mean, rstd, seed, p, branch_dtype, has_residual, has_branch_bias):
    grad_res = torch.empty_like(new) if has_residual else new.new_empty(0)
    grad_norm = weight.new_empty(3 if has_branch_bias else 2, weight.shape[0])
    return grad_res, torch.empty_like(new, dtype=branch_dtype), grad_norm


def _setup_context(ctx, inputs, output) -> None:
    residual, branch, branch_bias, weight, _, p, _, _ = inputs
    new, _, mean, rstd, seed = output
    ctx.save_for_backward(new, weight, mean, rstd, seed)
    ctx.p = p
    ctx.branch_dtype = branch.dtype
    ctx.residual_dtype = None if residual is None else residual.dtype
    ctx.branch_bias_dtype = None if branch_bias is None else branch_bias.dtype
    ctx.mark_non_differentiable(mean, rstd, seed)


def _backward(ctx, grad_new, grad_out, _mean, _rstd, _seed):
    new, weight, mean, rstd, seed = ctx.saved_tensors
    has_residual = ctx.residual_dtype is not None
    has_branch_bias = ctx.branch_bias_dtype is not None
    grad_res, grad_branch, grad_norm = torch.ops.dnabench.add_dropout_norm_backward(
        grad_new, grad_out, new, weight, mean, rstd, seed, ctx.p, ctx.branch_dtype, has_residual, has_branch_bias
    )
    grad_res = grad_res.to(ctx.residual_dtype) if has_residual else None
    grad_branch_bias = grad_norm[2].to(ctx.branch_bias_dtype) if has_branch_bias else None
    return grad_res, grad_branch, grad_branch_bias, grad_norm[0], grad_norm[1], None, None, None


_fused_forward.register_autograd(_backward, setup_context=_setup_context)
