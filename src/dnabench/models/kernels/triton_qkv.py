"""Triton kernel behind ``fused_qkv``: the backward of q, k, v taken from one matmul's output.

Compiled PyTorch assembles that gradient with one generic kernel that undoes the rotary
rotation of q and k, copies v, and writes the three into one ``[tokens, 3 x hidden]`` matrix,
at about half the memory bandwidth (its flat indexing loads each element under several masks),
then sums the bias gradient in a second pass over the matrix. Here one pass does both: each
program walks rows of one column block, rotates pairs ``(i, i + D/2)`` of q and k back, copies
v, and keeps the column sums in registers, one partial row per program, summed afterwards.
"""

from __future__ import annotations

from typing import Optional

import torch
import triton
import triton.language as tl

from dnabench.models.kernels.triton_norm import row_programs

#: Rows x pair columns of a tile, warps per program, and programs per SM.
BLOCK_M = 16
BLOCK_C = 64
WARPS = 4
PROGRAMS_PER_SM = 8


@triton.jit
def _part(G, OUT, src, dst, ok, cos, sin, HALF: tl.constexpr, ROTATE: tl.constexpr):
    """One of q, k, v: load the pair halves, rotate back (the gradient of ``(x1 cos - x2 sin,
    x2 cos + x1 sin)``), store; returns the two halves for the bias sums."""
    g1 = tl.load(G + src, mask=ok, other=0.0).to(tl.float32)
    g2 = tl.load(G + src + HALF, mask=ok, other=0.0).to(tl.float32)
    if ROTATE:
        g1, g2 = g1 * cos + g2 * sin, g2 * cos - g1 * sin
    tl.store(OUT + dst, g1.to(OUT.dtype.element_ty), mask=ok)
    tl.store(OUT + dst + HALF, g2.to(OUT.dtype.element_ty), mask=ok)
    return g1, g2


@triton.jit
def _backward_kernel(
    DQ, DK, DV, Cos, Sin, DQKV, Parts, M, T,
    HIDDEN: tl.constexpr, HALF: tl.constexpr, ROTARY: tl.constexpr, HAS_BIAS: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_C: tl.constexpr,
):
    """Rows of ``DQ``/``DK``/``DV`` [M, HIDDEN] (heads of 2 x HALF) -> ``DQKV`` [M, 3 x HIDDEN];
    ``Parts`` [programs along rows, 3 x HIDDEN]: per-program column sums."""
    pid_m = tl.program_id(1)
    pairs = tl.program_id(0) * BLOCK_C + tl.arange(0, BLOCK_C)  # (head, i) pairs, i < HALF
    pair_ok = pairs < HIDDEN // 2
    j = pairs % HALF
    first = (pairs // HALF) * (2 * HALF) + j  # column of x1; x2 is HALF further
    sum_q1 = tl.zeros([BLOCK_M, BLOCK_C], dtype=tl.float32)
    sum_q2 = tl.zeros([BLOCK_M, BLOCK_C], dtype=tl.float32)
    sum_k1 = tl.zeros([BLOCK_M, BLOCK_C], dtype=tl.float32)
    sum_k2 = tl.zeros([BLOCK_M, BLOCK_C], dtype=tl.float32)
    sum_v1 = tl.zeros([BLOCK_M, BLOCK_C], dtype=tl.float32)
    sum_v2 = tl.zeros([BLOCK_M, BLOCK_C], dtype=tl.float32)
    for start in range(pid_m * BLOCK_M, M, tl.num_programs(1) * BLOCK_M):
        rows = start + tl.arange(0, BLOCK_M).to(tl.int64)
        ok = (rows < M)[:, None] & pair_ok[None, :]
        src = rows[:, None] * HIDDEN + first[None, :]
        dst = rows[:, None] * (3 * HIDDEN) + first[None, :]
        if ROTARY:
            table = (rows % T)[:, None] * HALF + j[None, :]
            # The tables in the activations' dtype, as the forward (apply_rotary) used them.
            cos = tl.load(Cos + table, mask=ok, other=0.0).to(DQ.dtype.element_ty).to(tl.float32)
            sin = tl.load(Sin + table, mask=ok, other=0.0).to(DQ.dtype.element_ty).to(tl.float32)
        else:
            cos = 1.0
            sin = 0.0
        q1, q2 = _part(DQ, DQKV, src, dst, ok, cos, sin, HALF, ROTARY)
        k1, k2 = _part(DK, DQKV + HIDDEN, src, dst, ok, cos, sin, HALF, ROTARY)
        v1, v2 = _part(DV, DQKV + 2 * HIDDEN, src, dst, ok, cos, sin, HALF, False)
        if HAS_BIAS:
            sum_q1 += q1
            sum_q2 += q2
            sum_k1 += k1
            sum_k2 += k2
            sum_v1 += v1
            sum_v2 += v2
    if HAS_BIAS:
        out = Parts + pid_m * (3 * HIDDEN) + first
        tl.store(out, tl.sum(sum_q1, axis=0), mask=pair_ok)
        tl.store(out + HALF, tl.sum(sum_q2, axis=0), mask=pair_ok)
        tl.store(out + HIDDEN, tl.sum(sum_k1, axis=0), mask=pair_ok)
        tl.store(out + HIDDEN + HALF, tl.sum(sum_k2, axis=0), mask=pair_ok)
        tl.store(out + 2 * HIDDEN, tl.sum(sum_v1, axis=0), mask=pair_ok)
        tl.store(out + 2 * HIDDEN + HALF, tl.sum(sum_v2, axis=0), mask=pair_ok)


def backward(
    dq: torch.Tensor, dk: torch.Tensor, dv: torch.Tensor, cos: Optional[torch.Tensor], sin: Optional[torch.Tensor],
    head_dim: int, length: int, has_bias: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """2-D contiguous gradients [M, hidden] of q, k (after rotary) and v -> the gradient of the
    projection's output [M, 3 x hidden] and of its bias (float32 [3 x hidden]; empty without)."""
    m, hidden = dq.shape
    dqkv = dq.new_empty((m, 3 * hidden))
    rotary = cos is not None
    col_blocks = triton.cdiv(hidden // 2, BLOCK_C)
    programs = row_programs(dq.device, m, BLOCK_M, PROGRAMS_PER_SM, col_blocks)
    parts = torch.empty((programs, 3 * hidden) if has_bias else (0,), dtype=torch.float32, device=dq.device)
    _backward_kernel[(col_blocks, programs)](
        dq, dk, dv, cos if rotary else dq, sin if rotary else dq, dqkv, parts, m, length,
        HIDDEN=hidden, HALF=head_dim // 2, ROTARY=rotary, HAS_BIAS=has_bias,
        BLOCK_M=BLOCK_M, BLOCK_C=BLOCK_C, num_warps=WARPS,
    )
    return dqkv, parts.sum(0) if has_bias else parts
