"""Feature extraction rate of the default Transformer backbone against its training step rate, in one run.

GeneExp reads 200 backbone windows a gene (24,339 genes: 4.9 million 1000 bp windows), so
extraction time is the backbone's inference rate. Three rows on random 1000 bp inputs, batch 256:

  1. training: a full train step (forward, BCE, backward, AdamW; bf16 autocast; fused AdamW on
     CUDA) of the default dnabench Transformer (4-patch + Conv1d(7), rotary, 4 x 512, 8 heads),
     timed as benchmarks/train_throughput.py times it (its `time_training`);
  2. features, device only: `model.embed` of ids already on the device, bf16 autocast,
     inference mode: the backbone's own bound;
  3. features, extraction path: `dnabench.training.features.embed_codes` on uint8 codes in host
     memory, as `dnabench features` calls it (copy to the device, tokenize there, embed, copy
     the float32 representations back).

Each row gives windows/s and its ratio to the training rate. Eager mode by default (the
extraction command does not compile); --compile compiles the model for every row. Without a
GPU the run uses tiny shapes (hidden 64, 2 layers, 200 bp, batch 16) and says so.

Usage:
  python benchmarks/features_throughput.py                 # on the GPU
  python benchmarks/features_throughput.py --compile
  python benchmarks/features_throughput.py --smoke         # tiny CPU run that checks the script
"""

from __future__ import annotations

import argparse
import datetime as _dt
import platform
import sys
import time
from pathlib import Path
from typing import Optional

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_throughput import make_codes, time_training, warm_gpu  # noqa: E402

from dnabench.models import build_model  # noqa: E402
from dnabench.training.features import embed_codes  # noqa: E402


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch-size", type=int, default=256, help="windows a step or forward pass (default 256)")
    p.add_argument("--length", type=int, default=1000, help="bases a window (default 1000, Track7878's input)")
    p.add_argument("--outputs", type=int, default=7878, help="head outputs of the training step (default 7878, Track7878)")
    p.add_argument("--warmup", type=int, default=10, help="untimed steps or batches first")
    p.add_argument("--steps", type=int, default=50, help="timed steps or batches")
    p.add_argument("--compile", action="store_true", help="torch.compile the encoder blocks (default: eager, as `dnabench features`)")
    p.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    p.add_argument("--smoke", action="store_true", help="tiny CPU run (1 + 2 steps) that checks the script")
    args = p.parse_args(argv)
    args.device = torch.device(args.device or ("cpu" if args.smoke else ("cuda" if torch.cuda.is_available() else "cpu")))
    args.tiny = args.device.type != "cuda"
    args.model_options = {}
    if args.tiny:  # CPU: shapes that finish in seconds, marked as such in the table
        args.batch_size, args.length, args.outputs = 16, 200, 64
        args.model_options = {"hidden_size": 64, "num_layers": 2, "num_heads": 4, "ffn_size": 128}
    if args.smoke:
        args.warmup, args.steps = 1, 2
    return args


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_embed_on_device(model: torch.nn.Module, ids: torch.Tensor, warmup: int, steps: int, amp: bool) -> float:
    """Windows per second of `model.embed` on ids already on the device (inference mode, bf16 autocast)."""
    model.eval()
    with torch.inference_mode(), torch.autocast(ids.device.type, dtype=torch.bfloat16, enabled=amp):
        for _ in range(warmup):
            model.embed(ids)
        _sync(ids.device)
        start = time.perf_counter()
        for _ in range(steps):
            model.embed(ids)
        _sync(ids.device)
    return ids.shape[0] * steps / (time.perf_counter() - start)


def time_extraction(model: torch.nn.Module, codes: np.ndarray, batch_size: int, warmup: int, steps: int, amp: bool) -> float:
    """Windows per second of `embed_codes` (the extraction path) on host codes, results back on the host."""
    embed_codes(model, codes[: batch_size * warmup], batch_size, bf16=amp)
    _sync(model.device)
    start = time.perf_counter()
    embed_codes(model, codes, batch_size, bf16=amp)
    _sync(model.device)
    return codes.shape[0] / (time.perf_counter() - start)


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    device = args.device
    amp = device.type == "cuda"
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        card = torch.cuda.get_device_name(device)
        warm_gpu(device)
    else:
        card = f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    shapes = "tiny CPU shapes (hidden 64, 2 layers), not the default model" if args.tiny else "the default model"
    print(f"# features vs training throughput: {card}, {_dt.date.today().isoformat()}", flush=True)
    print(f"# torch {torch.__version__}, {args.length} bp, batch {args.batch_size}, bf16 {'on' if amp else 'off'}, "
          f"{'compiled' if args.compile else 'eager'}; {shapes}", flush=True)

    torch.manual_seed(0)
    model = build_model("transformer", tokenizer="patch", num_outputs=args.outputs, **args.model_options).to(device)
    if args.compile:
        model.compile(scope="blocks")  # the blocks serve forward and embed alike
    ids = model.encode(make_codes(args.batch_size, args.length, device)).ids
    train_rate = time_training(model, ids, None, args.outputs, args.warmup, args.steps, amp)
    device_rate = time_embed_on_device(model, ids, args.warmup, args.steps, amp)
    codes = np.random.default_rng(0).integers(0, 4, size=(args.batch_size * args.steps, args.length), dtype=np.uint8)
    path_rate = time_extraction(model, codes, args.batch_size, args.warmup, args.steps, amp)

    rows = [
        ("training step (forward + backward + AdamW)", train_rate),
        ("features: model.embed, ids on the device", device_rate),
        ("features: embed_codes from host codes (dnabench features)", path_rate),
    ]
    print()
    print("| what | windows/s | x training |")
    print("|---|---:|---:|")
    for name, rate in rows:
        print(f"| {name} | {rate:,.0f} | {rate / train_rate:.2f} |")
    genes = 24_339 * 200
    print(f"\nfull GeneExp ({genes:,} windows) at the extraction-path rate: {genes / path_rate / 60:.1f} min"
          + (" (tiny shapes: not a real estimate)" if args.tiny else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
