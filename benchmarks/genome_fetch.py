"""Windows per second: dnabench's batch gather against pyfaidx one window at a time + NumPy one-hot.

Builds a random genome (default 120 Mbp over 6 chromosomes, a few N runs), indexes it, then
times 1000 bp windows at random positions on both strands, on one core, in the same run:

  dnabench batch gather   Genome.fetch_batch -> uint8 codes [B, L] (what crosses to the GPU)
  dnabench + one-hot      the same, then one_hot -> float32 [B, L, 4] (for a fair end point)
  pyfaidx + one-hot       Fasta[chrom][start:end] per window, reverse complement for '-',
                          then a NumPy one-hot per window: the usual per-sample Dataset

Usage: python benchmarks/genome_fetch.py [--mbp 120] [--batch 1024] [--seconds 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from dnabench.alphabet import one_hot
from dnabench.io.genome import open_genome

LETTERS = np.frombuffer(b"ACGT", dtype=np.uint8)


def write_random_fasta(path: Path, mbp: float, chromosomes: int, seed: int) -> dict[str, int]:
    rng = np.random.default_rng(seed)
    total = int(mbp * 1e6)
    sizes = {f"chr{i + 1}": total // chromosomes for i in range(chromosomes)}
    with open(path, "wb") as f:
        for name, size in sizes.items():
            seq = LETTERS[rng.integers(0, 4, size)]
            for _ in range(3):  # a few N runs, as assembly gaps
                s = int(rng.integers(0, size - 10_000))
                seq[s : s + 10_000] = ord("N")
            f.write(f">{name}\n".encode())
            body = seq[: size - size % 100].reshape(-1, 100)
            f.write(np.hstack([body, np.full((len(body), 1), ord("\n"), np.uint8)]).tobytes())
            if size % 100:
                f.write(seq[size - size % 100 :].tobytes() + b"\n")
    return sizes


def random_windows(sizes: dict[str, int], count: int, length: int, seed: int):
    rng = np.random.default_rng(seed)
    names = np.array(list(sizes))
    ci = rng.integers(0, len(names), count)
    starts = rng.integers(0, np.array(list(sizes.values()))[ci] - length)
    strands = np.where(rng.random(count) < 0.5, "+", "-")
    return names[ci], starts, strands


def time_rate(fn, windows_per_call: int, seconds: float) -> float:
    fn()  # warm-up: page cache, allocator
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        calls += 1
    return calls * windows_per_call / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mbp", type=float, default=120.0)
    parser.add_argument("--chromosomes", type=int, default=6)
    parser.add_argument("--length", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import pyfaidx

    with tempfile.TemporaryDirectory() as tmp:
        fasta = Path(tmp) / "genome.fa"
        t0 = time.perf_counter()
        sizes = write_random_fasta(fasta, args.mbp, args.chromosomes, args.seed)
        t_write = time.perf_counter() - t0
        # index in a child process so that its peak memory is measured alone
        t0 = time.perf_counter()
        child = (
            "import sys, re; from dnabench.io.genome import index_genome; "
            "index_genome(sys.argv[1], sys.argv[2], progress=False); "
            "print(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1))"
        )
        done = subprocess.run(
            [sys.executable, "-c", child, str(fasta), str(Path(tmp) / "cache")], check=True, capture_output=True, text=True
        )
        t_index = time.perf_counter() - t0
        index_rss_mb = int(done.stdout.split()[-1]) / 1024  # peak RSS of the indexing process (Linux VmHWM)
        genome = open_genome(Path(tmp) / "cache")
        faidx = pyfaidx.Fasta(str(fasta), sequence_always_upper=True, as_raw=True)

        names, starts, strands = random_windows(sizes, 200_000, args.length, args.seed + 1)
        ends = starts + args.length
        batches = [slice(i, i + args.batch) for i in range(0, len(starts) - args.batch + 1, args.batch)]
        state = {"i": 0}

        def next_batch() -> slice:
            state["i"] = (state["i"] + 1) % len(batches)
            return batches[state["i"]]

        def dnabench_codes() -> None:
            b = next_batch()
            genome.fetch_batch(names[b], starts[b], length=args.length, strands=strands[b])

        def dnabench_onehot() -> None:
            b = next_batch()
            one_hot(genome.fetch_batch(names[b], starts[b], length=args.length, strands=strands[b]))

        comp = str.maketrans("ACGTN", "TGCAN")
        onehot_table = np.zeros((256, 4), dtype=np.float32)
        for j, letter in enumerate(b"ACGT"):
            onehot_table[letter, j] = 1.0
        per_sample = {"i": 0}

        def pyfaidx_onehot() -> None:
            i = per_sample["i"] = (per_sample["i"] + 1) % len(starts)
            seq = faidx[names[i]][int(starts[i]) : int(ends[i])]
            if strands[i] == "-":
                seq = seq.translate(comp)[::-1]
            onehot_table[np.frombuffer(seq.encode(), dtype=np.uint8)]

        # correctness: both paths return the same bases
        b = batches[0]
        ours = genome.fetch_batch(names[b], starts[b], length=args.length, strands=strands[b])
        for i in range(0, args.batch, 97):
            ref = faidx[names[i]][int(starts[i]) : int(ends[i])]
            if strands[i] == "-":
                ref = ref.translate(comp)[::-1]
            assert "".join("ACGTN"[c] for c in ours[i]) == ref, f"window {i} differs from pyfaidx"

        rows = [
            ("dnabench batch gather (uint8 codes)", time_rate(dnabench_codes, args.batch, args.seconds)),
            ("dnabench batch gather + one-hot float32", time_rate(dnabench_onehot, args.batch, args.seconds)),
            ("pyfaidx per window + NumPy one-hot", time_rate(pyfaidx_onehot, 1, args.seconds)),
        ]

    base = rows[-1][1]
    print(f"genome: {args.mbp:g} Mbp random, {args.chromosomes} chromosomes; FASTA written in {t_write:.1f} s, "
          f"indexed in {t_index:.1f} s ({args.mbp / t_index:.0f} Mbp/s, peak RSS {index_rss_mb:.0f} MB, "
          "process start included)")
    print(f"windows: {args.length} bp, random positions, both strands; batch {args.batch}; one core "
          f"({platform.processor() or platform.machine()}, OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']})")
    print()
    print("| path | windows/s | MB/s of sequence | vs pyfaidx |")
    print("|---|---:|---:|---:|")
    for name, rate in rows:
        print(f"| {name} | {rate:,.0f} | {rate * args.length / 1e6:,.0f} | {rate / base:.1f}x |")


if __name__ == "__main__":
    main()
