"""AUROC + AUPRC on a Track7878-sized multi-label test set: dnabench streaming vs scikit-learn.

Generates random-but-realistic predictions (default 100,000 samples x 7878 labels): per label a
prevalence around 2 % (log-normal, 0.2 %-20 %) and a separation d ~ U(0.8, 1.6) of the logits of
positives over negatives (logit = logit(prevalence) + d * y + N(0, 1), so AUROC ~ 0.8), as float32
probabilities, produced in chunks of rows (seeded per chunk and label block, so every method sees
identical numbers and the generator never holds the whole matrix). Each method runs in a fresh
subprocess; its wall time (and process CPU time, all threads) covers the metric only, not the
generator; its peak RAM is the process's VmHWM at the end (Python + NumPy + generator chunks + the
method's own memory):

  dnabench streaming     StreamingBinaryMetrics(L, bins).update(chunk) per chunk, then compute()
  dnabench exact         auroc_auprc() on the whole matrix held in RAM (one sort per label)
  sklearn per label      roc_auc_score + average_precision_score per column, on the first
                         --sklearn-labels labels (matrix of those labels in RAM), time extrapolated
                         linearly to all labels when fewer
  generator only         the chunk generator alone (baseline for the RAM column)

Differences are the largest |value - sklearn| over the labels sklearn computed. The second table
extrapolates to the paper's 840,000 x 7878 test set: time linear in the samples (and labels, when
fewer were run); the streaming accumulator's memory does not depend on the number of samples.

Usage: python benchmarks/metrics.py [--samples 100000] [--labels 7878] [--sklearn-labels 500]
                                    [--bins 16384] [--batch 2048] [--no-exact] [--no-baseline] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BLOCK = 512  # labels per generator block (the unit of seeding)
PAPER_SAMPLES = 840_000
PAPER_LABELS = 7878
GOAL_SECONDS = 600.0
GOAL_BYTES = 8e9


# ----------------------------------------------------------------------------------- generator
class Predictions:
    """Deterministic chunked generator of (targets bool [rows, L'], probs float32 [rows, L'])."""

    def __init__(self, samples: int, labels: int, chunk_rows: int, seed: int) -> None:
        self.samples, self.labels, self.chunk_rows, self.seed = samples, labels, chunk_rows, seed
        rng = np.random.default_rng(seed)
        self.prevalence = np.clip(np.exp(rng.normal(np.log(0.016), 0.7, labels)), 0.002, 0.2).astype(np.float32)
        self.separation = rng.uniform(0.8, 1.6, labels).astype(np.float32)
        self.offset = np.log(self.prevalence / (1 - self.prevalence)).astype(np.float32)

    @property
    def n_chunks(self) -> int:
        return -(-self.samples // self.chunk_rows)

    def chunk(self, i: int, labels: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        labels = self.labels if labels is None else labels
        rows = min(self.chunk_rows, self.samples - i * self.chunk_rows)
        y = np.empty((rows, labels), dtype=bool)
        p = np.empty((rows, labels), dtype=np.float32)
        for b0 in range(0, labels, BLOCK):
            b1 = min(b0 + BLOCK, self.labels)  # full block, for identical random streams
            rng = np.random.default_rng([self.seed, i, b0 // BLOCK])
            yb = rng.random((rows, b1 - b0), dtype=np.float32) < self.prevalence[b0:b1]
            z = rng.standard_normal((rows, b1 - b0), dtype=np.float32)
            z += self.offset[b0:b1]
            z += yb * self.separation[b0:b1]
            np.negative(z, out=z)
            np.exp(z, out=z)
            z += 1
            np.reciprocal(z, out=z)
            e = min(b1, labels)
            y[:, b0:e] = yb[:, : e - b0]
            p[:, b0:e] = z[:, : e - b0]
        return y, p


def vmhwm_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return -1


# -------------------------------------------------------------------------------------- workers
def worker(args: argparse.Namespace) -> None:
    gen = Predictions(args.samples, args.labels, args.batch, args.seed)
    k = min(args.sklearn_labels, args.labels)
    out: dict = {"method": args.worker}
    if args.worker == "generate":
        start = time.perf_counter()
        for i in range(gen.n_chunks):
            gen.chunk(i)
        out["generate_seconds"] = time.perf_counter() - start
        out["seconds"] = 0.0
    elif args.worker == "streaming":
        from dnabench.evaluation import StreamingBinaryMetrics

        acc = StreamingBinaryMetrics(args.labels, bins=args.bins, n_threads=args.threads)
        t_update = cpu = 0.0
        for i in range(gen.n_chunks):
            y, p = gen.chunk(i)
            start, c0 = time.perf_counter(), time.process_time()
            acc.update(y, p)
            t_update += time.perf_counter() - start
            cpu += time.process_time() - c0
        start, c0 = time.perf_counter(), time.process_time()
        res = acc.compute()
        t_compute = time.perf_counter() - start
        out["cpu_seconds"] = cpu + time.process_time() - c0
        out.update(
            seconds=t_update + t_compute,
            update_seconds=t_update,
            compute_seconds=t_compute,
            accumulator_bytes=acc.nbytes,
            bound_auroc=float(res.auroc.error_bound.max()),
            bound_auprc=float(res.auprc.error_bound.max()),
        )
        _store(out, res.auroc.per_label, res.auprc.per_label, k)
    elif args.worker == "exact":
        from dnabench.evaluation import auroc_auprc

        y = np.empty((args.samples, args.labels), dtype=bool)
        p = np.empty((args.samples, args.labels), dtype=np.float32)
        for i in range(gen.n_chunks):
            s = slice(i * args.batch, (i + 1) * args.batch)
            y[s], p[s] = gen.chunk(i)
        start, c0 = time.perf_counter(), time.process_time()
        res = auroc_auprc(y, p, n_threads=args.threads)
        out["seconds"] = time.perf_counter() - start
        out["cpu_seconds"] = time.process_time() - c0
        _store(out, res.auroc.per_label, res.auprc.per_label, k)
    elif args.worker == "sklearn":
        from sklearn.metrics import average_precision_score, roc_auc_score

        y = np.empty((args.samples, k), dtype=bool, order="F")  # contiguous columns
        p = np.empty((args.samples, k), dtype=np.float32, order="F")
        for i in range(gen.n_chunks):
            s = slice(i * args.batch, (i + 1) * args.batch)
            y[s], p[s] = gen.chunk(i, labels=k)
        auc = np.full(k, np.nan)
        ap = np.full(k, np.nan)
        start, c0 = time.perf_counter(), time.process_time()
        for j in range(k):
            if y[:, j].any() and not y[:, j].all():
                auc[j] = roc_auc_score(y[:, j], p[:, j])
                ap[j] = average_precision_score(y[:, j], p[:, j])
        out["seconds"] = time.perf_counter() - start
        out["cpu_seconds"] = time.process_time() - c0
        out["prevalence"] = float(y.mean())
        _store(out, auc, ap, k)
    out["vmhwm"] = vmhwm_bytes()
    Path(args.result).write_text(json.dumps(out))


def _store(out: dict, auc: np.ndarray, ap: np.ndarray, k: int) -> None:
    out["macro_auroc"] = float(np.nanmean(auc))
    out["macro_auprc"] = float(np.nanmean(ap))
    out["auroc"] = [None if np.isnan(v) else float(v) for v in auc[:k]]
    out["auprc"] = [None if np.isnan(v) else float(v) for v in ap[:k]]


def run_worker(name: str, args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        cmd = [sys.executable, __file__, "--worker", name, "--result", str(result)]
        for opt in ("samples", "labels", "sklearn_labels", "bins", "batch", "seed"):
            cmd += [f"--{opt.replace('_', '-')}", str(getattr(args, opt))]
        if args.threads is not None:
            cmd += ["--threads", str(args.threads)]
        start = time.perf_counter()
        subprocess.run(cmd, check=True)
        out = json.loads(result.read_text())
        out["process_seconds"] = time.perf_counter() - start
        return out


# --------------------------------------------------------------------------------------- report
def gb(n: float) -> str:
    return f"{n / 1e9:.2f} GB"


def secs(t: float) -> str:
    return f"{t:.1f} s" if t < 600 else f"{t / 60:.1f} min"


def cpu(run: dict) -> str:
    return f" (CPU {run['cpu_seconds']:.1f} s)"


def max_diff(res: dict, ref: dict, key: str) -> float:
    a = np.array([np.nan if v is None else v for v in res[key]])
    b = np.array([np.nan if v is None else v for v in ref[key]])
    both = ~np.isnan(a) & ~np.isnan(b)
    return float(np.max(np.abs(a[both] - b[both]), initial=0.0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--labels", type=int, default=7878)
    parser.add_argument("--sklearn-labels", type=int, default=500, help="labels sklearn computes (time extrapolated)")
    parser.add_argument("--bins", type=int, default=1 << 14, help="histogram bins of the streaming accumulator")
    parser.add_argument("--batch", type=int, default=2048, help="rows per generated chunk / update() call")
    parser.add_argument("--threads", type=int, default=None, help="dnabench threads (default: all cores, <= 8)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-exact", action="store_true", help="skip dnabench's in-memory exact path")
    parser.add_argument("--no-baseline", action="store_true", help="skip the generator-only run")
    parser.add_argument("--quick", action="store_true", help="20,000 x 600, sklearn on 200 labels")
    parser.add_argument("--worker", choices=["generate", "streaming", "exact", "sklearn"], help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    if args.quick:
        args.samples, args.labels, args.sklearn_labels = 20_000, 600, 200
    k = min(args.sklearn_labels, args.labels)
    n, L = args.samples, args.labels
    cores = len(os.sched_getaffinity(0))
    print(
        f"# AUROC + AUPRC, {n:,} samples x {L:,} labels (float32 probs, bool targets), bins={args.bins}, "
        f"chunks of {args.batch} rows; {platform.processor() or platform.machine()}, {cores} cores, "
        f"Python {platform.python_version()}, NumPy {np.__version__}",
        flush=True,
    )
    load_before = os.getloadavg()[0]
    names = ["sklearn", "streaming"] if args.no_baseline else ["generate", "sklearn", "streaming"]
    runs = {name: run_worker(name, args) for name in names}
    if not args.no_exact:
        runs["exact"] = run_worker("exact", args)
    sk = runs["sklearn"]
    sk_full = sk["seconds"] * L / k
    st = runs["streaming"]

    print(
        f"\n1-min load average {load_before:.2f} before / {os.getloadavg()[0]:.2f} after the runs "
        f"(other processes share these {cores} cores, so wall times are noisy; CPU time in brackets)."
    )
    gen_note = f"; generator alone {runs['generate']['generate_seconds']:.1f} s (not counted below)" if "generate" in runs else ""
    print(
        f"Data: mean prevalence {sk['prevalence']:.2%} (first {k} labels), sklearn macro AUROC "
        f"{sk['macro_auroc']:.3f}, macro AUPRC {sk['macro_auprc']:.3f}{gen_note}.\n"
    )
    print("| method | samples x labels | wall time | peak RAM (VmHWM) | max abs diff to sklearn (AUROC / AUPRC) |")
    print("|---|---|---|---|---|")
    sk_note = (
        f"{secs(sk['seconds'])}{cpu(sk)} for {k} labels -> **{secs(sk_full)} extrapolated** to {L} labels"
        if k < L
        else secs(sk["seconds"]) + cpu(sk)
    )
    print(f"| sklearn per-label loop (1 core) | {n:,} x {k:,} | {sk_note} | {gb(sk['vmhwm'])} ({k} labels in RAM) | reference |")
    print(
        f"| dnabench StreamingBinaryMetrics, bins={args.bins} | {n:,} x {L:,} | {secs(st['seconds'])}{cpu(st)}: "
        f"update {st['update_seconds']:.1f} s + compute {st['compute_seconds']:.1f} s | {gb(st['vmhwm'])} "
        f"(counts {gb(st['accumulator_bytes'])}) | {max_diff(st, sk, 'auroc'):.1e} / {max_diff(st, sk, 'auprc'):.1e} "
        f"over {k} labels (guaranteed bound max {st['bound_auroc']:.1e} / {st['bound_auprc']:.1e}) |"
    )
    if "exact" in runs:
        ex = runs["exact"]
        print(
            f"| dnabench auroc_auprc (exact, matrix in RAM) | {n:,} x {L:,} | {secs(ex['seconds'])}{cpu(ex)} | "
            f"{gb(ex['vmhwm'])} | {max_diff(ex, sk, 'auroc'):.1e} / {max_diff(ex, sk, 'auprc'):.1e} over {k} labels |"
        )
    if "generate" in runs:
        print(f"| generator only (baseline) | {n:,} x {L:,} | - | {gb(runs['generate']['vmhwm'])} | - |")

    scale = PAPER_SAMPLES / n
    lscale = PAPER_LABELS / L
    lnote = "" if L == PAPER_LABELS else f" x {lscale:.1f} labels"
    st_time = (st["update_seconds"] * scale + st["compute_seconds"]) * lscale
    st_counts = st["accumulator_bytes"] * lscale
    st_mem = st["vmhwm"] - st["accumulator_bytes"] + st_counts
    print(
        f"\nExtrapolation to the paper's Track7878 test set, {PAPER_SAMPLES:,} x {PAPER_LABELS:,} "
        f"(goal: <= 10 min, <= 8 GB, diff <= 1e-3):\n"
    )
    print("| method | est. wall time | est. peak RAM | meets goal |")
    print("|---|---|---|---|")
    sk_time = sk["seconds"] * PAPER_LABELS / k * scale
    matrix = PAPER_SAMPLES * PAPER_LABELS * 5  # float32 probs + bool targets held in RAM
    print(
        f"| sklearn per-label loop | {secs(sk_time)} (measured x {PAPER_LABELS / k:.1f} labels x {scale:.1f} samples) | "
        f">= {gb(matrix)} if the matrix is held in RAM (5 B per score) | "
        f"{'yes' if sk_time <= GOAL_SECONDS and matrix <= GOAL_BYTES else 'no'} |"
    )
    diff = max(max_diff(st, sk, "auroc"), max_diff(st, sk, "auprc"))
    ok = st_time <= GOAL_SECONDS and st_mem <= GOAL_BYTES and diff <= 1e-3
    mem_note = (
        f"measured VmHWM; its {gb(st_counts)} of counts do not grow with the samples"
        if L == PAPER_LABELS
        else f"measured VmHWM with the counts rescaled to {PAPER_LABELS} labels ({gb(st_counts)}); independent of the samples"
    )
    print(
        f"| dnabench StreamingBinaryMetrics | {secs(st_time)} (update x {scale:.1f} samples{lnote} + compute) | "
        f"{gb(st_mem)} ({mem_note}) | {'yes' if ok else 'no'} (diff {diff:.1e}) |"
    )
    if "exact" in runs:
        ex_time = runs["exact"]["seconds"] * scale * lscale
        print(
            f"| dnabench auroc_auprc (exact) | {secs(ex_time)} (x {scale:.1f} samples{lnote}; sorting is N log N, so a lower bound) | "
            f">= {gb(matrix)} (the matrix in RAM) | {'yes' if ex_time <= GOAL_SECONDS and matrix <= GOAL_BYTES else 'no'} |"
        )


if __name__ == "__main__":
    main()
