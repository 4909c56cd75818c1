"""Triton kernels behind ``fused_norm``: residual + dropout(branch + bias), then LayerNorm.

The forward reads the residual and the branch once and writes the new residual, the normalised
activations and two floats a row. No dropout mask is stored: both passes draw it from Philox
with the same seed at the same (row, column group) counters, so the backward regenerates it.
The backward runs a few programs per streaming multiprocessor, each looping over rows and
keeping the column sums for the LayerNorm weight and bias (and the branch bias) in registers;
it writes one partial row per program, summed afterwards, instead of reducing over all rows
in separate passes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import triton
import triton.language as tl

#: Elements a program holds at once (rows x padded columns) and backward programs per SM: the
#: fastest of ``benchmarks/fused_norm.py --sweep`` at 512 columns on an H200 (2026-11-26).
FORWARD_TILE = 2048
BACKWARD_TILE = 1024
BACKWARD_PROGRAMS_PER_SM = 8

#: From this many Philox counters (rows x column groups) on, counters are 64-bit so they cannot wrap.
WIDE_OFFSETS_FROM = 2**31


@triton.jit
def _keep(seed, rows, threshold, WIDE: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    """The ``[BLOCK_M, BLOCK_N]`` dropout mask of these rows: True where a 31-bit draw >= threshold.

    Philox gives four 32-bit draws a call, so one call serves four columns: at one draw per
    element the generator, not memory, bounds both kernels. The counter is (row, column group).
    """
    GROUPS: tl.constexpr = BLOCK_N // 4
    counter = rows[:, None] * GROUPS + tl.arange(0, GROUPS)[None, :]
    if not WIDE:
        counter = counter.to(tl.int32)
    r0, r1, r2, r3 = tl.randint4x(seed, counter)
    draws = tl.reshape(tl.join(tl.join(r0, r1), tl.join(r2, r3)), [BLOCK_M, BLOCK_N])
    return (draws.to(tl.uint32, bitcast=True) >> 1).to(tl.int32) >= threshold


@triton.jit
def _forward_kernel(
    Res, Branch, BranchBias, Weight, Bias, New, Out, Mean, Rstd, SeedPtr,
    M, N, threshold, scale, eps,
    DROPOUT: tl.constexpr, WIDE: tl.constexpr, RESIDUAL: tl.constexpr, BRANCH_BIAS: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
):
    rows = tl.program_id(0).to(tl.int64) * BLOCK_M + tl.arange(0, BLOCK_M)
    cols = tl.arange(0, BLOCK_N)
    row_ok = rows < M
    col_ok = cols < N
    ok = row_ok[:, None] & col_ok[None, :]
    offs = rows[:, None] * N + cols[None, :]
    branch = tl.load(Branch + offs, mask=ok, other=0.0).to(tl.float32)
    if BRANCH_BIAS:
        branch += tl.load(BranchBias + cols, mask=col_ok, other=0.0).to(tl.float32)[None, :]
    if DROPOUT:
        keep = _keep(tl.load(SeedPtr), rows, threshold, WIDE, BLOCK_M, BLOCK_N)
        branch = tl.where(keep, branch * scale, 0.0)
    new = branch
    if RESIDUAL:
        new += tl.load(Res + offs, mask=ok, other=0.0).to(tl.float32)
    new_stored = new.to(New.dtype.element_ty)
    tl.store(New + offs, new_stored, mask=ok)
    new = new_stored.to(tl.float32)  # normalise what was stored: the backward reloads it
    mean = tl.sum(new, axis=1) / N
    centred = tl.where(ok, new - mean[:, None], 0.0)
    rstd = 1.0 / tl.sqrt(tl.sum(centred * centred, axis=1) / N + eps)
    weight = tl.load(Weight + cols, mask=col_ok, other=0.0).to(tl.float32)
    bias = tl.load(Bias + cols, mask=col_ok, other=0.0).to(tl.float32)
    out = centred * rstd[:, None] * weight[None, :] + bias[None, :]
    tl.store(Out + offs, out.to(Out.dtype.element_ty), mask=ok)
    tl.store(Mean + rows, mean, mask=row_ok)
    tl.store(Rstd + rows, rstd, mask=row_ok)


@triton.jit
def _backward_kernel(
    GradNew, GradOut, New, Weight, Mean, Rstd, SeedPtr, GradRes, GradBranch, Parts,
    M, N, threshold, scale,
    DROPOUT: tl.constexpr, WIDE: tl.constexpr, RESIDUAL: tl.constexpr, BRANCH_BIAS: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
):
    """``Parts`` [2 or 3, programs, N]: per-program column sums for the LayerNorm weight and bias
    and, with ``BRANCH_BIAS``, for the bias the forward added to the branch."""
    pid = tl.program_id(0)
    cols = tl.arange(0, BLOCK_N)
    col_ok = cols < N
    weight = tl.load(Weight + cols, mask=col_ok, other=0.0).to(tl.float32)
    # Per-element accumulators, reduced over rows once at the end (not once per row block).
    weight_acc = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    bias_acc = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    branch_bias_acc = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    seed = tl.load(SeedPtr)
    for start in range(pid * BLOCK_M, M, tl.num_programs(0) * BLOCK_M):
        rows = start + tl.arange(0, BLOCK_M).to(tl.int64)
        row_ok = rows < M
        ok = row_ok[:, None] & col_ok[None, :]
        offs = rows[:, None] * N + cols[None, :]
        mean = tl.load(Mean + rows, mask=row_ok, other=0.0)
        rstd = tl.load(Rstd + rows, mask=row_ok, other=0.0)
        new = tl.load(New + offs, mask=ok, other=0.0).to(tl.float32)
        grad_out = tl.load(GradOut + offs, mask=ok, other=0.0).to(tl.float32)
        grad_new = tl.load(GradNew + offs, mask=ok, other=0.0).to(tl.float32)
        xhat = tl.where(ok, (new - mean[:, None]) * rstd[:, None], 0.0)
        weighted = grad_out * weight[None, :]
        c1 = tl.sum(xhat * weighted, axis=1) / N
        c2 = tl.sum(weighted, axis=1) / N
        grad = (weighted - (xhat * c1[:, None] + c2[:, None])) * rstd[:, None] + grad_new
        if RESIDUAL:
            tl.store(GradRes + offs, grad.to(GradRes.dtype.element_ty), mask=ok)
        if DROPOUT:
            grad = tl.where(_keep(seed, rows, threshold, WIDE, BLOCK_M, BLOCK_N), grad * scale, 0.0)
        tl.store(GradBranch + offs, grad.to(GradBranch.dtype.element_ty), mask=ok)
        weight_acc += grad_out * xhat
        bias_acc += grad_out
        if BRANCH_BIAS:
            branch_bias_acc += grad
    programs = tl.num_programs(0)
    tl.store(Parts + pid * N + cols, tl.sum(weight_acc, axis=0), mask=col_ok)
    tl.store(Parts + (programs + pid) * N + cols, tl.sum(bias_acc, axis=0), mask=col_ok)
    if BRANCH_BIAS:
        tl.store(Parts + (2 * programs + pid) * N + cols, tl.sum(branch_bias_acc, axis=0), mask=col_ok)


@dataclass
class Tuning:
    """Launch shapes (``None``: the defaults below). ``backward_programs_per_sm`` 0 means one
    program per row block (no persistent loop)."""

    forward_rows: Optional[int] = None
    forward_warps: Optional[int] = None
    backward_rows: Optional[int] = None
    backward_warps: Optional[int] = None
    backward_programs_per_sm: Optional[int] = None


#: The launch shapes in use; ``benchmarks/fused_norm.py --sweep`` measures alternatives.
TUNING = Tuning()


def _padded(n: int) -> int:
    return max(16, triton.next_power_of_2(n))  # at least four Philox column groups


def _dropout(p: float) -> tuple[int, float]:
    """Threshold on 31-bit draws for rate ``p`` and the scale that keeps the expectation exact."""
    threshold = min(2**31, max(0, round(p * 2**31)))
    kept = 1.0 - threshold / 2**31
    return threshold, (1.0 / kept if kept > 0 else 0.0)


def _wide(m: int, n: int) -> bool:
    return m * (_padded(n) // 4) >= WIDE_OFFSETS_FROM


def _shape(n: int, tile: int) -> tuple[int, int]:
    """Rows per program and warps for a tile of about ``tile`` elements (16 a thread at most)."""
    block_m = max(1, min(16, tile // _padded(n)))
    warps = max(1, min(16, block_m * _padded(n) // 512))
    return block_m, warps


def _forward_shape(n: int) -> tuple[int, int]:
    block_m, warps = _shape(n, FORWARD_TILE)
    return TUNING.forward_rows or block_m, TUNING.forward_warps or warps


def _backward_shape(n: int) -> tuple[int, int, int]:
    block_m, warps = _shape(n, BACKWARD_TILE)
    per_sm = BACKWARD_PROGRAMS_PER_SM if TUNING.backward_programs_per_sm is None else TUNING.backward_programs_per_sm
    return TUNING.backward_rows or block_m, TUNING.backward_warps or warps, per_sm


def forward(
    residual: Optional[torch.Tensor], branch: torch.Tensor, branch_bias: Optional[torch.Tensor], weight: torch.Tensor,
    bias: torch.Tensor, seed: torch.Tensor, p: float, eps: float, dtype: torch.dtype, out_dtype: torch.dtype,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """2-D contiguous ``residual`` (or None: zeros) and ``branch`` [M, N] (plus ``branch_bias``
    [N] or None) -> new residual (``dtype``), normed (``out_dtype``), per-row mean and 1/std."""
    m, n = branch.shape
    new = torch.empty((m, n), dtype=dtype, device=branch.device)
    out = torch.empty((m, n), dtype=out_dtype, device=branch.device)
    mean = torch.empty(m, dtype=torch.float32, device=branch.device)
    rstd = torch.empty_like(mean)
    block_m, warps = _forward_shape(n)
    _forward_kernel[(triton.cdiv(m, block_m),)](
        branch if residual is None else residual, branch, weight if branch_bias is None else branch_bias,
        weight, bias, new, out, mean, rstd, seed,
        m, n, *_dropout(p), eps,
        DROPOUT=p > 0, WIDE=_wide(m, n), RESIDUAL=residual is not None, BRANCH_BIAS=branch_bias is not None,
        BLOCK_M=block_m, BLOCK_N=_padded(n), num_warps=warps,
    )
    return new, out, mean, rstd


def row_programs(device: torch.device, rows: int, block_m: int, per_sm: int, col_blocks: int = 1) -> int:
    """Programs along the rows of a persistent kernel: ``per_sm`` programs per SM shared among
    ``col_blocks`` column blocks, no more than there are row blocks (``per_sm`` <= 0: one per
    row block)."""
    blocks = triton.cdiv(rows, block_m)
    if per_sm <= 0:
        return blocks
    sms = torch.cuda.get_device_properties(device).multi_processor_count if device.type == "cuda" else 1
    return max(1, min(sms * per_sm // col_blocks, blocks))


def backward(
    grad_new: torch.Tensor, grad_out: torch.Tensor, new: torch.Tensor, weight: torch.Tensor, mean: torch.Tensor,
    rstd: torch.Tensor, seed: torch.Tensor, p: float, branch_dtype: torch.dtype, has_residual: bool,
    has_branch_bias: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients of the residual (empty without one), the branch, and the LayerNorm weight and
    bias (and the branch bias) stacked ``[2 or 3, N]`` (2-D contiguous inputs)."""
    m, n = new.shape
    grad_res = torch.empty_like(new) if has_residual else new.new_empty(0)
    grad_branch = torch.empty((m, n), dtype=branch_dtype, device=new.device)
    block_m, warps, per_sm = _backward_shape(n)
    programs = row_programs(new.device, m, block_m, per_sm)
    parts = torch.empty((3 if has_branch_bias else 2, programs, n), dtype=torch.float32, device=new.device)
    _backward_kernel[(programs,)](
        grad_new, grad_out, new, weight, mean, rstd, seed, grad_res, grad_branch, parts,
        m, n, *_dropout(p),
        DROPOUT=p > 0, WIDE=_wide(m, n), RESIDUAL=has_residual, BRANCH_BIAS=has_branch_bias,
        BLOCK_M=block_m, BLOCK_N=_padded(n), num_warps=warps,
    )
    return grad_res, grad_branch, parts.sum(1).to(weight.dtype)
