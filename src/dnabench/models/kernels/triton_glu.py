"""Triton kernels behind ``fused_glu``: ``act(a + bias_a) * (b + bias_b)`` and its backward.

``a`` and ``b`` are the two halves of one ``[M, 2F]`` matrix, the output of the FFN's input
Linear as one matmul, and are read in place. The backward writes both halves' gradients into
one ``[M, 2F]`` matrix, so the input Linear's backward is again one matmul per gradient, with
no concatenation and no sum of two activation-sized gradients. The compiled PyTorch version
also runs the backward twice over the FFN activations, the second time recomputing the
activation's derivative for the bias gradients; here one pass writes the gradients and keeps
the column sums in registers, one partial row per program, summed afterwards.
"""

from __future__ import annotations

from typing import Optional

import torch
import triton
import triton.language as tl

from dnabench.models.kernels.triton_norm import row_programs

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
    AB, Bias, H, M, F,
    HAS_BIAS: tl.constexpr, RELU: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_F: tl.constexpr,
):
    rows = tl.program_id(0).to(tl.int64) * BLOCK_M + tl.arange(0, BLOCK_M)  # axis 0: no 65,535 cap
    cols = tl.program_id(1) * BLOCK_F + tl.arange(0, BLOCK_F)
    col_ok = cols < F
    ok = (rows < M)[:, None] & col_ok[None, :]
    offs_a = rows[:, None] * (2 * F) + cols[None, :]
    a = tl.load(AB + offs_a, mask=ok, other=0.0).to(tl.float32)
    b = tl.load(AB + offs_a + F, mask=ok, other=0.0).to(tl.float32)
    if HAS_BIAS:
        a += tl.load(Bias + cols, mask=col_ok, other=0.0).to(tl.float32)[None, :]
        b += tl.load(Bias + F + cols, mask=col_ok, other=0.0).to(tl.float32)[None, :]
    offs_h = rows[:, None] * F + cols[None, :]
    tl.store(H + offs_h, (_activation(a, RELU) * b).to(H.dtype.element_ty), mask=ok)


@triton.jit
def _backward_kernel(
    AB, Bias, GradH, GradAB, Parts, M, F,
    HAS_BIAS: tl.constexpr, RELU: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_F: tl.constexpr,
):
    """``Parts`` [programs along rows, 2F]: per-program column sums of the gradient."""
    pid_m = tl.program_id(1)
    cols = tl.program_id(0) * BLOCK_F + tl.arange(0, BLOCK_F)
    col_ok = cols < F
    if HAS_BIAS:
        bias_a = tl.load(Bias + cols, mask=col_ok, other=0.0).to(tl.float32)
        bias_b = tl.load(Bias + F + cols, mask=col_ok, other=0.0).to(tl.float32)
    sum_a = tl.zeros([BLOCK_M, BLOCK_F], dtype=tl.float32)
    sum_b = tl.zeros([BLOCK_M, BLOCK_F], dtype=tl.float32)
    for start in range(pid_m * BLOCK_M, M, tl.num_programs(1) * BLOCK_M):
        rows = start + tl.arange(0, BLOCK_M).to(tl.int64)
        ok = (rows < M)[:, None] & col_ok[None, :]
        offs_a = rows[:, None] * (2 * F) + cols[None, :]
        a = tl.load(AB + offs_a, mask=ok, other=0.0).to(tl.float32)
        b = tl.load(AB + offs_a + F, mask=ok, other=0.0).to(tl.float32)
        grad_h = tl.load(GradH + rows[:, None] * F + cols[None, :], mask=ok, other=0.0).to(tl.float32)
        if HAS_BIAS:
            a += bias_a[None, :]
            b += bias_b[None, :]
        grad_a = grad_h * b * _activation_grad(a, RELU)
        grad_b = grad_h * _activation(a, RELU)
        tl.store(GradAB + offs_a, grad_a.to(GradAB.dtype.element_ty), mask=ok)
        tl.store(GradAB + offs_a + F, grad_b.to(GradAB.dtype.element_ty), mask=ok)
        if HAS_BIAS:
            sum_a += grad_a
            sum_b += grad_b
    if HAS_BIAS:
        tl.store(Parts + pid_m * (2 * F) + cols, tl.sum(sum_a, axis=0), mask=col_ok)
        tl.store(Parts + pid_m * (2 * F) + F + cols, tl.sum(sum_b, axis=0), mask=col_ok)


def forward(ab: torch.Tensor, bias: Optional[torch.Tensor], relu: bool) -> torch.Tensor:
    """2-D contiguous ``ab`` [M, 2F] -> ``act(a + bias_a) * (b + bias_b)`` [M, F] in ``ab``'s dtype."""
    m, f = ab.shape[0], ab.shape[1] // 2
    h = ab.new_empty((m, f))
    has_bias = bias is not None
    _forward_kernel[(triton.cdiv(m, BLOCK_M), triton.cdiv(f, BLOCK_F))](
        ab, bias if has_bias else ab, h, m, f,
        HAS_BIAS=has_bias, RELU=relu, BLOCK_M=BLOCK_M, BLOCK_F=BLOCK_F, num_warps=WARPS,
    )
    return h


def backward(
    ab: torch.Tensor, bias: Optional[torch.Tensor], grad_h: torch.Tensor, relu: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradients of ``ab`` [M, 2F] and of the bias [2F] (empty without a bias)."""
    m, f = ab.shape[0], ab.shape[1] // 2
    grad_ab = torch.empty_like(ab)
    has_bias = bias is not None
    col_blocks = triton.cdiv(f, BLOCK_F)
    programs = row_programs(ab.device, m, BLOCK_M, BACKWARD_PROGRAMS_PER_SM, col_blocks)
    parts = torch.empty((programs, 2 * f) if has_bias else (0,), dtype=torch.float32, device=ab.device)
    _backward_kernel[(col_blocks, programs)](
        ab, bias if has_bias else ab, grad_h, grad_ab, parts, m, f,
        HAS_BIAS=has_bias, RELU=relu, BLOCK_M=BLOCK_M, BLOCK_F=BLOCK_F, num_warps=WARPS,
    )
    grad_bias = parts.sum(0).to(bias.dtype) if has_bias else parts
    return grad_ab, grad_bias
