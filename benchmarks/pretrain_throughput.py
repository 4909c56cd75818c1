"""MLM pretraining throughput on one GPU, against transformers' BertForMaskedLM in the same run.

A full MLM step on random 1024 bp chunks, batch 128 and 256 (bf16 autocast; AdamW, fused on
CUDA; torch.compile of the whole model), timed after warm-up steps with torch.cuda.synchronize
around the timed loop:

  1. the default dnabench Transformer (4-patch + Conv1d(7), rotary, 4 layers x 512, 8 heads,
     GEGLU FFN 1344 -> 256 patches + CLS) with its MLM head (dense, GELU, LayerNorm, projection
     to the 629 patch ids) on the masked positions only. The masking itself (30 % of the
     patches, 80/10/10, on the device: ``dnabench.training.masking``) is part of the timed step,
     as in ``dnabench pretrain``; a second row masks once before timing;
  2. transformers.BertForMaskedLM (attn_implementation="sdpa") of the same depth, width, heads
     and tokens, intermediate 2016 (the parameter count of the gated 1344 FFN), vocabulary 629,
     given the same masked ids and labels (-100 where nothing is masked). Its prediction head
     runs on every token, which is how BertForMaskedLM computes its loss.

FLOPs per step: 6 x per-token parameters (non-embedding, MLM head excluded) x tokens +
12 x layers x hidden x tokens^2 per sequence (attention) + 6 x MLM-head parameters x the
positions it runs on (dnabench: the targets, 77 a chunk; BERT: all 257 tokens). MFU is the
achieved TFLOP/s over --peak-tflops (H100 / H200 SXM dense bf16: 989).

Usage:
  python benchmarks/pretrain_throughput.py                     # full run on a GPU
  python benchmarks/pretrain_throughput.py --batch-sizes 256 --no-compile
  python benchmarks/pretrain_throughput.py --smoke             # tiny CPU run that checks the script
"""

from __future__ import annotations

import argparse
import datetime as _dt
import platform
import sys
import time
from pathlib import Path
from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_throughput import Result, make_codes, maybe_compile, transformer_flops, warm_gpu  # noqa: E402

from dnabench.models import build_model  # noqa: E402
from dnabench.models.mlm import TransformerMLM  # noqa: E402
from dnabench.training.masking import IGNORE, MaskedBatch, Masker, MaskingConfig  # noqa: E402


def time_steps(step: Callable[[], None], warmup: int, steps: int, device: torch.device) -> float:
    """Seconds per step of `step`, after `warmup` untimed calls."""
    start = time.perf_counter()
    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    print(f"    warm-up (compilation included): {time.perf_counter() - start:.1f} s", flush=True)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


def optimizer(model: nn.Module, device: torch.device) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.AdamW(params, lr=1e-4, weight_decay=0.01, fused=device.type == "cuda")


def dnabench_mlm(args: argparse.Namespace, device: torch.device) -> TransformerMLM:
    backbone = build_model(
        "transformer", tokenizer="patch", positions="rotary", hidden_size=args.hidden, num_layers=args.layers,
        num_heads=args.heads, ffn_size=args.ffn, max_positions=max(2048, args.length + 1), dropout=args.dropout,
    )
    return TransformerMLM(backbone).to(device)


def head_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def bench_dnabench(args: argparse.Namespace, device: torch.device, batch: int, mask_in_step: bool) -> Result:
    model = dnabench_mlm(args, device)
    masker = Masker(model.tokenizer, MaskingConfig(rate=args.mask_rate))
    codes = make_codes(batch, args.length, device)
    generator = torch.Generator(device=device).manual_seed(0)
    fixed = masker(codes, generator)
    tokens = fixed.ids.shape[1]
    targets_per_seq = fixed.positions.shape[1]
    backbone = model.backbone
    per_token = backbone.num_parameters(exclude_embeddings=True) - head_params(backbone.head)
    head = head_params(model.head) + (0 if model.head.decoder is not None else backbone.frontend.embedding.weight.numel())
    flops = transformer_flops(per_token, 0, args.layers, args.hidden, tokens, batch) + 6.0 * head * targets_per_seq * batch
    maybe_compile(model, args)
    opt = optimizer(model, device)
    model.train()

    def step() -> None:
        masked: MaskedBatch = masker(codes, generator) if mask_in_step else fixed
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.amp):
            logits = model(masked.ids, None, masked.positions)
        loss = F.cross_entropy(logits.float().flatten(0, 1), masked.targets.flatten(), ignore_index=IGNORE)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    seconds = time_steps(step, args.warmup, args.steps, device)
    how = "masking in the step" if mask_in_step else "masked before timing"
    name = f"dnabench default (patch/rotary) + MLM head, {how}"
    print(f"  {name}, batch {batch}: {tokens} tokens, {targets_per_seq} targets a chunk, FLOPs/step {flops:.4e}, "
          f"{batch / seconds:,.0f} seq/s", flush=True)
    result = Result(name, tokens, backbone.num_parameters() - head_params(backbone.head) + head_params(model.head),
                    batch / seconds, flops, args.peak_tflops, batch, f"batch {batch}")
    del model, opt
    return result


def build_bert_mlm(args: argparse.Namespace, vocab_size: int, tokens: int) -> Optional[nn.Module]:
    try:
        import transformers
        from transformers import BertConfig, BertForMaskedLM
    except ImportError:
        print("  transformers is not installed: BertForMaskedLM row skipped (pip install transformers)", flush=True)
        return None
    intermediate = args.ffn * 3 // 2  # gated FFN 3*h*f params == plain FFN 2*h*i params
    config = BertConfig(
        vocab_size=vocab_size, hidden_size=args.hidden, num_hidden_layers=args.layers, num_attention_heads=args.heads,
        intermediate_size=intermediate, hidden_act="gelu", hidden_dropout_prob=args.dropout,
        attention_probs_dropout_prob=0.0, max_position_embeddings=max(512, tokens), pad_token_id=0,
    )
    config._attn_implementation = "sdpa"
    model = BertForMaskedLM(config)
    impl = getattr(model.config, "_attn_implementation", "?")
    print(f"  transformers {transformers.__version__}, BertForMaskedLM attention: {impl}, intermediate {intermediate}", flush=True)
    return model


def bench_bert(args: argparse.Namespace, device: torch.device, batch: int) -> Optional[Result]:
    probe = dnabench_mlm(args, torch.device("cpu"))
    masker = Masker(probe.tokenizer, MaskingConfig(rate=args.mask_rate))
    masked = masker(make_codes(batch, args.length, torch.device("cpu")), torch.Generator().manual_seed(0))
    ids = masked.ids.to(device)
    tokens = ids.shape[1]
    labels = torch.full_like(masked.ids, IGNORE)
    labels[:, 1:].scatter_(1, masked.positions, masked.targets)
    labels = labels.to(device)
    model = build_bert_mlm(args, probe.num_classes, tokens)
    if model is None:
        return None
    model = model.to(device)
    embeddings = head_params(model.bert.embeddings)
    head = head_params(model.cls) + model.bert.embeddings.word_embeddings.weight.numel()  # the decoder is tied
    total = head_params(model)
    per_token = total - embeddings - head_params(model.cls)
    flops = transformer_flops(per_token, 0, args.layers, args.hidden, tokens, batch) + 6.0 * head * tokens * batch
    maybe_compile(model, args)
    opt = optimizer(model, device)
    model.train()

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.amp):
            loss = model(input_ids=ids, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    seconds = time_steps(step, args.warmup, args.steps, device)
    print(f"  BertForMaskedLM, batch {batch}: {tokens} tokens, FLOPs/step {flops:.4e}, {batch / seconds:,.0f} seq/s", flush=True)
    result = Result("transformers BertForMaskedLM (sdpa)", tokens, total, batch / seconds, flops, args.peak_tflops, batch, f"batch {batch}")
    del model, opt
    return result


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch-sizes", default="128,256", help="comma list (default 128,256)")
    p.add_argument("--length", type=int, default=1024, help="bases per chunk (default 1024)")
    p.add_argument("--mask-rate", type=float, default=0.3)
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--ffn", type=int, default=1344, help="gated FFN size (BERT gets 1.5x this)")
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--warmup", type=int, default=15, help="untimed steps first (compilation happens here)")
    p.add_argument("--steps", type=int, default=100, help="timed steps")
    p.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak for MFU (H100/H200 SXM: 989)")
    p.add_argument("--no-compile", action="store_true", help="eager mode (default: torch.compile of the whole model)")
    p.add_argument("--compile-mode", choices=("default", "reduce-overhead", "max-autotune-no-cudagraphs"), default="default")
    p.add_argument("--no-bert", action="store_true", help="skip the BertForMaskedLM rows")
    p.add_argument("--no-amp", action="store_true", help="no bf16 autocast")
    p.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    p.add_argument("--smoke", action="store_true", help="tiny CPU run (hidden 64, 2 layers, batch 4 and 8, 256 bp, 1+2 steps, eager)")
    args = p.parse_args(argv)
    if args.smoke:
        args.device = args.device or "cpu"
        args.batch_sizes, args.length, args.hidden, args.layers, args.heads, args.ffn = "4,8", 256, 64, 2, 4, 96
        args.warmup, args.steps, args.no_compile = 1, 2, True
    args.batch_sizes = [int(b) for b in args.batch_sizes.split(",") if b.strip()]
    args.device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    args.amp = not args.no_amp and args.device.type == "cuda"
    args.compile_scope = "model"  # what train_throughput.maybe_compile reads
    return args


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    device = args.device
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        card = torch.cuda.get_device_name(device)
    else:
        card = f"CPU ({platform.processor() or platform.machine()}), no GPU"
    today = _dt.date.today().isoformat()
    compile_desc = "eager" if args.no_compile else f"torch.compile (whole model, mode {args.compile_mode})"
    print(f"# dnabench MLM pretraining throughput: {card}, torch {torch.__version__}, {today}", flush=True)
    print(f"{args.length} bp, mask rate {args.mask_rate}, {'bf16 autocast' if args.amp else 'fp32'}, {compile_desc}, "
          f"AdamW fused={device.type == 'cuda'}, {args.warmup} warm-up + {args.steps} timed steps", flush=True)
    if device.type == "cuda":
        warm_gpu(device)
    results: list[Result] = []
    for batch in args.batch_sizes:
        results.append(bench_dnabench(args, device, batch, mask_in_step=True))
        results.append(bench_dnabench(args, device, batch, mask_in_step=False))
        if not args.no_bert:
            bert = bench_bert(args, device, batch)
            if bert is not None:
                results.append(bert)
                ratio = results[-3].seq_per_s / bert.seq_per_s
                print(f"  batch {batch}: dnabench (masking in the step) / BertForMaskedLM = {ratio:.2f}x", flush=True)
        if device.type == "cuda":
            torch.cuda.empty_cache()
    print()
    print(f"Card: {card}; date: {today}; torch {torch.__version__}; {args.length} bp; {compile_desc}")
    print()
    print("| model | tokens | params | seq/s | tokens/s | TFLOP/s | MFU |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(r.row())
    return 0


if __name__ == "__main__":
    sys.exit(main())
