"""PromVary (paper 4.1.1) and PromFix (paper 6.1): promoter detection in 500 bp windows.

Positives. Each EPD promoter gives one 500 bp window. In TSS coordinates (TSS = 0, upstream
negative, read along the promoter's strand) the window is centred at -100, i.e. [-350, +150),
and is shifted by a uniform random integer offset in [-100, +100]: the largest shift that keeps
the core promoter [-250, +50) inside (so the TSS lands anywhere in window positions 250..450).
PromFix uses offset 0: the TSS always sits at index 350 (window TSS-350..TSS+150). On the '-'
strand the window is mirrored on the genome and its sequence is the reverse complement; the
store records strand '-', so `Store.sequences` returns every positive reading 5'->3' along its
promoter, with the TSS at column `tss_index`.

Negatives. As many as positives (`negatives_per_positive`), at uniformly random positions of
the chromosomes that hold promoters (or `negative_chroms`), on a random strand, whose window
overlaps no promoter's envelope (every window that promoter could have got, all offsets, so
also no positive), no other negative, and holds at most `max_n_fraction` N (default 5 %).
Candidates are drawn in vectorised rounds; overlap is tested with sorted interval ends and
`np.searchsorted` on one int64 key (chromosome * 2**41 + position) for all chromosomes at once.

Split: random 80/10/10 by seed, stratified by label so every split stays 1:1.

Input problems:
- a promoter on a chromosome the genome lacks raises `InputError` naming the file, line,
  promoter and the genome's chromosomes; `skip_missing=True` drops them and counts them in
  the card (`dropped.missing_chromosome`).
- a TSS beyond the end of its chromosome always raises (wrong genome build).
- a window that would hang off a chromosome end is dropped and counted by default
  (`off_chromosome="drop"`, card `dropped.off_chromosome`); `off_chromosome="error"` raises
  instead. Dropping rather than clipping keeps every window 500 real bases and the offset
  distribution untouched.

Promoter input (`read_promoters`): EPD's BED (`Hs_EPDnew_006_hg38.bed`: 60 bp -49..+10 with the
TSS marked by thickStart on '+' and thickEnd-1 on '-'; space- or tab-separated), any BED6 of
1-bp TSS intervals, EPD's SGA (`.sga`: RefSeq accession, feature, 1-based TSS, strand, count,
name), or a table with a header holding `chrom` (or chr/region/seqnames), `tss` (0-based),
`strand` and optionally `name`, comma- or tab-separated.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Literal, Optional

import numpy as np
import pandas as pd

from dnabench.alphabet import N
from dnabench.data.leakage import leakage_report
from dnabench.data.splits import random_split
from dnabench.data.store import SPLITS, Store, StoreWriter, check_store_target, open_store
from dnabench.io.files import InputError, read_all
from dnabench.io.intervals import read_bed
from dnabench.data.task import Activation, InputKind, LabelKind, LossKind, Metric, SplitKind, SplitRule, TaskSpec
from dnabench.tasks.base import PrepareCommand, option
from dnabench.tasks.card import make_card
from dnabench.tasks.common import as_genome, child_rngs, known_chromosomes, source_record

__all__ = [
    "PROMVARY",
    "PROMFIX",
    "PromVaryOptions",
    "PromFixOptions",
    "read_promoters",
    "promoter_window_starts",
    "sample_negatives",
    "build_promvary",
    "build_promfix",
]

CORE = (-250, 50)  # core promoter, TSS coordinates, half-open
INPUT_LENGTH = 500
CENTER = -100  # window centre in TSS coordinates (PromVary)
PROMFIX_TSS_INDEX = 350  # TSS-350..TSS+150

_PROMOTER = dict(
    input_kind=InputKind.WINDOW,
    input_length=INPUT_LENGTH,
    label_kind=LabelKind.BINARY,
    n_labels=1,
    metrics=(Metric.AUROC, Metric.AUPRC),
    loss=LossKind.BCE,
    output=Activation.SIGMOID,
    split=SplitRule(SplitKind.RANDOM, (0.8, 0.1, 0.1), stratify=True),
)
PROMVARY = TaskSpec(
    name="promvary",
    title="Promoter detection, TSS at a random offset (PromVary)",
    paper_section="4.1.1",
    notes=(
        "EPD human promoters; 500 bp windows centred at -100 from the TSS, shifted by a uniform "
        "random offset that keeps the core promoter -250..+50 inside; negatives are random "
        "genome windows overlapping no promoter, 1:1; random 80/10/10 split."
    ),
    **_PROMOTER,
)
PROMFIX = TaskSpec(
    name="promfix",
    title="Promoter detection, TSS at a fixed position (PromFix)",
    paper_section="6.1",
    notes="As PromVary with the TSS at index 350 of every positive window (TSS-350..TSS+150).",
    **_PROMOTER,
)

_CHROM_STRIDE = np.int64(1) << np.int64(41)
_POS_OFFSET = np.int64(1) << np.int64(39)
_HEADER_WORDS = (b"track", b"browser")


# ----- reading promoters -------------------------------------------------------------------------


def _data_line_numbers(data: bytes) -> np.ndarray:
    """1-based numbers of the lines read_bed treats as data (not blank, #, track, browser)."""
    out = []
    for i, line in enumerate(data.split(b"\n"), start=1):
        s = line.rstrip(b"\r")
        if not s.strip() or s.startswith(b"#") or s.split(None, 1)[0] in _HEADER_WORDS:
            continue
        out.append(i)
    return np.array(out, dtype=np.int64)


def _refseq_to_ucsc(names: pd.Series) -> pd.Series:
    """NC_000001.11 -> chr1 ... NC_000023 -> chrX, NC_000024 -> chrY, NC_012920 -> chrM (any version)."""
    def one(name: str) -> str:
        m = re.fullmatch(r"NC_0000(\d\d)\.\d+", name)
        if m:
            k = int(m.group(1))
            return {23: "chrX", 24: "chrY"}.get(k, f"chr{k}")
        if re.fullmatch(r"NC_012920\.\d+", name):
            return "chrM"
        return name

    mapping = {u: one(u) for u in names.unique()}
    return names.map(mapping)


def _read_sga(path: Path) -> pd.DataFrame:
    df = pd.read_csv(path, sep="\t", header=None, comment="#", dtype=str, keep_default_na=False)
    if df.shape[1] < 6:
        raise InputError(path, f"SGA needs 6 tab-separated columns (seq, feature, position, strand, count, name), found {df.shape[1]}", 1)
    lines = _data_line_numbers(read_all(path))
    pos = pd.to_numeric(df[2], errors="coerce")
    bad = pos.isna().to_numpy() | (pos.to_numpy() < 1)
    if bad.any():
        r = int(np.argmax(bad))
        raise InputError(path, f"SGA position (column 3) must be an integer >= 1, got {df[2].iloc[r]!r}", int(lines[r]))
    return pd.DataFrame(
        {
            "chrom": _refseq_to_ucsc(df[0].astype(str)),
            "tss": pos.to_numpy(dtype=np.int64) - 1,  # SGA is 1-based
            "strand": df[3].astype(str),
            "name": df[5].astype(str),
            "line": lines[: len(df)],
        }
    )


def _read_table(path: Path, data: bytes) -> pd.DataFrame:
    first = next(l for l in data.splitlines() if l.strip() and not l.startswith(b"#"))
    sep = "\t" if b"\t" in first else ","
    df = pd.read_csv(path, sep=sep, comment="#", dtype=str, keep_default_na=False)
    cols = {c.lower(): c for c in df.columns}
    chrom_col = next((cols[c] for c in ("chrom", "chr", "chromosome", "region", "seqnames") if c in cols), None)
    missing = [n for n, c in (("chrom", chrom_col), ("tss", cols.get("tss")), ("strand", cols.get("strand"))) if c is None]
    if missing:
        raise InputError(path, f"TSS table needs columns chrom, tss, strand (and optionally name); missing {', '.join(missing)}", 1)
    lines = _data_line_numbers(data)[1 : len(df) + 1]  # the first data line is the header
    tss = pd.to_numeric(df[cols["tss"]], errors="coerce")
    bad = tss.isna().to_numpy() | (tss.to_numpy() < 0)
    if bad.any():
        r = int(np.argmax(bad))
        raise InputError(path, f"tss must be an integer >= 0, got {df[cols['tss']].iloc[r]!r}", int(lines[r]))
    name_col = next((cols[c] for c in ("name", "id") if c in cols), None)
    return pd.DataFrame(
        {
            "chrom": df[chrom_col].astype(str),
            "tss": tss.to_numpy(dtype=np.int64),
            "strand": df[cols["strand"]].astype(str),
            "name": df[name_col].astype(str) if name_col else pd.Series([f"promoter_{i}" for i in range(len(df))]),
            "line": lines,
        }
    )


def _read_bed_any_whitespace(path: Path, data: bytes) -> pd.DataFrame:
    """read_bed, also for EPD's space-separated BED (spaces turned into tabs, errors name `path`)."""
    first = next((l for l in data.splitlines() if l.strip() and not l.startswith((b"#", b"track", b"browser"))), b"")
    if b"\t" in first or b" " not in first.strip():
        return read_bed(path, min_columns=6)
    fixed = re.sub(rb"[ \t]+", b"\t", data)
    fixed = re.sub(rb"^\t|\t$", b"", fixed, flags=re.MULTILINE)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp) / "promoters.bed"
        tmp_path.write_bytes(fixed)
        try:
            return read_bed(tmp_path, min_columns=6)
        except InputError as err:
            message = str(err).split(": ", 1)[1] if ": " in str(err) else str(err)
            raise InputError(path, message.replace("tab-separated", "whitespace-separated"), err.line) from None


def read_promoters(path: str | os.PathLike, tss_from: str = "auto", fmt: str = "auto") -> pd.DataFrame:
    """Promoter TSSs -> DataFrame[chrom, tss (0-based), strand '+'/'-', name, line (1-based)].

    `fmt`: "auto" (by suffix .sga, a header with a `tss` column, else BED), "bed", "sga", "table".
    `tss_from` (BED only): "auto" = the 1-bp interval when every interval is 1 bp, else EPD's
    convention (thickStart on '+', thickEnd-1 on '-') when thick columns are present;
    "thick"; "5prime" (start on '+', end-1 on '-'); "start"; "center".
    """
    path = Path(path)
    data = read_all(path)
    if not data.strip():
        raise InputError(path, "file is empty")
    if fmt == "auto":
        first = next((l for l in data.splitlines() if l.strip() and not l.startswith(b"#")), b"")
        tokens = [t.strip().lower() for t in re.split(rb"[\t,]", first)]
        if re.search(r"\.sga(\.gz)?$", path.name):
            fmt = "sga"
        elif b"tss" in tokens:
            fmt = "table"
        else:
            fmt = "bed"
    if fmt == "sga":
        df = _read_sga(path)
    elif fmt == "table":
        df = _read_table(path, data)
    elif fmt == "bed":
        bed = _read_bed_any_whitespace(path, data)
        lines = _data_line_numbers(data)
        if "strand" not in bed.columns:
            raise InputError(path, f"promoter BED needs 6 columns (chrom, start, end, name, score, strand), found {bed.shape[1]}", int(lines[0]))
        start, end = bed["start"].to_numpy(), bed["end"].to_numpy()
        minus = (bed["strand"] == "-").to_numpy()
        mode = tss_from
        if mode == "auto":
            if ((end - start) == 1).all():
                mode = "start"
            elif "thickEnd" in bed.columns and (bed["thickEnd"].to_numpy() > bed["thickStart"].to_numpy()).all():
                mode = "thick"
            else:
                r = int(np.argmax((end - start) != 1))
                raise InputError(
                    path,
                    f"interval {start[r]}-{end[r]} is {end[r] - start[r]} bp and there are no thickStart/thickEnd "
                    "columns marking the TSS: give 1-bp TSS intervals, EPD's BED, or choose tss_from "
                    "('5prime', 'center', 'start')",
                    int(lines[r]),
                )
        if mode == "start":
            tss = start
        elif mode == "thick":
            if "thickEnd" not in bed.columns:
                raise InputError(path, "tss_from='thick' needs BED8 (thickStart, thickEnd)")
            tss = np.where(minus, bed["thickEnd"].to_numpy() - 1, bed["thickStart"].to_numpy())
        elif mode == "5prime":
            tss = np.where(minus, end - 1, start)
        elif mode == "center":
            tss = (start + end) // 2
        else:
            raise ValueError(f"tss_from must be auto, thick, 5prime, start or center, got {tss_from!r}")
        names = bed["name"].astype(str) if "name" in bed.columns else pd.Series([f"promoter_{i}" for i in range(len(bed))])
        df = pd.DataFrame(
            {"chrom": bed["chrom"].astype(str), "tss": np.asarray(tss, dtype=np.int64), "strand": bed["strand"].astype(str), "name": names, "line": lines[: len(bed)]}
        )
    else:
        raise ValueError(f"fmt must be auto, bed, sga or table, got {fmt!r}")
    bad = ~df["strand"].isin(["+", "-"]).to_numpy()
    if bad.any():
        r = int(np.argmax(bad))
        raise InputError(path, f"promoter {df['name'].iloc[r]!r} has strand {df['strand'].iloc[r]!r}; promoters need '+' or '-'", int(df["line"].iloc[r]))
    return df.reset_index(drop=True)


# ----- geometry ----------------------------------------------------------------------------------


def promoter_window_starts(tss: np.ndarray, minus: np.ndarray, tss_index: np.ndarray | int, length: int) -> np.ndarray:
    """Genome start of the window whose column `tss_index` is the TSS, read along the strand.

    '+': [tss - tss_index, + length). '-': the mirror image, [tss + tss_index - length + 1, + length),
    fetched reverse-complemented so that column tss_index is again the TSS.
    """
    tss = np.asarray(tss, dtype=np.int64)
    idx = np.asarray(tss_index, dtype=np.int64)
    return np.where(minus, tss + idx - length + 1, tss - idx)


def _keys(ci: np.ndarray, pos: np.ndarray) -> np.ndarray:
    return np.asarray(ci, dtype=np.int64) * _CHROM_STRIDE + _POS_OFFSET + np.asarray(pos, dtype=np.int64)


def _count_overlaps(q_start: np.ndarray, q_end: np.ndarray, z_start_sorted: np.ndarray, z_end_sorted: np.ndarray) -> np.ndarray:
    return np.searchsorted(z_start_sorted, q_end, side="left") - np.searchsorted(z_end_sorted, q_start, side="right")


def sample_negatives(
    genome: Any,
    n: int,
    chrom_ids: np.ndarray,
    zones: tuple[np.ndarray, np.ndarray, np.ndarray],
    length: int,
    max_n_fraction: float,
    rng: np.random.Generator,
    max_rounds: int = 200,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Random windows overlapping no zone and each other, with few N. Returns (ci, start, minus, stats).

    `zones` = (chromosome index, start, end) of forbidden intervals. Positions are uniform over
    all valid window starts of `chrom_ids` (so chromosomes are weighted by length).
    """
    chrom_ids = np.unique(np.asarray(chrom_ids, dtype=np.int64))
    spans = genome.lengths[chrom_ids] - length + 1
    chrom_ids, spans = chrom_ids[spans > 0], spans[spans > 0]
    if n and not chrom_ids.size:
        raise ValueError(f"no chromosome is long enough for a {length} bp negative window")
    cum = np.cumsum(spans)
    zci, zs, ze = zones
    z_start = np.sort(_keys(zci, zs))
    z_end = np.sort(_keys(zci, ze))
    max_n = int(np.floor(max_n_fraction * length + 1e-9))
    taken = np.zeros(0, dtype=np.int64)  # sorted keys of accepted window starts
    got_ci, got_start = [], []
    have = 0
    stats = {"rounds": 0, "candidates": 0, "rejected_promoter_overlap": 0, "rejected_negative_overlap": 0, "rejected_n": 0}
    while have < n:
        if stats["rounds"] >= max_rounds:
            raise ValueError(
                f"placed only {have} of {n} negative windows after {max_rounds} rounds: the allowed chromosomes "
                f"({', '.join(genome.names[i] for i in chrom_ids[:10])}) are too small, too full of promoters or "
                f"of N (max_n_fraction={max_n_fraction})"
            )
        stats["rounds"] += 1
        # on a small genome more candidates than fit side by side chain into one cluster, of which one survives
        m = min(max(2 * (n - have) + 64, 1024), max(2 * (n - have), int(cum[-1]) // (4 * length), 16))
        stats["candidates"] += m
        u = rng.integers(0, int(cum[-1]), size=m)
        which = np.searchsorted(cum, u, side="right")
        ci = chrom_ids[which]
        start = u - (cum[which] - spans[which])
        key = _keys(ci, start)
        ok = _count_overlaps(key, key + length, z_start, z_end) == 0
        stats["rejected_promoter_overlap"] += int((~ok).sum())
        # no overlap with negatives accepted before
        if taken.size:
            j = np.searchsorted(taken, key)
            right = np.where(j < taken.size, taken[np.minimum(j, taken.size - 1)] - key, length)
            left = np.where(j > 0, key - taken[np.maximum(j - 1, 0)], length)
            clash = (right < length) | (left < length)
        else:
            clash = np.zeros(m, dtype=bool)
        # no overlap within this round: in sorted order drop any window starting < length after the previous one
        order = np.argsort(key, kind="stable")
        sorted_keys = key[order]
        close = np.zeros(m, dtype=bool)
        close[order[1:]] = np.diff(sorted_keys) < length
        bad = ok & (clash | close)
        stats["rejected_negative_overlap"] += int(bad.sum())
        ok &= ~(clash | close)
        cand = np.flatnonzero(ok)
        if cand.size:
            codes = genome.fetch_batch(ci[cand], start[cand], length=length)
            few_n = (codes == N).sum(axis=1) <= max_n
            stats["rejected_n"] += int((~few_n).sum())
            cand = cand[few_n][: n - have]
        got_ci.append(ci[cand])
        got_start.append(start[cand])
        taken = np.sort(np.concatenate([taken, key[cand]]))
        have += cand.size
    ci = np.concatenate(got_ci) if got_ci else np.zeros(0, np.int64)
    start = np.concatenate(got_start) if got_start else np.zeros(0, np.int64)
    minus = rng.random(ci.size) < 0.5
    return ci.astype(np.int64), start.astype(np.int64), minus, stats


# ----- building ----------------------------------------------------------------------------------


def build_promvary(
    promoters_path: str | os.PathLike,
    genome: Any,
    out: str | os.PathLike,
    seed: int = 0,
    *,
    input_length: int = INPUT_LENGTH,
    core: tuple[int, int] = CORE,
    center: int = CENTER,
    max_shift: int | None = None,
    tss_index: int | None = None,
    negatives_per_positive: float = 1.0,
    max_n_fraction: float = 0.05,
    negative_chroms: Sequence[str] | None = None,
    split_fractions: Sequence[float] = (0.8, 0.1, 0.1),
    skip_missing: bool = False,
    off_chromosome: str = "drop",
    tss_from: str = "auto",
    genome_build: str | None = None,
    leakage: bool = True,
    overwrite: bool = False,
    task: str = "promvary",
) -> Store:
    """Build the PromVary store from EPD promoters and a genome cache; returns the opened store.

    Offsets: the TSS lands at window column tss_index, uniform in
    [L/2 - center - max_shift, L/2 - center + max_shift] (default max_shift: the most that keeps
    `core` inside, 100 for the paper's numbers); a fixed `tss_index` gives PromFix.
    """
    genome = as_genome(genome)
    promoters_path = Path(promoters_path)
    inputs = [promoters_path, genome.path]
    check_store_target(out, overwrite, inputs)
    if off_chromosome not in ("drop", "error"):
        raise ValueError(f"off_chromosome must be 'drop' or 'error', got {off_chromosome!r}")
    if not 0 <= max_n_fraction <= 1:
        raise ValueError(f"max_n_fraction must be in [0, 1], got {max_n_fraction}")
    L = int(input_length)
    lo_core, hi_core = -int(core[0]), L - int(core[1])  # allowed tss_index range keeping the core inside
    if tss_index is None:
        mid = L // 2 - int(center)
        shift = min(mid - lo_core, hi_core - mid) if max_shift is None else int(max_shift)
        lo, hi = mid - shift, mid + shift
    else:
        lo = hi = int(tss_index)
    if lo < lo_core or hi > hi_core or lo > hi:
        raise ValueError(
            f"TSS positions {lo}..{hi} in a {L} bp window do not keep the core {list(core)} inside "
            f"(allowed {lo_core}..{hi_core})"
        )

    prom = read_promoters(promoters_path, tss_from=tss_from)
    n_input = len(prom)
    dropped: dict[str, Any] = {"missing_chromosome": {}, "off_chromosome": 0, "off_chromosome_examples": []}

    # chromosomes through the genome's aliases, one lookup per distinct name
    codes, uniq = pd.factorize(prom["chrom"])
    lookup = np.array([genome.resolve(str(u)) if str(u) in genome else -1 for u in uniq], dtype=np.int64)
    ci = lookup[codes]
    if (ci < 0).any():
        if not skip_missing:
            r = int(np.argmax(ci < 0))
            raise InputError(
                promoters_path,
                f"promoter {prom['name'].iloc[r]!r} is on chromosome {prom['chrom'].iloc[r]!r}, which genome "
                f"{genome.path} does not have (known: {known_chromosomes(genome)}); give --skip-missing (skip_missing=True) "
                "to drop such promoters",
                int(prom["line"].iloc[r]),
            )
        vc = prom.loc[ci < 0, "chrom"].value_counts()
        dropped["missing_chromosome"] = {str(k): int(v) for k, v in vc.items()}
        keep = ci >= 0
        prom, ci = prom[keep].reset_index(drop=True), ci[keep]
    if not len(prom):
        raise InputError(promoters_path, "no promoter is on a chromosome of the genome")

    tss = prom["tss"].to_numpy(dtype=np.int64)
    minus = (prom["strand"] == "-").to_numpy()
    chrom_len = genome.lengths[ci]
    beyond = tss >= chrom_len
    if beyond.any():
        r = int(np.argmax(beyond))
        raise InputError(
            promoters_path,
            f"TSS of {prom['name'].iloc[r]!r} at {prom['chrom'].iloc[r]}:{tss[r]} is beyond the chromosome end "
            f"({int(chrom_len[r])} bp): is the genome the build the promoters are on?",
            int(prom["line"].iloc[r]),
        )

    rng_offset, rng_neg, rng_split = child_rngs(seed, 3)
    tss_idx = rng_offset.integers(lo, hi + 1, size=len(prom)) if hi > lo else np.full(len(prom), lo, dtype=np.int64)
    starts = promoter_window_starts(tss, minus, tss_idx, L)

    # the envelope of every window each promoter could have got: negatives avoid all of it
    env_start = np.where(minus, tss + lo - L + 1, tss - hi)
    env_end = np.where(minus, tss + hi + 1, tss - lo + L)
    zones = (ci, env_start, env_end)

    off = (starts < 0) | (starts + L > chrom_len)
    if off.any():
        r = int(np.argmax(off))
        if off_chromosome == "error":
            raise InputError(
                promoters_path,
                f"window {prom['chrom'].iloc[r]}:{starts[r]}-{starts[r] + L} of promoter {prom['name'].iloc[r]!r} "
                f"falls off the chromosome (length {int(chrom_len[r])}); pass off_chromosome='drop' to drop such promoters",
                int(prom["line"].iloc[r]),
            )
        dropped["off_chromosome"] = int(off.sum())
        dropped["off_chromosome_examples"] = prom.loc[off, "name"].astype(str).head(20).tolist()
        keep = ~off
        prom, ci, tss, minus, tss_idx, starts = prom[keep].reset_index(drop=True), ci[keep], tss[keep], minus[keep], tss_idx[keep], starts[keep]
    n_pos = len(prom)
    if n_pos == 0:
        raise InputError(promoters_path, "every promoter window falls off its chromosome")

    if negative_chroms is None:
        neg_ids = np.unique(ci)
    else:
        neg_ids = np.array([genome.resolve(c) for c in negative_chroms], dtype=np.int64)
    n_neg = int(round(n_pos * negatives_per_positive))
    n_ci, n_start, n_minus, neg_stats = sample_negatives(genome, n_neg, neg_ids, zones, L, max_n_fraction, rng_neg)

    names = np.asarray(genome.names, dtype=object)
    all_ci = np.concatenate([ci, n_ci])
    all_start = np.concatenate([starts, n_start])
    all_minus = np.concatenate([minus, n_minus])
    label = np.concatenate([np.ones(n_pos, np.int8), np.zeros(n_neg, np.int8)])
    regions = pd.DataFrame(
        {
            "chrom": pd.Categorical(names[all_ci]),
            "start": all_start,
            "end": all_start + L,
            "strand": np.where(all_minus, "-", "+"),
            "split": "train",
            "label": label,
            "name": np.concatenate([prom["name"].astype(str).to_numpy(dtype=object), np.array([f"negative_{i}" for i in range(n_neg)], dtype=object)]),
            "tss_index": np.concatenate([tss_idx, np.full(n_neg, -1)]).astype(np.int16),
            "source_line": np.concatenate([prom["line"].to_numpy(dtype=np.int64), np.full(n_neg, -1, dtype=np.int64)]),
        }
    )
    fractions = dict(zip(SPLITS, split_fractions))
    regions["split"] = random_split(len(regions), fractions, rng_split, strata=label)

    def fetch(rows: np.ndarray) -> np.ndarray:
        return genome.fetch_batch(all_ci[rows], all_start[rows], length=L, strands=all_minus[rows])

    pos_n = 0
    for b in range(0, n_pos, 1 << 16):
        rows = np.arange(b, min(b + (1 << 16), n_pos))
        pos_n += int(((fetch(rows) == N).sum(axis=1) > 0).sum())

    spec = PROMFIX if task == "promfix" else PROMVARY
    split_arr = regions["split"].to_numpy(dtype=str)
    class_counts = {s: {"positive": int(((split_arr == s) & (label == 1)).sum()), "negative": int(((split_arr == s) & (label == 0)).sum())} for s in SPLITS}
    card = make_card(
        spec,
        label_names=["promoter"],
        genome=genome,
        genome_build=genome_build,
        sources=[source_record(promoters_path, "promoters")],
        parameters={
            "seed": seed,
            "input_length": L,
            "core": list(core),
            "tss_index_range": [int(lo), int(hi)],
            "center": None if tss_index is not None else int(center),
            "max_shift": None if tss_index is not None else int((hi - lo) // 2),
            "tss_index": None if tss_index is None else int(tss_index),
            "negatives_per_positive": negatives_per_positive,
            "max_n_fraction": max_n_fraction,
            "negative_chroms": [genome.names[i] for i in neg_ids],
            "split_fractions": fractions,
            "skip_missing": skip_missing,
            "off_chromosome": off_chromosome,
            "tss_from": tss_from,
        },
        split_rule={**spec.split.to_dict(), "fractions": fractions, "seed": seed},
        leakage=leakage_report(regions, fetch) if leakage else None,
        columns={
            "label": "1 promoter window, 0 random genome window",
            "name": "EPD promoter name (negatives: negative_i)",
            "tss_index": "window column of the TSS, reading along the strand (-1 for negatives)",
            "source_line": "line of the promoter in the input file (-1 for negatives)",
        },
        class_counts=class_counts,
        inputs={"promoters_read": n_input, "positives": n_pos, "negatives": n_neg, "positives_with_n": pos_n},
        dropped=dropped,
        negative_sampling=neg_stats,
    )
    with StoreWriter(out, overwrite=overwrite, inputs=inputs) as writer:
        writer.finish(card, regions, labels=label.astype(np.float32)[:, None])
    return open_store(out)


def build_promfix(
    promoters_path: str | os.PathLike,
    genome: Any,
    out: str | os.PathLike,
    seed: int = 0,
    *,
    tss_index: int = PROMFIX_TSS_INDEX,
    **kwargs: Any,
) -> Store:
    """PromFix: PromVary with the TSS at a fixed window column (default 350: TSS-350..TSS+150)."""
    kwargs.pop("task", None)
    return build_promvary(promoters_path, genome, out, seed, tss_index=tss_index, task="promfix", **kwargs)


# ----- the prepare commands ------------------------------------------------------------------------

OffChromosome = Literal["drop", "error"]


@dataclass
class PromVaryOptions:
    promoters: Path = option(help="EPD promoters: BED (EPD's or 1-bp TSS), SGA, or a chrom,tss,strand table.", argument=True)
    genome: Path = option(help="Genome cache folder.", short="-g")
    out: Path = option(help="Store folder to create.", short="-o")
    seed: int = option(0, help="Random seed (offsets, negatives, split).")
    skip_missing: bool = option(False, help="Drop promoters on chromosomes the genome lacks (counted in the card).")
    off_chromosome: OffChromosome = option("drop", help="Windows off a chromosome end: drop (counted) or error.")
    max_n_fraction: float = option(0.05, help="Most N allowed in a negative window.")
    negative_chroms: Optional[list[str]] = option(None, help="Chromosomes for negatives, comma-separated (default: the promoters').")
    build: Optional[str] = option(None, help="Genome build name for the card (hg38...).")
    leakage: bool = option(True, help="Count identical sequences and overlapping windows across splits.")
    overwrite: bool = option(False, help="Replace an existing store.")


@dataclass
class PromFixOptions(PromVaryOptions):
    tss_index: int = option(PROMFIX_TSS_INDEX, help="Window column of the TSS (350: TSS-350..TSS+150).")


def prepare_promvary(options: PromVaryOptions) -> Store:
    """PromVary: 500 bp windows, TSS at a random offset, 1:1 random negatives, 80/10/10."""
    return build_promvary(
        options.promoters, options.genome, options.out, seed=options.seed, skip_missing=options.skip_missing,
        off_chromosome=options.off_chromosome, max_n_fraction=options.max_n_fraction,
        negative_chroms=options.negative_chroms, genome_build=options.build, leakage=options.leakage,
        overwrite=options.overwrite,
    )


def prepare_promfix(options: PromFixOptions) -> Store:
    """PromFix: as PromVary with the TSS at a fixed window position."""
    return build_promfix(
        options.promoters, options.genome, options.out, seed=options.seed, tss_index=options.tss_index,
        skip_missing=options.skip_missing, off_chromosome=options.off_chromosome, max_n_fraction=options.max_n_fraction,
        negative_chroms=options.negative_chroms, genome_build=options.build, leakage=options.leakage,
        overwrite=options.overwrite,
    )


PREPARE = (
    PrepareCommand("promvary", PromVaryOptions, prepare_promvary, PROMVARY),
    PrepareCommand("promfix", PromFixOptions, prepare_promfix, PROMFIX),
)
