"""The gated FFN activation ``act(a + bias_a) * (b + bias_b)`` as one kernel pair on a GPU.

``a`` and ``b`` are the two halves of the FFN's input Linear, run as one matmul without its
bias; the bias is added here, so its gradient is summed inside the fused backward
(``triton_glu``) rather than by two more passes over the FFN activations. Outside
``torch.compile``, on the CPU, or with ``ENABLED = False``, callers keep the plain PyTorch
expression.
"""

# No ``from __future__ import annotations`` here: torch.library reads the operators' schemas
# from their annotations, and older PyTorch releases accept only evaluated ones.
from typing import Optional

import torch

from dnabench.models.kernels.fused_norm import as_rows, compiled_on_cuda

#: Use the Triton kernels where they can run (CUDA tensors, Triton installed).
ENABLED = True


def fused_applies(x: torch.Tensor) -> bool:
    """Only inside ``torch.compile``: run eagerly, the two extra custom-operator calls per layer
    cost the host more than the kernels save (H200, eager patch/rotary train step: 10,711 seq/s
    without them, 8,886 with them; compiled: 15,036 without, 15,223 with)."""
    return ENABLED and compiled_on_cuda(x)


def gated_activation(ab: torch.Tensor, bias: Optional[torch.Tensor], relu: bool) -> torch.Tensor:
    """``act(a + bias_a) * (b + bias_b)`` for ``ab`` = ``[..., 2F]`` (``a`` its first half, ``b``
    its second) and ``bias`` ``[2F]`` or None; act GELU, or ReLU with ``relu``; -> ``[..., F]``."""
    if ab.shape[-1] % 2:
        raise ValueError(f"the last dimension holds both halves and must be even, got {ab.shape[-1]}")
    if bias is not None and bias.shape != ab.shape[-1:]:
        raise ValueError(f"bias shape {tuple(bias.shape)} != ({ab.shape[-1]},)")
    return torch.ops.dnabench.gated_activation(ab, bias, relu)


def _half_shape(ab: torch.Tensor) -> list[int]:
    return [*ab.shape[:-1], ab.shape[-1] // 2]


@torch.library.custom_op("dnabench::gated_activation", mutates_args=())
def _forward(ab: torch.Tensor, bias: Optional[torch.Tensor], relu: bool) -> torch.Tensor:
    from dnabench.models.kernels import triton_glu

    return triton_glu.forward(as_rows(ab), bias, relu).view(_half_shape(ab))


@_forward.register_fake
def _(ab, bias, relu):
    return ab.new_empty(_half_shape(ab))


@torch.library.custom_op("dnabench::gated_activation_backward", mutates_args=())
def _backward_op(
    ab: torch.Tensor, bias: Optional[torch.Tensor], grad_h: torch.Tensor, relu: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """-> gradients of ``ab`` and of the bias (empty without a bias)."""
    from dnabench.models.kernels import triton_glu

    grad_ab, grad_bias = triton_glu.backward(as_rows(ab), bias, as_rows(grad_h), relu)
    return grad_ab.view(ab.shape), grad_bias


@_backward_op.register_fake
def _(ab, bias, grad_h, relu):
    grad_bias = ab.new_empty(0, dtype=torch.float32) if bias is None else bias.new_empty(bias.shape)
    return ab.new_empty(ab.shape), grad_bias


def _setup_context(ctx, inputs, output) -> None:
    ab, bias, relu = inputs
    ctx.save_for_backward(ab, bias)
    ctx.relu = relu


def _backward(ctx, grad_h):
    ab, bias = ctx.saved_tensors
    grad_ab, grad_bias = torch.ops.dnabench.gated_activation_backward(ab, bias, grad_h, ctx.relu)
    return grad_ab, None if bias is None else grad_bias, None


_forward.register_autograd(_backward, setup_context=_setup_context)
