"""Train the three default models on a promoter table (GUE prom_300_all dev.csv by default) and print AUROC/AUPRC.

Split 80/10/10 by seed; early stopping on validation AUROC; the test metrics are of the best
checkpoint. Usage: python benchmarks/promoter_baselines.py [CSV] [--devices 1] [--epochs 40]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from dnabench.training.config import TrainConfig
from dnabench.training.run import train

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "PromVary" / "GUE_prom_300_all" / "dev.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("csv", nargs="?", default=str(DEFAULT))
    parser.add_argument("--models", nargs="+", default=["transformer", "cnn_fc", "cnn_lstm"])
    parser.add_argument("--devices", default="1")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="keep the run folders here")
    args = parser.parse_args()
    # DDP workers re-run this script: they inherit the folder through the environment.
    out = Path(args.out or os.environ.setdefault("DNABENCH_PROMOTER_RUNS", tempfile.mkdtemp(prefix="promoters-")))
    rows = []
    for model in args.models:
        t0 = time.perf_counter()
        run = train(TrainConfig(data=args.csv, model=model, out=str(out / f"{model}-{args.devices}"), max_epochs=args.epochs,
                                batch_size=args.batch, lr=args.lr, seed=args.seed, devices=args.devices, patience=6, progress=False))
        metrics = json.loads((run / "metrics.json").read_text())
        rows.append((model, metrics, time.perf_counter() - t0))
    if os.environ.get("LOCAL_RANK", "0") != "0":
        return
    import torch

    card = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    print(f"data: {args.csv}; devices {args.devices} ({card}); batch {args.batch}, lr {args.lr}, seed {args.seed}")
    print("| model | epochs | val AUROC | test AUROC | test AUPRC | test F1 | test MCC | wall s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for model, m, seconds in rows:
        t = m["test"]
        print(f"| {model} | {m['epochs']} | {m['val']['auroc']:.3f} | {t['auroc']:.3f} | {t['auprc']:.3f} | {t['f1']:.3f} | {t['mcc']:.3f} | {seconds:.0f} |")


if __name__ == "__main__":
    main()
