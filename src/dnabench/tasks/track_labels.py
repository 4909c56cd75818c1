"""Peak intervals -> labelled genome bins: the labelling rule of DeepSEA, vectorised.

A bin ``[b * size, (b + 1) * size)`` is positive for a track when the track's peaks together
cover at least ``min_cover`` bases of it. Peaks of one track are merged first, so two
peaks that each cover 60 bp of a bin count as 120 bp, and overlapping peaks are not counted
twice. The result is a set of bin ranges ``[lo, hi]`` (inclusive) per track: interior bins of a
long peak come out as one range, which keeps broad histone peaks cheap until the bins are
expanded block by block when the label matrix is written.
"""

from __future__ import annotations

import numpy as np

__all__ = ["merge_intervals", "covered_bin_ranges", "expand_ranges"]


def merge_intervals(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Union of half-open intervals on one chromosome, as sorted disjoint intervals (touching ones joined)."""
    starts = np.asarray(starts, dtype=np.int64)
    ends = np.asarray(ends, dtype=np.int64)
    if starts.size == 0:
        return starts, ends
    order = np.argsort(starts, kind="stable")
    s, e = starts[order], ends[order]
    reach = np.maximum.accumulate(e)
    new = np.empty(s.size, dtype=bool)
    new[0] = True
    new[1:] = s[1:] > reach[:-1]
    first = np.flatnonzero(new)
    last = np.append(first[1:], s.size) - 1
    return s[first], reach[last]


def covered_bin_ranges(
    starts: np.ndarray, ends: np.ndarray, bin_size: int, min_cover: int, length: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Inclusive bin ranges ``(lo, hi)`` whose coverage by the union of the intervals is >= min_cover bp.

    ``length`` clips the intervals to the chromosome. Interior bins of an interval are fully
    covered; the two end bins of each merged interval get their partial coverage summed over
    every interval that touches them.
    """
    if bin_size < 1 or not 1 <= min_cover <= bin_size:
        raise ValueError(f"need bin_size >= 1 and 1 <= min_cover <= bin_size, got {bin_size} and {min_cover}")
    starts = np.asarray(starts, dtype=np.int64)
    ends = np.asarray(ends, dtype=np.int64)
    if length is not None:
        starts = np.clip(starts, 0, length)
        ends = np.clip(ends, 0, length)
    keep = ends > starts
    s, e = merge_intervals(starts[keep], ends[keep])
    if s.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    first, last = s // bin_size, (e - 1) // bin_size
    # Fully covered interior bins: one range per interval.
    full_lo = np.where(s % bin_size == 0, first, first + 1)
    full_hi = np.where(e % bin_size == 0, last, last - 1)
    # Partial end bins: coverage summed per bin (several intervals can share one bin).
    single = first == last
    part_bins = np.concatenate([first[s % bin_size != 0], last[(e % bin_size != 0) & ~single]])
    part_cover = np.concatenate(
        [
            np.where(single, e - s, (first + 1) * bin_size - s)[s % bin_size != 0],
            (e - last * bin_size)[(e % bin_size != 0) & ~single],
        ]
    )
    # A single-bin interval that starts on a border but ends inside is partial too.
    border_single = single & (s % bin_size == 0) & (e % bin_size != 0)
    part_bins = np.concatenate([part_bins, first[border_single]])
    part_cover = np.concatenate([part_cover, (e - s)[border_single]])
    if part_bins.size:
        bins, inverse = np.unique(part_bins, return_inverse=True)
        cover = np.bincount(inverse, weights=part_cover, minlength=bins.size)
        hit = bins[cover >= min_cover]
    else:
        hit = part_bins
    ok = full_lo <= full_hi
    lo = np.concatenate([full_lo[ok], hit])
    hi = np.concatenate([full_hi[ok], hit])
    order = np.argsort(lo, kind="stable")
    return lo[order], hi[order]


def expand_ranges(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every bin of the inclusive ranges, with the index of the range it came from."""
    counts = np.asarray(hi, dtype=np.int64) - np.asarray(lo, dtype=np.int64) + 1
    counts = np.maximum(counts, 0)
    total = int(counts.sum())
    which = np.repeat(np.arange(counts.size), counts)
    offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    return np.asarray(lo, dtype=np.int64)[which] + offsets, which
