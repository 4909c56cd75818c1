"""Track7878 build at full scale on simulated peak files, against a bedtools pipeline on a subset.

Simulation: --files peak files (default 7878) on hg19 chromosome sizes, in DeepSEA's group
proportions (125 DNase : 690 TF : 104 histone). Peaks are placed uniformly at random over the
genome; counts and widths are drawn per file from log-normals with realistic medians
(DNase 100k peaks of ~250 bp, TF 30k of ~350 bp, histone 60k of ~1,500 bp), written as gzip
narrowPeak like ENCODE's files. The genome is a sizes-only cache (`sizes_only_genome`),
so the identical-sequence leakage count is off here (every window would be all A); the
overlap leakage count runs.

Timed: `build_track7878` (read every file, label bins, write the CSR store) with peak RSS (of
this process, sampled) and output size. Baseline in the same run, on the first --subset files:
per file `zcat | cut | sort | bedtools merge | bedtools coverage` over the 200 bp windows of
`bedtools makewindows`, keeping windows with >= 100 bp covered, then the per-file window lists
are read back into the same CSR matrix (pandas); dnabench builds the same subset and the two
label matrices are checked equal. Ratio = bedtools time / dnabench time on the subset.

Goals: full scale in <= 2 hours and <= 8 GB on 2 cores; >= 5x the bedtools pipeline.

Usage: python benchmarks/track_build.py [--files 7878] [--subset 20] [--workdir DIR] [--smoke]
"""

from __future__ import annotations

import argparse
import gzip
import os
import resource
import shutil
import subprocess
import tempfile
import threading
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import pandas as pd

from dnabench.synthetic import HG19_SIZES, sizes_only_genome
from dnabench.tasks.track7878 import build_track7878

GROUPS = (("dnase", 125, 100_000, 250), ("tf", 690, 30_000, 350), ("histone", 104, 60_000, 1_500))


def simulate_file(job: tuple[int, str, str, int, int, int]) -> None:
    index, path, group, n_peaks, median_width, seed = job
    rng = np.random.default_rng(seed)
    names = np.array(list(HG19_SIZES))
    sizes = np.array(list(HG19_SIZES.values()), dtype=np.int64)
    chrom = rng.choice(len(names), n_peaks, p=sizes / sizes.sum())
    widths = np.clip(rng.lognormal(np.log(median_width), 0.5, n_peaks), 50, 50_000).astype(np.int64)
    starts = (rng.random(n_peaks) * (sizes[chrom] - widths)).astype(np.int64)
    order = np.lexsort((starts, chrom))
    chrom, starts, widths = chrom[order], starts[order], widths[order]
    signal = rng.gamma(2.0, 5.0, n_peaks)
    summit = (widths // 2).astype(np.int64)
    table = pd.DataFrame({
        "chrom": names[chrom], "start": starts, "end": starts + widths, "name": ".", "score": 0, "strand": ".",
        "signal": signal.round(3), "p": (signal * 2).round(3), "q": signal.round(3), "peak": summit,
    })
    with gzip.open(path, "wt", compresslevel=1) as f:
        table.to_csv(f, sep="\t", header=False, index=False)


def simulate(folder: Path, n_files: int, scale: float, seed: int = 0) -> Path:
    """Write n_files gzip narrowPeak files and a metadata table; returns the metadata path."""
    folder.mkdir(parents=True, exist_ok=True)
    total = sum(g[1] for g in GROUPS)
    rng = np.random.default_rng(seed)
    jobs, meta = [], ["accession\tfile\tgroup\tcell_type"]
    for i in range(n_files):
        group, _, median_peaks, width = GROUPS[np.searchsorted(np.cumsum([g[1] for g in GROUPS]), (i * total) // n_files, side="right")]
        n_peaks = max(100, int(rng.lognormal(np.log(median_peaks * scale), 0.4)))
        name = f"SIM{i:05d}"
        jobs.append((i, str(folder / f"{name}.narrowPeak.gz"), group, n_peaks, width, seed * 100_000 + i))
        meta.append(f"{name}\t{name}.narrowPeak.gz\t{group}\tsim")
    with Pool(os.cpu_count()) as pool:
        pool.map(simulate_file, jobs, chunksize=4)
    path = folder / "tracks.tsv"
    path.write_text("\n".join(meta) + "\n")
    return path


class PeakRSS:
    """Samples this process's RSS (ru_maxrss is lifetime peak; this gives the peak of one phase)."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        page = os.sysconf("SC_PAGE_SIZE")
        while not self._stop.is_set():
            with open("/proc/self/statm") as f:
                self.peak = max(self.peak, int(f.read().split()[1]) * page)
            time.sleep(0.05)

    def __enter__(self) -> "PeakRSS":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def timed_build(meta: Path, genome, out: Path) -> tuple[float, int, object]:
    with PeakRSS() as rss:
        t0 = time.perf_counter()
        store = build_track7878(meta, genome, out, leakage_sequences=False)
        seconds = time.perf_counter() - t0
    return seconds, rss.peak, store


def bedtools_labels(meta: Path, sizes: Path, work: Path) -> tuple[float, np.ndarray, np.ndarray, list[str]]:
    """The bedtools pipeline; returns seconds, CSR (indptr, indices) and the window keys."""
    t0 = time.perf_counter()
    windows = work / "windows.bed"
    subprocess.run(f"bedtools makewindows -g {sizes} -w 200 > {windows}", shell=True, check=True)
    table = pd.read_csv(meta, sep="\t")
    hits = []
    for label, file in enumerate(table["file"]):
        out = work / f"hits_{label}.bed"
        cmd = (f"zcat {meta.parent / file} | cut -f1-3 | sort -k1,1 -k2,2n | bedtools merge -i - "
               f"| bedtools coverage -sorted -g {sizes} -a {windows} -b - | awk '$5 >= 100' | cut -f1-2 > {out}")
        subprocess.run(["bash", "-o", "pipefail", "-c", cmd], check=True)
        h = pd.read_csv(out, sep="\t", header=None, names=["chrom", "start"], dtype={"chrom": str, "start": np.int64})
        h["label"] = label
        hits.append(h)
    hits = pd.concat(hits, ignore_index=True)
    order = {name: i for i, name in enumerate(HG19_SIZES)}
    hits["ci"] = hits["chrom"].map(order)
    hits = hits.sort_values(["ci", "start", "label"], kind="stable")
    keys = hits["ci"].to_numpy(np.int64) * 10**10 + hits["start"].to_numpy()
    uniq, counts = np.unique(keys, return_counts=True)
    indptr = np.concatenate([[0], np.cumsum(counts)])
    return time.perf_counter() - t0, indptr, hits["label"].to_numpy(np.int32), uniq


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--files", type=int, default=7878)
    p.add_argument("--subset", type=int, default=20, help="files for the bedtools comparison (0: skip)")
    p.add_argument("--scale", type=float, default=1.0, help="multiply peak counts (smaller: quicker runs)")
    p.add_argument("--workdir", default=None, help="scratch folder (default: a temporary one, deleted)")
    p.add_argument("--smoke", action="store_true", help="40 files at 1/20 of the peaks, subset 4")
    args = p.parse_args()
    if args.smoke:
        args.files, args.scale, args.subset = 40, 0.05, min(args.subset, 4)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="track-build-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        genome = sizes_only_genome(work / "hg19", HG19_SIZES)
        meta = simulate(work / "peaks", args.files, args.scale)
        peaks_bytes = folder_bytes(work / "peaks")
        print(f"simulated {args.files} files ({peaks_bytes / 1e9:.2f} GB gzip) in {time.perf_counter() - t0:.0f} s", flush=True)
        rows = []
        if args.subset and shutil.which("bedtools"):
            sub = work / "subset"
            sub.mkdir(exist_ok=True)
            lines = meta.read_text().splitlines()[: args.subset + 1]
            (sub / "tracks.tsv").write_text("\n".join(line.replace("\tSIM", "\t../peaks/SIM") for line in lines) + "\n")
            sizes = work / "hg19.sizes"
            # lexicographic chromosome order, as `sort -k1,1` gives, for bedtools' -sorted mode
            sizes.write_text("".join(f"{k}\t{HG19_SIZES[k]}\n" for k in sorted(HG19_SIZES)))
            bt_s, bt_indptr, bt_indices, bt_keys = bedtools_labels(sub / "tracks.tsv", sizes, sub)
            ours_s, ours_rss, store = timed_build(sub / "tracks.tsv", genome, sub / "store")
            keys = np.array([genome.resolve(str(c)) for c in store.regions["chrom"].cat.categories])[store.regions["chrom"].cat.codes] * 10**10 + store.regions["start"].to_numpy() + 400
            same = np.array_equal(keys, bt_keys) and np.array_equal(store.labels.indptr, bt_indptr) and np.array_equal(store.labels.indices, bt_indices)
            rows.append((f"bedtools 2.x pipeline, {args.subset} files", bt_s, None, None, "-"))
            rows.append((f"dnabench, same {args.subset} files", ours_s, ours_rss, folder_bytes(sub / "store"), f"{bt_s / ours_s:.1f}x (labels equal: {same})"))
            shutil.rmtree(sub)
        elif args.subset:
            print("bedtools not found (apt install bedtools): baseline skipped", flush=True)
        full_s, full_rss, store = timed_build(meta, genome, work / "store")
        b = store.card["build"]
        print(f"\nmachine: {os.cpu_count()} cores; hg19 sizes, {args.files} files, {b['peaks']:,} peaks, scale {args.scale}")
        print(f"store: {store.n_rows:,} rows x {store.n_labels} labels, {store.labels.nnz:,} positives "
              f"({store.labels.nnz / max(store.n_rows * store.n_labels, 1):.2%}), bins dropped {b['bins_dropped_no_label']:,}")
        rows.append((f"dnabench, all {args.files} files", full_s, full_rss, folder_bytes(work / "store"), "-"))
        print("\n| build | seconds | peak RSS | output | vs bedtools |\n|---|---:|---:|---:|---:|")
        for name, s, rss, size, ratio in rows:
            fmt = lambda v, unit: "-" if v is None else f"{v / unit:.2f}"  # noqa: E731
            print(f"| {name} | {s:,.1f} | {fmt(rss, 1e9)} GB | {fmt(size, 1e9)} GB | {ratio} |")
        if rows and rows[0][0].startswith("bedtools"):
            per_file = rows[0][1] / args.subset
            print(f"\nbedtools extrapolated to {args.files} files: {per_file * args.files / 3600:.1f} h (linear in files)")
        print(f"max RSS of the process (ru_maxrss, all phases): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.2f} GB")
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
