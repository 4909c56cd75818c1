"""The gated FFN activation ``act(a + bias_a) * (b + bias_b)`` as one kernel pair on a GPU.

``a`` and ``b`` come from the FFN's input Linear run without its bias; the bias is added here,
so its gradient is summed inside the fused backward (``triton_glu``) rather than by two more
passes over the FFN activations. Outside ``torch.compile``, on the CPU, or with
``ENABLED = False``, callers keep the plain PyTorch expression.
"""

# No ``from __future__ import annotations`` here: torch.library reads the operators' schemas
# from their annotations, and older PyTorch releases accept only evaluated ones.
from typing import Optional

import torch

from dnabench.models.fused_norm import triton_available

#: Use the Triton kernels where they can run (CUDA tensors, Triton installed).
ENABLED = True


def fused_applies(x: torch.Tensor) -> bool:
    """Only inside ``torch.compile``: run eagerly, the two extra custom-operator calls per layer
    cost the host more than the kernels save (H200, eager patch/rotary train step: 10,711 seq/s
    without them, 8,886 with them; compiled: 15,036 without, 15,223 with)."""
    return ENABLED and x.is_cuda and triton_available() and torch.compiler.is_compiling()


def gated_activation(
    a: torch.Tensor, b: torch.Tensor, bias_a: Optional[torch.Tensor], bias_b: Optional[torch.Tensor], relu: bool
) -> torch.Tensor:
    """``act(a + bias_a) * (b + bias_b)`` (act GELU, or ReLU with ``relu``); ``[..., F]`` inputs."""
    if (bias_a is None) != (bias_b is None):
        raise ValueError("pass both biases or neither")
    return torch.ops.dnabench.gated_activation(a, b, bias_a, bias_b, relu)


def _rows(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(-1, t.shape[-1]).contiguous()


@torch.library.custom_op("dnabench::gated_activation", mutates_args=())
def _forward(
    a: torch.Tensor, b: torch.Tensor, bias_a: Optional[torch.Tensor], bias_b: Optional[torch.Tensor], relu: bool
) -> torch.Tensor:
    from dnabench.models import triton_glu

    return triton_glu.forward(_rows(a), _rows(b), bias_a, bias_b, relu).view(a.shape)


@_forward.register_fake
def _(a, b, bias_a, bias_b, relu):
    return a.new_empty(a.shape)


@torch.library.custom_op("dnabench::gated_activation_backward", mutates_args=())
def _backward_op(
    a: torch.Tensor, b: torch.Tensor, bias_a: Optional[torch.Tensor], bias_b: Optional[torch.Tensor],
    grad_h: torch.Tensor, relu: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """-> gradients of a, b, and the biases as [2, F] (empty without biases)."""
    from dnabench.models import triton_glu

    grad_a, grad_b, grad_bias = triton_glu.backward(_rows(a), _rows(b), bias_a, bias_b, _rows(grad_h), relu)
    return grad_a.view(a.shape), grad_b.view(b.shape), grad_bias


@_backward_op.register_fake
def _(a, b, bias_a, bias_b, grad_h, relu):
    if bias_a is None:
        grad_bias = a.new_empty(0, dtype=torch.float32)
    else:
        grad_bias = a.new_empty((2, a.shape[-1]), dtype=bias_a.dtype)
    return a.new_empty(a.shape), b.new_empty(b.shape), grad_bias


def _setup_context(ctx, inputs, output) -> None:
    a, b, bias_a, bias_b, relu = inputs
    ctx.save_for_backward(a, b, bias_a, bias_b)
    ctx.relu = relu


def _backward(ctx, grad_h):
    a, b, bias_a, bias_b = ctx.saved_tensors
    grad_a, grad_b, grad_bias = torch.ops.dnabench.gated_activation_backward(a, b, bias_a, bias_b, grad_h, ctx.relu)
    if bias_a is None:
        return grad_a, grad_b, None, None, None
    return grad_a, grad_b, grad_bias[0], grad_bias[1], None


_forward.register_autograd(_backward, setup_context=_setup_context)
