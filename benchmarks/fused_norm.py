"""One residual + dropout + LayerNorm boundary, forward and backward: fused kernels against PyTorch.

Times ``dnabench.models.kernels.fused_norm.add_dropout_norm`` on the default model's activations
(batch 256 x 251 tokens x 512, bf16, dropout 0.1) three ways in one run: the fused Triton
kernels, the plain PyTorch expression under torch.compile, and the plain expression eager.
Bandwidth counts the tensors a fused pass must move (forward: read residual and branch, write
the new residual and the normed output; backward: read both output gradients and the new
residual, write both input gradients), so it is the useful fraction of the card's bandwidth.
The backward time is a forward + backward pass less a no-grad forward.

``--sweep`` first times the kernels alone over launch shapes (rows per program, warps, backward
programs per SM) and uses the fastest for the table.

Usage:
  python benchmarks/fused_norm.py                 # on a GPU
  python benchmarks/fused_norm.py --sweep
  python benchmarks/fused_norm.py --rows 64256 --hidden 512 --dropout 0.1
"""

from __future__ import annotations

import argparse
import datetime as _dt
import sys
from typing import Callable, Optional

import torch

from dnabench.models.kernels import fused_norm


def time_ms(fn: Callable[[], None], warmup: int, iters: int) -> float:
    for _ in range(warmup):
        fn()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    start.record()
    for _ in range(iters):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / iters


def kernel_calls(residual, branch, norm, grad_new, grad_out, p: float) -> tuple[Callable[[], object], ...]:
    """The forward and the backward kernel as calls with fixed inputs (no autograd, no dispatch)."""
    from dnabench.models.kernels import triton_norm

    seed = torch.full((1,), 12345, dtype=torch.int64, device=residual.device)
    weight, bias = norm.weight.detach(), norm.bias.detach()

    def forward():
        return triton_norm.forward(residual, branch, None, weight, bias, seed, p, 1e-5, residual.dtype, residual.dtype)

    new, _, mean, rstd = forward()

    def backward():
        return triton_norm.backward(grad_new, grad_out, new, weight, mean, rstd, seed, p, branch.dtype, True, False)

    return forward, backward


def sweep(residual, branch, norm, grad_new, grad_out, p: float, warmup: int, iters: int) -> None:
    """Time the kernels alone over launch shapes; leave the fastest in ``triton_norm.TUNING``."""
    from dnabench.models.kernels import triton_norm

    n = residual.shape[1]
    forward, backward = kernel_calls(residual, branch, norm, grad_new, grad_out, p)
    fwd_times, bwd_times = {}, {}
    for rows in (1, 2, 4, 8, 16):
        for warps in (2, 4, 8, 16):
            if rows * n >= 32 * warps:
                triton_norm.TUNING = triton_norm.Tuning(forward_rows=rows, forward_warps=warps)
                fwd_times[(rows, warps)] = time_ms(forward, warmup, iters)
    for rows in (1, 2, 4, 8):
        for warps in (2, 4, 8, 16):
            for per_sm in (0, 2, 4, 8, 16) if rows * n >= 32 * warps else ():
                triton_norm.TUNING = triton_norm.Tuning(
                    backward_rows=rows, backward_warps=warps, backward_programs_per_sm=per_sm
                )
                bwd_times[(rows, warps, per_sm)] = time_ms(backward, warmup, iters)
    print("  forward kernel (rows per program, warps): ms, fastest first")
    for key, ms in sorted(fwd_times.items(), key=lambda kv: kv[1])[:8]:
        print(f"    {key}: {ms:.4f}")
    print("  backward kernel (rows per program, warps, programs per SM; 0 = one per row block): ms, fastest first")
    for key, ms in sorted(bwd_times.items(), key=lambda kv: kv[1])[:12]:
        print(f"    {key}: {ms:.4f}")
    (fr, fw), (br, bw, bp) = min(fwd_times, key=fwd_times.get), min(bwd_times, key=bwd_times.get)
    triton_norm.TUNING = triton_norm.Tuning(fr, fw, br, bw, bp)
    no_drop = kernel_calls(residual, branch, norm, grad_new, grad_out, 0.0)
    fwd, bwd = (time_ms(call, warmup, iters) for call in no_drop)
    print(f"  fastest shapes without dropout (no random draws): forward {fwd:.4f} ms, backward {bwd:.4f} ms")
    print(f"  using {triton_norm.TUNING}", flush=True)


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=256 * 251, help="tokens in a batch (default 256 x 251)")
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--iters", type=int, default=100)
    p.add_argument("--sweep", action="store_true", help="time launch shapes first and use the fastest")
    args = p.parse_args(argv)
    if not torch.cuda.is_available():
        print("needs a CUDA GPU", file=sys.stderr)
        return 1
    if not fused_norm.triton_available():
        print("needs Triton (it comes with PyTorch's CUDA wheels)", file=sys.stderr)
        return 1
    device = torch.device("cuda")
    shape = (args.rows, args.hidden)
    norm = torch.nn.LayerNorm(args.hidden).to(device)
    residual = torch.randn(shape, device=device, dtype=torch.bfloat16, requires_grad=True)
    branch = torch.randn(shape, device=device, dtype=torch.bfloat16, requires_grad=True)
    grad_new = torch.randn(shape, device=device, dtype=torch.bfloat16)
    grad_out = torch.randn(shape, device=device, dtype=torch.bfloat16)

    def plain(res, br):  # as in the model: LayerNorm under autocast, its output cast for the next matmul
        new = res + torch.nn.functional.dropout(br, args.dropout, training=True)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            return new, norm(new).to(res.dtype)

    compiled = torch.compile(plain)

    def fused(res, br):
        return fused_norm.add_dropout_norm(res, br, norm, args.dropout, training=True)

    if args.sweep:
        sweep(residual.detach(), branch.detach(), norm, grad_new, grad_out, args.dropout, args.warmup, args.iters)
    from dnabench.models.kernels import triton_norm

    print(f"  launch shapes: forward {triton_norm._forward_shape(args.hidden)}, "
          f"backward {triton_norm._backward_shape(args.hidden)}")
    element = 2 * args.rows * args.hidden  # bytes of one bf16 activation
    rows = []

    def row(name: str, fwd: float, bwd: float) -> None:
        rows.append((name, fwd, bwd, fwd + bwd, 4 * element / fwd / 1e6, 5 * element / bwd / 1e6))
        print(f"  {name}: forward {fwd:.3f} ms, backward {bwd:.3f} ms", flush=True)

    kernels = kernel_calls(residual.detach(), branch.detach(), norm, grad_new, grad_out, args.dropout)
    row("fused Triton kernels alone", *(time_ms(call, args.warmup, args.iters) for call in kernels))
    variants = (
        ("the same through the custom operator and autograd, eager", fused),
        ("plain PyTorch, torch.compile", compiled),
        ("plain PyTorch, eager", plain),
    )
    for name, fn in variants:
        def forward() -> None:
            with torch.no_grad():
                fn(residual, branch)

        def both() -> None:
            new, out = fn(residual, branch)
            torch.autograd.grad((new, out), (residual, branch, norm.weight, norm.bias), (grad_new, grad_out))

        fwd = time_ms(forward, args.warmup, args.iters)
        row(name, fwd, time_ms(both, args.warmup, args.iters) - fwd)

    card = torch.cuda.get_device_name(device)
    print()
    print(f"Card: {card}; date: {_dt.date.today().isoformat()}; torch {torch.__version__}; "
          f"[{args.rows}, {args.hidden}] bf16, dropout {args.dropout}, {args.iters} timed iterations")
    print()
    print("| implementation | forward ms | backward ms | total ms | forward GB/s | backward GB/s | vs operator |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    base = rows[1][3]
    for name, fwd, bwd, total, fwd_bw, bwd_bw in rows:
        print(f"| {name} | {fwd:.3f} | {bwd:.3f} | {total:.3f} | {fwd_bw:,.0f} | {bwd_bw:,.0f} | {total / base:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
