"""Samples/s of batch loading for a Track7878-shaped store, against a per-sample Dataset, same run.

Goals: the dnabench loader delivers >= 200,000 samples/s per core, and >= 20x the per-sample
baseline with the same number of workers (the default Transformer trains at about 12,800
samples/s on an H200, see docs/performance.md, so a few cores must feed it with room to spare).

The data: a synthetic genome cache (default 200 Mbp over 4 chromosomes), a store of --rows
windows of 1000 bp on both strands with 7878 labels kept as CSR, about 2 % positive (what
Track7878 looks like), and the same labels as a dense float32 matrix (np.memmap) for the
baseline. Both paths augment with a reverse-complement flip and a shift of up to --max-shift.

  dnabench one batch         BatchDataset[item]: gather, shifts, flips, tensors; no DataLoader
  dnabench batch_loader      data.loader.batch_loader, batches of 256 as torch tensors:
                             codes uint8 [B, 1000], 0/1 labels as CSR pieces (what training
                             uses; densified on the GPU), as dense uint8 or as dense float32
  baseline                   a per-sample torch Dataset: pyfaidx window from the FASTA, one-hot
                             float32 [1000, 4], dense float32 label row from the memmap, collated
                             by a standard DataLoader(batch_size=256)

Samples/s count what reaches the consumer (the loop over the DataLoader), after warm-up
batches, best of 3 windows of --seconds / 3. Each measurement runs in its own process
(OMP_NUM_THREADS=1), so that its peak RSS is its own: main process and the largest worker
(memory-mapped pages read count as RSS).

Usage: python benchmarks/loader.py [--workers 2] [--seconds 6] [--rows 50000] [--mbp 200]
       python benchmarks/loader.py --smoke          # a tiny quick run that checks the script
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch

GOAL_PER_CORE = 200_000
GOAL_RATIO = 20
WINDOWS = 3  # each rate is the best of this many timed windows: other load on the machine only slows a window


# ----- data -------------------------------------------------------------------------------------


def build(folder: Path, args: argparse.Namespace) -> dict:
    """Genome FASTA + cache, a CSR-label store, and the dense label memmap the baseline reads."""
    import pandas as pd

    from dnabench.data.dataset import StoreSource
    from dnabench.data.store import CSRLabels, open_store, write_store
    from dnabench.io.genome import index_genome
    from dnabench.synthetic import make_genome

    t0 = time.perf_counter()
    per = int(args.mbp * 1e6) // args.chromosomes
    sizes = {f"chr{i + 1}": per for i in range(args.chromosomes)}
    make_genome(sizes, sites_per_motif=5, seed=args.seed).write_fasta(folder / "genome.fa")
    genome = index_genome(folder / "genome.fa", folder / "cache", progress=False)

    rng = np.random.default_rng(args.seed + 1)
    n, k, length = args.rows, args.labels, args.length
    chrom = rng.integers(0, args.chromosomes, n)
    start = rng.integers(args.max_shift, per - length - args.max_shift, n)
    regions = pd.DataFrame({
        "chrom": np.array(list(sizes))[chrom], "start": start, "end": start + length,
        "strand": np.where(rng.random(n) < 0.5, "+", "-"), "split": "train",
    })
    counts = rng.binomial(k, args.positive, n)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    indices = rng.integers(0, k, int(indptr[-1])).astype(np.int32)  # duplicates within a row are harmless here
    card = {"task": "track7878", "input_length": length,
            "labels": {"names": [f"label{i}" for i in range(k)], "kind": "multilabel", "groups": {}}}
    store = write_store(folder / "store", card, regions, CSRLabels(indptr, indices, k))

    dense = np.lib.format.open_memmap(folder / "labels_dense.npy", mode="w+", dtype=np.float32, shape=(n, k))
    source = StoreSource(store, genome)
    for b in range(0, n, 4096):
        dense[b : b + 4096] = source.labels(np.arange(b, min(b + 4096, n)))
    dense.flush()
    del dense
    np.savez(folder / "regions.npz", chrom=regions["chrom"].to_numpy(str), start=start, minus=(regions["strand"] == "-").to_numpy())
    check_same_windows(folder, open_store(folder / "store"), genome, args)
    return {"build_s": time.perf_counter() - t0, "nnz": int(indptr[-1])}


# ----- baseline ---------------------------------------------------------------------------------

COMPLEMENT = str.maketrans("ACGTN", "TGCAN")
ONE_HOT = np.zeros((256, 4), dtype=np.float32)
for _j, _letter in enumerate(b"ACGT"):
    ONE_HOT[_letter, _j] = 1.0


class FaidxDataset(torch.utils.data.Dataset):
    """The usual per-sample Dataset: one pyfaidx read, one-hot and one label row per __getitem__."""

    def __init__(self, folder: Path, length: int, max_shift: int) -> None:
        self.folder = folder
        self.length = length
        self.max_shift = max_shift
        regions = np.load(folder / "regions.npz")
        self.chrom, self.start, self.minus = regions["chrom"], regions["start"], regions["minus"]
        self._fasta = self._labels = None  # opened in the process that reads (each worker)

    def __len__(self) -> int:
        return int(self.start.size)

    def window(self, i: int, shift: int = 0, flip: bool = False) -> str:
        if self._fasta is None:
            import pyfaidx

            self._fasta = pyfaidx.Fasta(str(self.folder / "genome.fa"), sequence_always_upper=True, as_raw=True)
        s = int(self.start[i]) + shift
        seq = self._fasta[str(self.chrom[i])][s : s + self.length]
        return seq.translate(COMPLEMENT)[::-1] if bool(self.minus[i]) != flip else seq

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self._labels is None:
            self._labels = np.load(self.folder / "labels_dense.npy", mmap_mode="r")
        seq = self.window(i, random.randint(-self.max_shift, self.max_shift), random.random() < 0.5)
        x = ONE_HOT[np.frombuffer(seq.encode(), dtype=np.uint8)]
        return torch.from_numpy(x), torch.from_numpy(np.array(self._labels[i], dtype=np.float32))


def check_same_windows(folder: Path, store, genome, args: argparse.Namespace) -> None:
    """Both paths read the same bases (no augmentation), so the comparison is like for like."""
    from dnabench.alphabet import decode

    rows = np.arange(0, args.rows, max(args.rows // 50, 1))
    ours = store.sequences(rows, genome)
    base = FaidxDataset(folder, args.length, 0)
    for k, i in enumerate(rows):
        assert decode(ours[k]) == base.window(int(i)), f"row {i}: dnabench and pyfaidx windows differ"


# ----- one measurement (a child process) ----------------------------------------------------------


def loader_for(kind: str, folder: Path, workers: int, args: argparse.Namespace):
    from dnabench.data.dataset import StoreSource
    from dnabench.data.store import open_store
    from dnabench.io.genome import open_genome
    from dnabench.data.loader import batch_loader

    if kind == "baseline":
        ds = FaidxDataset(folder, args.length, args.max_shift)
        return torch.utils.data.DataLoader(
            ds, batch_size=args.batch, shuffle=True, num_workers=workers, persistent_workers=workers > 0, drop_last=True
        )
    store = open_store(folder / "store")
    source = StoreSource(store, open_genome(folder / "cache"), label_dtype="float32" if kind == "float32" else "auto")
    return batch_loader(source, np.arange(store.n_rows), args.batch, shuffle=True, seed=args.seed,
                        num_workers=workers, reverse_complement=True, drop_last=True, max_shift=args.max_shift,
                        sparse_labels=kind in ("dnabench", "item"))


def batches(loader):
    """Endless batches, epoch after epoch (set_epoch where the sampler has it)."""
    epoch = 0
    while True:
        if hasattr(loader.sampler, "set_epoch"):
            loader.sampler.set_epoch(epoch)
        yield from loader
        epoch += 1


def measure(kind: str, folder: Path, workers: int, args: argparse.Namespace) -> dict:
    torch.set_num_threads(1)
    if kind == "item":
        rate = measure_item(folder, args)
    else:
        loader = loader_for(kind, folder, workers, args)
        stream = batches(loader)
        for _ in range(args.warmup + 2 * workers):
            next(stream)

        def window() -> float:
            seen, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < args.seconds / WINDOWS:
                batch = next(stream)
                seen += (batch["codes"] if isinstance(batch, dict) else batch[0]).shape[0]
            return seen / (time.perf_counter() - t0)

        rate = max(window() for _ in range(WINDOWS))
        iterator = getattr(loader, "_iterator", None)
        pids = [w.pid for w in getattr(iterator, "_workers", [])]
        worker_mb = max((peak_rss_mb(pid) for pid in pids), default=0.0)
    return {"rate": rate, "rss_main_mb": peak_rss_mb("self"), "rss_worker_mb": worker_mb if kind != "item" else 0.0}


def peak_rss_mb(pid: int | str) -> float:
    """Peak resident memory of a process (Linux VmHWM; ru_maxrss would carry the parent's over exec)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure_item(folder: Path, args: argparse.Namespace) -> float:
    """The batch alone: BatchDataset[item] (gather, shifts, flips, tensors), no DataLoader."""
    from dnabench.data.loader import BatchDataset, EpochBatchSampler

    loader = loader_for("item", folder, 0, args)
    ds: BatchDataset = loader.dataset
    sampler = EpochBatchSampler(np.arange(args.rows), args.batch, shuffle=True, seed=args.seed, drop_last=True)
    items = list(sampler)
    for item in items[: args.warmup]:
        ds[item]
    state = {"i": 0}

    def window() -> float:
        seen, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < args.seconds / WINDOWS:
            seen += ds[items[state["i"] % len(items)]]["codes"].shape[0]
            state["i"] += 1
        return seen / (time.perf_counter() - t0)

    return max(window() for _ in range(WINDOWS))


# ----- main ---------------------------------------------------------------------------------------


def run_child(kind: str, folder: Path, workers: int, argv: list[str]) -> dict:
    cmd = [sys.executable, __file__, *argv, "--child", kind, "--dir", str(folder), "--workers", str(workers)]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


#: Track7878's shape: 1000 bp windows, 7878 labels, about 2 % of them positive
LENGTH, LABELS, POSITIVE, CHROMOSOMES, SEED = 1000, 7878, 0.02, 4, 0

OPTIONS = {  # --name: (default, help)
    "mbp": (200.0, "genome size, over 4 chromosomes"),
    "rows": (50_000, "store rows (the dense baseline labels take rows x 31.5 KB)"),
    "batch": (256, "batch size"),
    "max-shift": (10, "shift augmentation: up to this many bases"),
    "workers": (2, "DataLoader workers of the multi-process rows"),
    "seconds": (6.0, "timed seconds per measurement"),
    "warmup": (3, "batches before timing (+2 per worker)"),
}


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, (default, text) in OPTIONS.items():
        parser.add_argument(f"--{name}", type=type(default), default=default, help=text)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, a fraction of a second per measurement")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.length, args.labels, args.positive, args.chromosomes, args.seed = LENGTH, LABELS, POSITIVE, CHROMOSOMES, SEED
    if args.smoke:
        args.mbp, args.rows, args.seconds, args.warmup = 2.0, 2_000, 0.3, 1
    return args


def main() -> None:
    argv = sys.argv[1:]
    args = parse(argv)
    if args.child:
        print(json.dumps(measure(args.child, Path(args.dir), args.workers, args)))
        return
    passed = [a for i, a in enumerate(argv) if not a.startswith("--workers") and argv[i - 1 : i] != ["--workers"]]
    runs = [("baseline", 0), ("item", 0), ("dnabench", 0), ("uint8", 0), ("float32", 0)]
    if args.workers > 0:
        runs += [("baseline", args.workers), ("dnabench", args.workers), ("uint8", args.workers), ("float32", args.workers)]
    names = {"baseline": "baseline: pyfaidx per sample, one-hot float32, dense float32 labels",
             "item": "dnabench one batch, no DataLoader (BatchDataset[item])",
             "dnabench": "dnabench batch_loader: codes uint8, labels as CSR pieces",
             "uint8": "dnabench batch_loader: codes uint8, labels dense uint8",
             "float32": "dnabench batch_loader: codes uint8, labels dense float32"}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        info = build(folder, args)
        results = {(kind, w): run_child(kind, folder, w, passed) for kind, w in runs}

    print(f"machine: {os.cpu_count()} cores ({platform.processor() or platform.machine()}), "
          f"Python {platform.python_version()}, torch {torch.__version__}, numpy {np.__version__}, "
          f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}, {_dt.date.today().isoformat()}")
    print(f"settings: genome {args.mbp:g} Mbp / {args.chromosomes} chromosomes; store {args.rows:,} rows x "
          f"{args.length} bp, {args.labels} labels CSR, {info['nnz'] / args.rows / args.labels:.1%} positive; "
          f"batch {args.batch}; reverse complement + shift <= {args.max_shift}; {args.seconds:g} s a "
          f"measurement; built in {info['build_s']:.0f} s")
    print()
    print("| loader | workers | samples/s | vs baseline, same workers | peak RSS main / worker (MB) |")
    print("|---|---:|---:|---:|---:|")
    for (kind, w), r in results.items():
        base = results[("baseline", w)]["rate"]
        worker = f"{r['rss_worker_mb']:,.0f}" if w else "-"
        print(f"| {names[kind]} | {w} | {r['rate']:,.0f} | {r['rate'] / base:.1f}x | {r['rss_main_mb']:,.0f} / {worker} |")
    ours, base = results[("dnabench", 0)]["rate"], results[("baseline", 0)]["rate"]
    print()
    print(f"goals: {ours:,.0f} samples/s on one core (goal {GOAL_PER_CORE:,}: {'met' if ours >= GOAL_PER_CORE else 'NOT met'}); "
          f"{ours / base:.0f}x the baseline on one core (goal {GOAL_RATIO}x: {'met' if ours / base >= GOAL_RATIO else 'NOT met'})")


if __name__ == "__main__":
    main()
