"""Leakage between splits: identical input sequences and overlapping intervals, counted.

Every store card carries this report, so a user sees at once whether a test sequence also sits in
the training set (exactly, or as its reverse complement) and how many test windows overlap
training windows on the genome. Random splits of promoter windows (PromVary) leak through
overlapping alternative promoters; chromosome splits (Methyl96) cannot overlap but can still
share identical repeat sequences.

Unlabeled sequences gathered for pretraining are screened against the rows a score is computed
on by their shared k-mers (`sharing_kmers`): a pretraining sequence that holds any k-mer of a
scored row, on either strand, is a copy of part of it, as a 300 bp promoter holds its 70 bp core.

Sequences are compared by a 64-bit hash of their uint8 codes, computed for a whole batch at
once: the codes are viewed as 64-bit words and folded with the splitmix64 finaliser, one
vectorised step per 8 bases. With n sequences the chance of any false match is about
n^2 / 2^65 (1e-5 for ten million). Overlaps are counted with sorted interval ends and
`np.searchsorted`, per pair of splits, in O(n log n), strand-agnostic.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from dnabench.data.splits import SPLITS


__all__ = ["sequence_hashes", "sharing_kmers", "identical_across_splits", "overlaps_across_splits", "leakage_report"]

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_POS_OFFSET = 1 << 39  # positions may be negative (windows hanging off a chromosome start)
_CHROM_STRIDE = 1 << 41


def _mix(x: np.ndarray) -> np.ndarray:
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


def _reverse_complement(codes: np.ndarray) -> np.ndarray:
    """Reverse complement of a [B, L] code batch in place on one copy (A<->T, C<->G by xor 3; N stays)."""
    out = np.ascontiguousarray(codes[:, ::-1])
    out ^= (out < 4).view(np.uint8) * np.uint8(3)
    return out


def sequence_hashes(codes: np.ndarray) -> np.ndarray:
    """64-bit hash of each row of a uint8 [B, L] code array -> uint64 [B]; equal rows, equal hashes."""
    codes = np.asarray(codes, dtype=np.uint8)
    if codes.ndim != 2:
        raise ValueError(f"need a [B, L] code array, got shape {codes.shape}")
    batch, length = codes.shape
    pad = (-length) % 8
    if pad:
        codes = np.concatenate([codes, np.full((batch, pad), 255, dtype=np.uint8)], axis=1)
    words = np.ascontiguousarray(codes).view("<u8")
    with np.errstate(over="ignore"):
        h = np.full(batch, np.uint64(length) * _GOLDEN + np.uint64(1), dtype=np.uint64)
        for j in range(words.shape[1]):
            h = _mix(h ^ words[:, j])
    return h


def _canonical_kmers(codes: np.ndarray, lengths: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Every k-mer of records laid back to back (`codes`, record `lengths`) that holds no N and sits
    inside one record, as the smaller of its two strands' 2-bit values: (values int64, record index)."""
    codes = np.asarray(codes, dtype=np.uint8)
    lengths = np.asarray(lengths, dtype=np.int64)
    n = codes.size
    if n < k:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    m = n - k + 1
    forward = np.zeros(m, np.int64)
    backward = np.zeros(m, np.int64)
    bases = np.minimum(codes, 3).astype(np.int64)
    for j in range(k):  # k vectorised passes: window i reads bases i..i+k-1
        forward = (forward << 2) | bases[j : j + m]
        backward |= (3 - bases[j : j + m]) << (2 * j)  # the reverse complement: base j is its (k-1-j)-th
    unknown = np.concatenate([[0], np.cumsum(codes >= 4)])
    record = np.repeat(np.arange(lengths.size), lengths)
    keep = (unknown[k:] - unknown[:m] == 0) & (record[: m] == record[k - 1 :])
    return np.minimum(forward, backward)[keep], record[: m][keep]


def sharing_kmers(
    codes: np.ndarray, lengths: np.ndarray, reference_codes: np.ndarray, reference_lengths: np.ndarray, k: int = 24,
) -> np.ndarray:
    """Which records of `codes` share a k-mer, on either strand, with any record of the reference.

    Both sets are records laid back to back with their lengths (as `dnabench.data.chunks.read_sequences`
    returns them); k-mers that hold an N or cross two records do not count. Returns a bool per record.
    At k = 24 two unrelated sequences share a k-mer by chance about once in 2^48 pairs of positions,
    so a hit is a copy (or a repeat element both hold).
    """
    if not 1 <= k <= 31:
        raise ValueError(f"k must be in 1..31 (2 bits a base in an int64), got {k}")
    reference = np.sort(_canonical_kmers(reference_codes, reference_lengths, k)[0])
    values, record = _canonical_kmers(codes, lengths, k)
    shared = np.zeros(len(np.asarray(lengths)), dtype=bool)
    if reference.size and values.size:
        # sorted queries against the sorted reference: np.isin and np.unique are many times slower here
        order = np.argsort(values)
        queries = values[order]
        found = reference[np.minimum(np.searchsorted(reference, queries), reference.size - 1)] == queries
        shared[record[order[found]]] = True
    return shared


def _split_codes(split: pd.Series | np.ndarray, splits: Sequence[str]) -> np.ndarray:
    split = pd.Series(split)
    if isinstance(split.dtype, pd.CategoricalDtype):  # millions of rows: map the few categories, not each row
        lookup = np.array([splits.index(c) if c in splits else -1 for c in map(str, split.cat.categories)] + [-1])
        return lookup[split.cat.codes.to_numpy()].astype(np.int64)  # code -1 (missing) takes the last entry
    values = np.asarray(split.astype(str))
    codes = np.full(values.shape, -1, dtype=np.int64)
    for i, name in enumerate(splits):
        codes[values == name] = i
    return codes


def _pairs(splits: Sequence[str]) -> list[tuple[int, int]]:
    return [(a, b) for a in range(len(splits)) for b in range(a + 1, len(splits))]


def identical_across_splits(hashes: np.ndarray, split_codes: np.ndarray, splits: Sequence[str]) -> dict:
    """Rows whose hash occurs in another split too, overall and for every pair of splits.

    One sort of the hashes; runs of equal hashes are groups, and per-group split membership
    comes from `np.logical_or.reduceat`, so the cost is O(n log n) whatever the duplication.
    """
    present = np.flatnonzero(split_codes >= 0)
    h = np.asarray(hashes, dtype=np.uint64)[present]
    sc = np.asarray(split_codes)[present]
    order = np.argsort(h, kind="stable")
    hs, ss = h[order], sc[order]
    out: dict = {"rows": 0, "distinct": 0, "by_pair": {}}
    if hs.size == 0:
        for a, b in _pairs(splits):
            out["by_pair"][f"{splits[a]}-{splits[b]}"] = {"distinct": 0, f"rows_{splits[a]}": 0, f"rows_{splits[b]}": 0}
        return out
    new_group = np.empty(hs.size, dtype=bool)
    new_group[0] = True
    np.not_equal(hs[1:], hs[:-1], out=new_group[1:])
    starts = np.flatnonzero(new_group)
    group = np.cumsum(new_group) - 1
    member = [np.logical_or.reduceat(ss == i, starts) for i in range(len(splits))]  # [groups] per split
    n_in = np.sum(member, axis=0)
    shared = n_in > 1
    out["rows"] = int(shared[group].sum())
    out["distinct"] = int(shared.sum())
    for a, b in _pairs(splits):
        common = member[a] & member[b]
        out["by_pair"][f"{splits[a]}-{splits[b]}"] = {
            "distinct": int(common.sum()),
            f"rows_{splits[a]}": int((common[group] & (ss == a)).sum()),
            f"rows_{splits[b]}": int((common[group] & (ss == b)).sum()),
        }
    return out


def _overlap_counts(a_start: np.ndarray, a_end: np.ndarray, b_start_sorted: np.ndarray, b_end_sorted: np.ndarray) -> np.ndarray:
    """For each interval of a, how many intervals of b overlap it (half-open, keys share one axis).

    b overlaps a iff b.start < a.end and b.end > a.start; those with b.end <= a.start all have
    b.start < a.end, so the count is #(b.start < a.end) - #(b.end <= a.start).
    """
    return np.searchsorted(b_start_sorted, a_end, side="left") - np.searchsorted(b_end_sorted, a_start, side="right")


def overlaps_across_splits(
    chrom: pd.Series | np.ndarray, start: np.ndarray, end: np.ndarray, split_codes: np.ndarray, splits: Sequence[str]
) -> dict:
    """Overlapping pairs of intervals in different splits, and the rows involved (strand-agnostic)."""
    chrom = pd.Series(chrom)
    if isinstance(chrom.dtype, pd.CategoricalDtype):  # millions of rows: no per-row strings
        chrom_codes = chrom.cat.codes.to_numpy()
    else:
        chrom_codes, _ = pd.factorize(chrom.astype(str))
    base = chrom_codes.astype(np.int64) * _CHROM_STRIDE + _POS_OFFSET
    ks = base + np.asarray(start, dtype=np.int64)
    ke = base + np.asarray(end, dtype=np.int64)
    involved = np.zeros(ks.size, dtype=bool)
    out: dict = {"rows": 0, "by_pair": {}}
    sorted_ = {}
    for i in range(len(splits)):
        sel = split_codes == i
        sorted_[i] = (np.sort(ks[sel]), np.sort(ke[sel]), np.flatnonzero(sel))
    for a, b in _pairs(splits):
        sa, ea, rows_a = sorted_[a]
        sb, eb, rows_b = sorted_[b]
        count_a = _overlap_counts(ks[rows_a], ke[rows_a], sb, eb)
        count_b = _overlap_counts(ks[rows_b], ke[rows_b], sa, ea)
        involved[rows_a[count_a > 0]] = True
        involved[rows_b[count_b > 0]] = True
        out["by_pair"][f"{splits[a]}-{splits[b]}"] = {
            "pairs": int(count_a.sum()),
            f"rows_{splits[a]}": int((count_a > 0).sum()),
            f"rows_{splits[b]}": int((count_b > 0).sum()),
        }
    out["rows"] = int(involved.sum())
    return out


def leakage_report(
    regions: pd.DataFrame,
    sequences: Callable[[np.ndarray], np.ndarray] | None = None,
    splits: Sequence[str] = SPLITS,
    chunk: int = 1 << 16,
    reverse_complements: bool = True,
) -> dict:
    """The card's leakage section for a regions table (chrom, start, end, split).

    `sequences(rows)` returns the uint8 codes [len(rows), L] of those rows (a store's
    `sequences` with the genome bound, or a task's own fetch); it is called on chunks of
    `chunk` rows so memory stays bounded. Without it only overlaps are counted.
    """
    codes = _split_codes(regions["split"], splits)
    report: dict = {
        "method": (
            "identical: 64-bit hash of the uint8 codes of each input (splitmix64 over 8-base words), "
            "rows whose hash occurs in another split; up to reverse complement: the smaller of the "
            "hashes of the sequence and of its reverse complement; overlapping: intervals of different "
            "splits sharing at least 1 bp on the same chromosome, either strand"
        ),
    }
    if sequences is not None:
        n = len(regions)
        h = np.empty(n, dtype=np.uint64)
        hc = np.empty(n, dtype=np.uint64)
        for b in range(0, n, chunk):
            rows = np.arange(b, min(b + chunk, n), dtype=np.int64)
            seq = sequences(rows)
            h[rows] = sequence_hashes(seq)
            if reverse_complements:
                hc[rows] = np.minimum(h[rows], sequence_hashes(_reverse_complement(seq)))
        report["identical_sequences"] = identical_across_splits(h, codes, splits)
        if reverse_complements:
            report["identical_up_to_reverse_complement"] = identical_across_splits(hc, codes, splits)
    if {"chrom", "start", "end"} <= set(regions.columns) and "sequence" not in regions.columns:
        report["overlapping_intervals"] = overlaps_across_splits(
            regions["chrom"], regions["start"].to_numpy(), regions["end"].to_numpy(), codes, splits
        )
    return report
