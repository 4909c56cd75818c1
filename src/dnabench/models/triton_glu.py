"""Triton kernels behind ``fused_glu``: ``act(a + bias_a) * (b + bias_b)`` and its backward.

The compiled PyTorch version runs the backward twice over the FFN activations: once to write
the two input gradients, and again, recomputing the activation's derivative, to sum them over
rows for the two bias gradients. Here one backward pass writes both gradients and keeps the
column sums in registers, one partial row per program, summed afterwards.
"""

from __future__ import annotations

from typing import Optional

import torch
import triton
import triton.language as tl

#: Rows x columns of a tile, warps per program, and backward programs per SM.
BLOCK_M = 16
BLOCK_F = 128
WARPS = 4
BACKWARD_PROGRAMS_PER_SM = 8


@triton.jit
def _activation(a, RELU: tl.constexpr):
    if RELU:
        return tl.maximum(a, 0.0)
    return 0.5 * a * (1.0 + tl.math.erf(a * 0.7071067811865476))  # exact GELU, as F.gelu


@triton.jit
def _activation_grad(a, RELU: tl.constexpr):
    if RELU:
        return (a > 0.0).to(tl.float32)
    cdf = 0.5 * (1.0 + tl.math.erf(a * 0.7071067811865476))
    return cdf + a * tl.exp(-0.5 * a * a) * 0.3989422804014327


@triton.jit
def _forward_kernel(
    A, B, BiasA, BiasB, H, M, F,
    HAS_BIAS: tl.constexpr, RELU: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_F: tl.constexpr,
):
    rows = tl.program_id(0).to(tl.int64) * BLOCK_M + tl.arange(0, BLOCK_M)  # axis 0: no 65,535 cap
    cols = tl.program_id(1) * BLOCK_F + tl.arange(0, BLOCK_F)
    col_ok = cols < F
    ok = (rows < M)[:, None] & col_ok[None, :]
    offs = rows[:, None] * F + cols[None, :]
    a = tl.load(A + offs, mask=ok, other=0.0).to(tl.float32)
    b = tl.load(B + offs, mask=ok, other=0.0).to(tl.float32)
    if HAS_BIAS:
        a += tl.load(BiasA + cols, mask=col_ok, other=0.0).to(tl.float32)[None, :]
        b += tl.load(BiasB + cols, mask=col_ok, other=0.0).to(tl.float32)[None, :]
    tl.store(H + offs, (_activation(a, RELU) * b).to(H.dtype.element_ty), mask=ok)


@triton.jit
def _backward_kernel(
    A, B, BiasA, BiasB, GradH, GradA, GradB, Parts, M, F,
    HAS_BIAS: tl.constexpr, RELU: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_F: tl.constexpr,
):
    """``Parts`` [2, programs along rows, F]: per-program column sums of the two gradients."""
    pid_m = tl.program_id(1)
    cols = tl.program_id(0) * BLOCK_F + tl.arange(0, BLOCK_F)
    col_ok = cols < F
    if HAS_BIAS:
        bias_a = tl.load(BiasA + cols, mask=col_ok, other=0.0).to(tl.float32)
        bias_b = tl.load(BiasB + cols, mask=col_ok, other=0.0).to(tl.float32)
    sum_a = tl.zeros([BLOCK_M, BLOCK_F], dtype=tl.float32)
    sum_b = tl.zeros([BLOCK_M, BLOCK_F], dtype=tl.float32)
    for start in range(pid_m * BLOCK_M, M, tl.num_programs(1) * BLOCK_M):
        rows = start + tl.arange(0, BLOCK_M).to(tl.int64)
        ok = (rows < M)[:, None] & col_ok[None, :]
        offs = rows[:, None] * F + cols[None, :]
        a = tl.load(A + offs, mask=ok, other=0.0).to(tl.float32)
        b = tl.load(B + offs, mask=ok, other=0.0).to(tl.float32)
        grad_h = tl.load(GradH + offs, mask=ok, other=0.0).to(tl.float32)
        if HAS_BIAS:
            a += bias_a[None, :]
            b += bias_b[None, :]
        grad_a = grad_h * b * _activation_grad(a, RELU)
        grad_b = grad_h * _activation(a, RELU)
        tl.store(GradA + offs, grad_a.to(GradA.dtype.element_ty), mask=ok)
        tl.store(GradB + offs, grad_b.to(GradB.dtype.element_ty), mask=ok)
        if HAS_BIAS:
            sum_a += grad_a
            sum_b += grad_b
    if HAS_BIAS:
        programs = tl.num_programs(1)
        tl.store(Parts + pid_m * F + cols, tl.sum(sum_a, axis=0), mask=col_ok)
        tl.store(Parts + (programs + pid_m) * F + cols, tl.sum(sum_b, axis=0), mask=col_ok)


def forward(
    a: torch.Tensor, b: torch.Tensor, bias_a: Optional[torch.Tensor], bias_b: Optional[torch.Tensor], relu: bool
) -> torch.Tensor:
    """2-D contiguous ``a``, ``b`` [M, F] -> ``act(a + bias_a) * (b + bias_b)`` in ``a``'s dtype."""
    m, f = a.shape
    h = torch.empty_like(a)
    has_bias = bias_a is not None
    _forward_kernel[(triton.cdiv(m, BLOCK_M), triton.cdiv(f, BLOCK_F))](
        a, b, bias_a if has_bias else a, bias_b if has_bias else a, h, m, f,
        HAS_BIAS=has_bias, RELU=relu, BLOCK_M=BLOCK_M, BLOCK_F=BLOCK_F, num_warps=WARPS,
    )
    return h


def backward(
    a: torch.Tensor, b: torch.Tensor, bias_a: Optional[torch.Tensor], bias_b: Optional[torch.Tensor],
    grad_h: torch.Tensor, relu: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients of ``a``, ``b`` and the biases stacked ``[2, F]`` (empty without biases)."""
    m, f = a.shape
    grad_a, grad_b = torch.empty_like(a), torch.empty_like(b)
    has_bias = bias_a is not None
    col_blocks = triton.cdiv(f, BLOCK_F)
    sms = torch.cuda.get_device_properties(a.device).multi_processor_count if a.device.type == "cuda" else 1
    row_programs = max(1, min(triton.cdiv(m, BLOCK_M), sms * BACKWARD_PROGRAMS_PER_SM // col_blocks))
    parts = torch.empty((2, row_programs, f) if has_bias else (0,), dtype=torch.float32, device=a.device)
    _backward_kernel[(col_blocks, row_programs)](
        a, b, bias_a if has_bias else a, bias_b if has_bias else a, grad_h, grad_a, grad_b, parts, m, f,
        HAS_BIAS=has_bias, RELU=relu, BLOCK_M=BLOCK_M, BLOCK_F=BLOCK_F, num_warps=WARPS,
    )
    grad_bias = parts.sum(1).to(bias_a.dtype) if has_bias else parts
    return grad_a, grad_b, grad_bias
