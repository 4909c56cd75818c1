"""``residual + dropout(branch + bias)`` and its LayerNorm in one step: the boundary between
sublayers.

A pre-norm encoder crosses this boundary twice a block. Compiled, PyTorch runs it as several
kernels, keeps a byte-per-element dropout mask for the backward and sums the output
projection's bias gradient in a pass of its own; on CUDA with Triton installed it runs here as
one forward and one backward kernel (``triton_norm``) that store no mask. The two kernels are
custom operators with their own autograd, so ``torch.compile`` keeps them whole. Elsewhere the
same function is the plain PyTorch expression; ``ENABLED = False`` forces that path everywhere
(benchmarks measure both in one run), and so does a first launch that fails (Triton without a
C compiler, a GPU it does not support), with one warning.
"""

# No ``from __future__ import annotations`` here: torch.library reads the operators' schemas
# from their annotations, and older PyTorch releases accept only evaluated ones.
import importlib.util
import warnings
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


def compiled_on_cuda(x: torch.Tensor) -> bool:
    """Traced by ``torch.compile`` for a CUDA tensor with Triton installed: where the kernels
    that only pay off inside a compiled graph (``fused_glu``, ``fused_qkv``) apply."""
    return x.is_cuda and triton_available() and torch.compiler.is_compiling()


def fused_applies(branch: torch.Tensor, norm: nn.LayerNorm) -> bool:
    return (
        ENABLED
        and _failure is None
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
    final: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``new = residual + dropout(branch + branch_bias)`` (``residual`` None: no residual;
    ``branch_bias`` None: no bias) and ``norm(new)``.

    A Linear's bias handed over as ``branch_bias`` (the Linear itself run without it) has its
    gradient summed inside the fused backward, not by a separate reduction over all rows.
    Shapes ``[..., hidden]``. On the fused path ``new`` and ``norm(new)`` have the promoted dtype
    of ``residual`` and ``branch`` (under autocast the LayerNorm output stays bf16, where the
    next Linear casts it anyway), except with ``final``: then ``norm(new)`` has the dtype plain
    PyTorch gives it on CUDA (float32 under autocast), as the encoder's output should.
    """
    p = float(p) if training else 0.0
    if fused_applies(branch, norm):
        dtype = branch.dtype if residual is None else torch.promote_types(residual.dtype, branch.dtype)
        out_dtype = torch.promote_types(dtype, norm.weight.dtype) if final else dtype
        args = (residual, branch, branch_bias, norm.weight, norm.bias, p, float(norm.eps), dtype, out_dtype)
        if torch.compiler.is_compiling() or _kernels_ran:
            new, out, _, _, _ = torch.ops.dnabench.add_dropout_norm(*args)
            return new, out
        try:
            new, out, _, _, _ = torch.ops.dnabench.add_dropout_norm(*args)
        except Exception as err:  # noqa: BLE001 - Triton cannot build or launch here: say so once, run plain
            _give_up(err)
        else:
            _mark_ran()
            return new, out
    if branch_bias is not None:
        branch = branch + branch_bias
    new = F.dropout(branch, p, training=p > 0)
    if residual is not None:
        new = residual + new
    return new, norm(new)


#: Set once the kernels have run in this process; until then a failure falls back to PyTorch.
_kernels_ran = False
#: Why the kernels could not run here (None: no failure seen).
_failure: Optional[str] = None


def _mark_ran() -> None:
    global _kernels_ran
    _kernels_ran = True


def _give_up(err: Exception) -> None:
    """The first launch failed (no C compiler for Triton, a GPU it does not support, ...)."""
    global _failure
    _failure = f"{type(err).__name__}: {err}"
    warnings.warn(
        f"dnabench: the fused Triton kernels could not run on this machine ({_failure}); "
        "using plain PyTorch ops instead",
        RuntimeWarning,
        stacklevel=3,
    )


def as_rows(t: torch.Tensor) -> torch.Tensor:
    """``[..., N]`` -> contiguous ``[rows, N]``, the layout the Triton kernels take."""
    return t.reshape(-1, t.shape[-1]).contiguous()


def _kernels():
    """The Triton kernels' module (imported on first use: importing Triton takes a second)."""
    from dnabench.models.kernels import triton_norm

    return triton_norm


@torch.library.custom_op("dnabench::add_dropout_norm", mutates_args=())
def _fused_forward(
    residual: Optional[torch.Tensor], branch: torch.Tensor, branch_bias: Optional[torch.Tensor], weight: torch.Tensor,
    bias: torch.Tensor, p: float, eps: float, dtype: torch.dtype, out_dtype: torch.dtype,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """-> new residual (``dtype``), normed (``out_dtype``), per-row mean and 1/std (float32), and
    the dropout seed (int64 [1] on the device: the kernels read it there, so nothing waits for
    the GPU)."""
    triton_norm = _kernels()

    if p > 0:
        seed = torch.randint(0, 2**31 - 1, (1,), dtype=torch.int64, device=branch.device)
    else:
        seed = torch.zeros(1, dtype=torch.int64, device=branch.device)
    rows = None if residual is None else as_rows(residual)
    new, out, mean, rstd = triton_norm.forward(
        rows, as_rows(branch), branch_bias, weight, bias, seed, p, eps, dtype, out_dtype
    )
    return new.view(branch.shape), out.view(branch.shape), mean, rstd, seed


@_fused_forward.register_fake
def _(residual, branch, branch_bias, weight, bias, p, eps, dtype, out_dtype):
    rows = branch.numel() // branch.shape[-1]
    stats = branch.new_empty(rows, dtype=torch.float32)
    seed = branch.new_empty(1, dtype=torch.int64)
    return branch.new_empty(branch.shape, dtype=dtype), branch.new_empty(branch.shape, dtype=out_dtype), stats, \
        torch.empty_like(stats), seed


@torch.library.custom_op("dnabench::add_dropout_norm_backward", mutates_args=())
def _fused_backward(
    grad_new: torch.Tensor, grad_out: torch.Tensor, new: torch.Tensor, weight: torch.Tensor, mean: torch.Tensor,
    rstd: torch.Tensor, seed: torch.Tensor, p: float, branch_dtype: torch.dtype, has_residual: bool,
    has_branch_bias: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """-> gradients of residual (empty without one), branch, and LayerNorm weight and bias (and
    branch bias) as [2 or 3, N]."""
    grad_res, grad_branch, grad_norm = _kernels().backward(
        as_rows(grad_new), as_rows(grad_out), as_rows(new), weight, mean, rstd, seed, p, branch_dtype, has_residual,
        has_branch_bias,
    )
    if has_residual:
        grad_res = grad_res.view(new.shape)
    return grad_res, grad_branch.view(new.shape), grad_norm


@_fused_backward.register_fake
def _(grad_new, grad_out, new, weight, mean, rstd, seed, p, branch_dtype, has_residual, has_branch_bias):
    grad_res = new.new_empty(new.shape) if has_residual else new.new_empty(0)
    grad_norm = weight.new_empty(3 if has_branch_bias else 2, weight.shape[0])
    return grad_res, new.new_empty(new.shape, dtype=branch_dtype), grad_norm


def _setup_context(ctx, inputs, output) -> None:
    residual, branch, branch_bias, weight, _, p, _, _, _ = inputs
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
    return grad_res, grad_branch, grad_branch_bias, grad_norm[0], grad_norm[1], None, None, None, None


_fused_forward.register_autograd(_backward, setup_context=_setup_context)
