"""Training throughput on 1 GPU and on N GPUs with DDP (Lightning), same model, same per-GPU batch.

Each configuration runs `dnabench.training.run.train` in a fresh process on a synthetic
sequence table (1000 bp, one binary label), timing the optimizer steps after a warm-up:
samples/s = timed steps x per-GPU batch x GPUs / seconds. Prints a table with the speed-up.

Usage: python benchmarks/ddp_scaling.py [--gpus 1 2] [--steps 200] [--batch 256]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def make_table(path: Path, rows: int, length: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    letters = np.frombuffer(b"ACGT", np.uint8)
    seqs = letters[rng.integers(0, 4, (rows, length))]
    label = rng.random(rows) < 0.5
    seqs[label, 400:408] = np.frombuffer(b"TATAAAAG", np.uint8)
    with open(path, "w") as f:
        f.write("sequence,label\n")
        for row, y in zip(seqs, label):
            f.write(row.tobytes().decode() + f",{int(y)}\n")


def worker(args: argparse.Namespace) -> None:
    import lightning as L
    import torch

    from dnabench.training.config import TrainConfig
    from dnabench.training.run import train

    class Meter(L.Callback):
        def __init__(self) -> None:
            self.t0 = self.t1 = None

        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            if trainer.global_step == args.warmup:
                torch.cuda.synchronize()
                self.t0 = time.perf_counter()

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            if trainer.global_step == args.steps:
                torch.cuda.synchronize()
                self.t1 = time.perf_counter()

    meter = Meter()
    config = TrainConfig(
        data=args.table, model="transformer", out=args.out, max_epochs=1000, max_steps=args.steps,
        batch_size=args.batch, devices=str(args.gpus[0]), precision="bf16-mixed", progress=False,
        compile=args.compile, num_workers=2, val_check_interval=1.0,
    )
    train(config, callbacks=[meter])
    if int(os.environ.get("LOCAL_RANK", "0")) == 0 and meter.t0 and meter.t1:
        seconds = meter.t1 - meter.t0
        steps = args.steps - args.warmup
        metrics = json.loads((Path(args.out) / "metrics.json").read_text())
        print("RESULT " + json.dumps({"gpus": args.gpus[0], "steps": steps, "seconds": seconds,
                                      "samples_per_s": steps * args.batch * args.gpus[0] / seconds,
                                      "test_auroc": metrics["test"].get("auroc")}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gpus", type=int, nargs="+", default=[1, 2], help="GPU counts to run, one process each")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--rows", type=int, default=None,
                        help="table rows (default: enough that no epoch ends, so no validation runs, inside the timed steps)")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--table", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    import torch

    results = []
    # 80 % of the rows train; an epoch must outlast the run for the largest GPU count.
    rows = args.rows or int(1.25 * 1.1 * args.steps * args.batch * max(args.gpus))
    with tempfile.TemporaryDirectory() as tmp:
        table = Path(tmp) / "table.csv"
        make_table(table, rows, 1000)
        for gpus in args.gpus:
            cmd = [sys.executable, __file__, "--worker", "--gpus", str(gpus), "--steps", str(args.steps), "--warmup", str(args.warmup),
                   "--batch", str(args.batch), "--table", str(table), "--out", str(Path(tmp) / f"run{gpus}")]
            if args.compile:
                cmd.append("--compile")
            done = subprocess.run(cmd, capture_output=True, text=True)
            lines = [l for l in done.stdout.splitlines() if l.startswith("RESULT ")]
            if done.returncode or not lines:
                print(done.stdout[-3000:], done.stderr[-3000:])
                raise SystemExit(f"{gpus} GPU run failed")
            results.append(json.loads(lines[-1][7:]))
    base = results[0]["samples_per_s"] / results[0]["gpus"]
    print(f"card: {torch.cuda.get_device_name(0)}; default transformer (4-patch, rotary, 4x512), 1000 bp, "
          f"batch {args.batch} per GPU, bf16, {args.steps - args.warmup} timed steps{', compiled' if args.compile else ''}")
    print("| GPUs | samples/s | speed-up vs 1 GPU | scaling efficiency | test AUROC |")
    print("|---:|---:|---:|---:|---:|")
    for r in results:
        speed = r["samples_per_s"] / base
        print(f"| {r['gpus']} | {r['samples_per_s']:,.0f} | {speed:.2f}x | {speed / r['gpus']:.0%} | {r['test_auroc']:.3f} |")


if __name__ == "__main__":
    main()
