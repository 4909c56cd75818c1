"""Methyl96 (paper 4.1.2): CpG methylation fractions in many bedMethyl files, from 501 bp.

Input: bedMethyl files (ENCODE RRBS/WGBS: BED9 + coverage + percent methylated, extra columns
allowed), one label per file, named by the file stem (an ENCODE accession when the files are
named ENCFF....bed.gz). The paper's 96 RRBS accessions are not listed in the paper; see
`dnabench.io.manifest` for how to pass them.

Output: one row per CpG in the union of the files, a dense float32 [CpGs, files] label matrix
(methylated reads / total reads of that file at that CpG), NaN where the file does not cover the
CpG or covers it with fewer than `min_coverage` reads (default 10). CpGs that no file covers at
the threshold are not in the store. Methylated reads = round(coverage * percent / 100).

Strands (`destrand`, default True): bedMethyl files report a CpG once per strand, the '-'
row at the G (one base right of the C of the '+' strand). With destrand they are merged onto
the CpG's '+' C (start - 1 for '-' rows): reads of both strands are summed, then the threshold
applies. Without destrand every row is its own site and '-' sites are stored on strand '-', so
in either case the methylated C sits at window column 250 followed by its G. Input windows are
501 bp, [C - 250, C + 251); windows hanging off a chromosome end are padded with N (counted).

Merge, vectorised and bounded in memory: each file is parsed once (`read_bedmethyl`), its
rows keyed by one int64 (chromosome index * 2**33 + position * 2 + (strand '-')), duplicate
keys summed with `np.unique`/`np.bincount`, filtered by coverage, and written as sorted keys
(int64) + fractions (float32) to a scratch folder, while the union of keys grows by
a linear merge of sorted keys. A second pass scatters each file's fractions into the label memmap with
`np.searchsorted`. Peak memory is one parsed file (pandas, about 150 bytes a row) plus the
union keys (8 bytes a CpG) plus one file's keys; the labels (4 bytes x files a CpG) live in the
memory-mapped labels.npy on disk and scratch takes 12 bytes a covered CpG per file.

Chromosomes are resolved through the genome (chr1 = 1, chrM = MT); rows on chromosomes the
genome lacks (chrEBV, unplaced contigs of another assembly) are dropped and counted per file
(`skip_missing=False` raises instead). Split by chromosome: validation chr12, chr13; test
chr10, chr11, chrX, chrY; training the rest.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import pandas as pd

from dnabench.alphabet import C, G, N
from dnabench.data.leakage import leakage_report
from dnabench.data.splits import chromosome_split
from dnabench.data.store import SPLITS, Store, StoreWriter, open_store
from dnabench.io.files import InputError
from dnabench.io.intervals import read_bedmethyl
from dnabench.data.task import Activation, InputKind, LabelKind, LossKind, Metric, SplitKind, SplitRule, TaskSpec
from dnabench.tasks.base import PrepareCommand, option
from dnabench.tasks.card import make_card
from dnabench.tasks.common import known_chromosomes, as_genome, source_record

__all__ = ["METHYL96", "Methyl96Options", "build_methyl96", "cpg_table", "label_name", "VALID_CHROMS", "TEST_CHROMS"]

VALID_CHROMS = ("chr12", "chr13")
TEST_CHROMS = ("chr10", "chr11", "chrX", "chrY")
INPUT_LENGTH = 501

METHYL96 = TaskSpec(
    name="methyl96",
    title="CpG methylation in 96 RRBS experiments (Methyl96)",
    paper_section="4.1.2",
    input_kind=InputKind.WINDOW,
    input_length=INPUT_LENGTH,
    label_kind=LabelKind.REGRESSION,
    n_labels=96,
    metrics=(Metric.SPEARMAN,),
    loss=LossKind.BCE,
    masked=True,
    output=Activation.SIGMOID,
    split=SplitRule(SplitKind.CHROMOSOME, val=VALID_CHROMS, test=TEST_CHROMS, unit="chromosome"),
    metric_scope="Spearman over all observed (non-NaN) test values, all labels pooled",
    notes=(
        "Targets are methylated/total reads in [0, 1]; the paper trains sigmoid outputs with binary "
        "cross-entropy, so the loss is BCE against fractional targets with NaN (missing or coverage "
        "below the threshold) masked out. The number of labels is the number of input files."
    ),
)

_POS_BITS = 33  # key = chrom_index << 33 | position << 1 | minus
_POS_MASK = (1 << 32) - 1


def label_name(path: str | os.PathLike) -> str:
    """The label of a file: its name without .gz / .bed / .bedMethyl / .txt / .tsv suffixes."""
    name = Path(path).name
    while True:
        new = re.sub(r"\.(gz|bgz|bed|bedmethyl|bedMethyl|txt|tsv)$", "", name, flags=re.IGNORECASE)
        if new == name or not new:
            return name
        name = new


def _merge_unique(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Union of two sorted unique int64 arrays, sorted: a stable sort of two runs is a linear merge."""
    c = np.concatenate([a, b])
    c.sort(kind="stable")
    if c.size < 2:
        return c
    keep = np.empty(c.size, dtype=bool)
    keep[0] = True
    np.not_equal(c[1:], c[:-1], out=keep[1:])
    return c[keep]


def cpg_table(
    path: str | os.PathLike, genome: Any, min_coverage: int = 10, destrand: bool = True, skip_missing: bool = True
) -> tuple[np.ndarray, np.ndarray, dict]:
    """One bedMethyl file -> (sorted unique int64 keys, float32 fractions, stats), coverage >= min_coverage."""
    df = read_bedmethyl(path)
    stats: dict[str, Any] = {"rows": len(df)}
    codes, uniq = pd.factorize(df["chrom"])  # hashing, not sorting millions of strings
    lookup = np.array([genome.resolve(str(u)) if str(u) in genome else -1 for u in uniq], dtype=np.int64)
    ci = lookup[codes]
    missing = ci < 0
    if missing.any():
        counts = {str(uniq[k]): int(c) for k, c in enumerate(np.bincount(codes[missing], minlength=len(uniq))) if c}
        listed = ", ".join(f"{k}: {v}" for k, v in list(counts.items())[:10])
        if not skip_missing:
            first = next(iter(counts))
            raise InputError(
                path,
                f"{int(missing.sum())} rows on chromosome(s) the genome {genome.path} lacks, e.g. {first!r} "
                f"({listed}); leave out --strict (skip_missing=True) to drop and count them",
            )
        stats["rows_on_missing_chromosomes"] = counts
        if missing.all():  # else the build would end in a misleading "no CpG reaches min_coverage"
            raise InputError(
                path,
                f"every row is on chromosome(s) the genome {genome.path} lacks ({listed}); "
                f"is the genome the file's build (known: {known_chromosomes(genome, 8)})?",
            )
    keep = ~missing
    start = df["start"].to_numpy(dtype=np.int64)[keep]
    minus = (df["strand"] == "-").to_numpy(dtype=bool)[keep]
    cov = df["coverage"].to_numpy(dtype=np.int64)[keep]
    meth = np.rint(cov * df["percent_methylated"].to_numpy(dtype=np.float64)[keep] / 100.0).astype(np.int64)
    ci = ci[keep]
    if destrand:
        pos = start - minus.astype(np.int64)
        bit = np.zeros(pos.size, dtype=np.int64)
    else:
        pos, bit = start, minus.astype(np.int64)
    inside = (pos >= 0) & (pos < genome.lengths[ci])
    if not inside.all():
        stats["rows_outside_chromosome"] = int((~inside).sum())
        ci, pos, bit, cov, meth = ci[inside], pos[inside], bit[inside], cov[inside], meth[inside]
    key = (ci << _POS_BITS) | (pos << 1) | bit
    ukey, inv = np.unique(key, return_inverse=True)
    total = np.bincount(inv, weights=cov, minlength=ukey.size)
    methylated = np.bincount(inv, weights=meth, minlength=ukey.size)
    stats["sites"] = int(ukey.size)
    ok = total >= min_coverage
    stats["sites_at_threshold"] = int(ok.sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = (methylated[ok] / total[ok]).astype(np.float32)
    return ukey[ok], frac, stats


def build_methyl96(
    bedmethyl_paths: Sequence[str | os.PathLike],
    genome: Any,
    out: str | os.PathLike,
    min_coverage: int = 10,
    *,
    destrand: bool = True,
    input_length: int = INPUT_LENGTH,
    label_names: Sequence[str] | None = None,
    valid_chroms: Sequence[str] = VALID_CHROMS,
    test_chroms: Sequence[str] = TEST_CHROMS,
    skip_missing: bool = True,
    genome_build: str | None = None,
    leakage: bool = True,
    overwrite: bool = False,
    progress: bool = False,
) -> Store:
    """Build the Methyl96 store (CpG x file methylation fractions) and return it opened."""
    g = as_genome(genome)
    paths = [Path(p) for p in bedmethyl_paths]
    if not paths:
        raise ValueError("build_methyl96 needs at least one bedMethyl file")
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"{p}: no such file")
    if input_length < 3 or input_length % 2 == 0:
        raise ValueError(f"input_length must be odd (the CpG in the middle), got {input_length}")
    if min_coverage < 1:
        raise ValueError(f"min_coverage must be >= 1, got {min_coverage}")
    names = list(label_names) if label_names is not None else [label_name(p) for p in paths]
    if len(names) != len(paths):
        raise ValueError(f"{len(names)} label names for {len(paths)} files")
    seen: dict[str, int] = {}
    for i, name in enumerate(names):  # keep names unique: x, x_2, x_3
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            names[i] = f"{name}_{seen[name]}"
    half = input_length // 2
    spec = METHYL96

    iterator: Any = enumerate(paths)
    if progress:
        from rich.progress import track

        iterator = track(list(iterator), description="reading bedMethyl files")

    with StoreWriter(out, overwrite=overwrite) as writer:
        scratch = writer.scratch
        union = np.zeros(0, dtype=np.int64)
        file_stats = []
        for j, path in iterator:
            keys, frac, stats = cpg_table(path, g, min_coverage=min_coverage, destrand=destrand, skip_missing=skip_missing)
            np.save(scratch / f"{j}.keys.npy", keys)
            np.save(scratch / f"{j}.frac.npy", frac)
            union = _merge_unique(union, keys)
            file_stats.append({"label": names[j], **stats})
        n = int(union.size)
        if n == 0:
            raise InputError(paths[0], f"no CpG reaches min_coverage={min_coverage} in any of the {len(paths)} files")

        labels = writer.dense_labels(n, len(paths))
        n_files = np.zeros(n, dtype=np.int16)
        for j in range(len(paths)):
            keys = np.load(scratch / f"{j}.keys.npy")
            idx = np.searchsorted(union, keys)
            labels[idx, j] = np.load(scratch / f"{j}.frac.npy")
            n_files[idx] += 1

        ci = union >> _POS_BITS
        pos = (union >> 1) & _POS_MASK
        minus = (union & 1).astype(bool)
        split, rule = chromosome_split(ci, g, valid_chroms, test_chroms)
        start = pos - half
        regions = pd.DataFrame(
            {
                "chrom": pd.Categorical.from_codes(ci, categories=g.names) if len(g.names) else pd.Categorical([]),
                "start": start,
                "end": start + input_length,
                "strand": np.where(minus, "-", "+"),
                "split": split,
                "pos": pos,
                "n_files": n_files,
            }
        )
        # sanity: is there a C at column `half` followed by a G? (a wrong build gives ~4 %)
        center = g.fetch_batch(ci, np.where(minus, pos - 1, pos), length=2, strands=minus)
        cg = float(((center[:, 0] == C) & (center[:, 1] == G)).mean())
        padded = int(((start < 0) | (start + input_length > g.lengths[ci])).sum())

        def fetch(rows: np.ndarray) -> np.ndarray:
            return g.fetch_batch(ci[rows], start[rows], length=input_length, strands=minus[rows])

        observed = np.zeros(len(paths), dtype=np.int64)
        for b in range(0, n, 1 << 16):
            observed += (~np.isnan(labels[b : b + (1 << 16)])).sum(axis=0)
        split_arr = np.asarray(split, dtype=str)
        card = make_card(
            spec.with_(input_length=int(input_length)),
            label_names=names,
            labels_extra={"observed_per_label": observed.tolist()},
            genome=g,
            genome_build=genome_build,
            sources=[source_record(p, "bedMethyl") for p in paths],
            parameters={
                "min_coverage": int(min_coverage),
                "destrand": destrand,
                "input_length": int(input_length),
                "center_column": half,
                "skip_missing": skip_missing,
                "methylated_reads": "round(coverage * percent_methylated / 100)",
            },
            split_rule=rule,
            leakage=leakage_report(regions, fetch) if leakage else None,
            columns={
                "pos": "0-based position of the CpG's C (on strand '-' when not destranded)",
                "n_files": "files with a value (coverage >= min_coverage) at this CpG",
            },
            inputs=file_stats,
            cpgs={
                "total": n,
                "observed_values": int(observed.sum()),
                "missing_fraction": float(1 - observed.sum() / (n * len(paths))),
                "center_cg_fraction": cg,
                "windows_padded_with_n": padded,
                "per_split": {s: int((split_arr == s).sum()) for s in SPLITS},
            },
        )
        writer.finish(card, regions)
    return open_store(out)


@dataclass
class Methyl96Options:
    files: list[Path] = option(help="bedMethyl files, one label each (named by file stem).", argument=True)
    genome: Path = option(help="Genome cache folder.", short="-g")
    out: Path = option(help="Store folder to create.", short="-o")
    min_coverage: int = option(10, help="Reads needed for a value; fewer gives NaN.")
    destrand: bool = option(True, help="Merge the two strands of each CpG.")
    strict: bool = option(False, help="Fail on chromosomes the genome lacks (default: drop and count).")
    build: Optional[str] = option(None, help="Genome build name for the card.")
    leakage: bool = option(True, help="Count identical sequences and overlapping windows across splits.")
    overwrite: bool = option(False, help="Replace an existing store.")
    quiet: bool = option(False, help="No progress bar.")


def prepare_methyl96(options: Methyl96Options) -> Store:
    """Methyl96: CpG x file methylation fractions, 501 bp inputs, chromosome split."""
    return build_methyl96(
        options.files, options.genome, options.out, min_coverage=options.min_coverage, destrand=options.destrand,
        skip_missing=not options.strict, genome_build=options.build, leakage=options.leakage,
        overwrite=options.overwrite, progress=not options.quiet,
    )


PREPARE = (PrepareCommand("methyl96", Methyl96Options, prepare_methyl96, METHYL96),)
