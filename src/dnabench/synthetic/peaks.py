"""Chromatin tracks: narrowPeak files called around planted sources, and the track table.

A track (a DNase, TF or histone experiment) has sources: places where the signal is, each with
the probability `pi` that the experiment calls a peak there (a TF's sites, by how well they
match its motif; active promoters for H3K4me3 ...). A called peak is `width` bp centred on
its source, moved by up to `jitter` bp; a few peaks are called where no source is (noise).
`bin_probabilities` is the generating rule's probability that a genome bin is labelled, the
best achievable score of Track7878.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from dnabench.synthetic.files import format_table, write_text

__all__ = ["Track", "call_peaks", "write_narrowpeak", "write_track_table", "bin_probabilities"]


@dataclass
class Track:
    """One experiment: what it measures, where its signal is, and how its peaks look."""

    accession: str
    group: str  # DNase, TF or histone
    cell_type: str
    target: str
    sources: pd.DataFrame = field(repr=False)  # chrom, centre, pi
    width: int = 240
    jitter: int = 30
    noise_peaks: int = 10


def call_peaks(track: Track, sizes: dict[str, int], rng: np.random.Generator) -> pd.DataFrame:
    """Peaks of one track as narrowPeak columns, in genome order; `source` is -1 for noise peaks."""
    src = track.sources
    called = rng.random(len(src)) < src["pi"].to_numpy()
    centre = src["centre"].to_numpy()[called] + rng.integers(-track.jitter, track.jitter + 1, int(called.sum()))
    chrom = src["chrom"].to_numpy()[called].astype(object)
    source = np.flatnonzero(called)
    names = list(sizes)
    noise_chrom = rng.choice(names, size=track.noise_peaks, p=np.array([sizes[n] for n in names]) / sum(sizes.values()))
    noise_centre = np.array([rng.integers(track.width, sizes[c] - track.width) for c in noise_chrom], dtype=np.int64)
    chrom = np.concatenate([chrom, noise_chrom.astype(object)])
    centre = np.concatenate([centre, noise_centre])
    source = np.concatenate([source, np.full(track.noise_peaks, -1)])
    length = np.array([sizes[c] for c in chrom], dtype=np.int64)
    start = np.clip(centre - track.width // 2, 0, None)
    end = np.minimum(start + track.width, length)
    signal = np.round(rng.gamma(4.0, 5.0, chrom.size), 3)
    peaks = pd.DataFrame({
        "chrom": chrom, "start": start, "end": end, "name": ".", "score": np.minimum(1000, (signal * 20).astype(int)),
        "strand": ".", "signalValue": signal, "pValue": np.round(signal * 1.3, 3), "qValue": np.round(signal * 1.1, 3),
        "peak": (end - start) // 2, "source": source,
    })
    order = {n: i for i, n in enumerate(names)}
    peaks = peaks.assign(_c=peaks["chrom"].map(order)).sort_values(["_c", "start"], kind="stable").drop(columns="_c")
    peaks = peaks.reset_index(drop=True)
    peaks["name"] = [f"{track.accession}_peak{i + 1}" for i in range(len(peaks))]
    return peaks


def write_narrowpeak(peaks: pd.DataFrame, path: str | os.PathLike) -> Path:
    """ENCODE narrowPeak (BED6 + signalValue, pValue, qValue, peak), gzip when the name ends in .gz."""
    cols = ["chrom", "start", "end", "name", "score", "strand", "signalValue", "pValue", "qValue", "peak"]
    return write_text(path, format_table(peaks[cols]))


def write_track_table(tracks: list[Track], files: list[str], path: str | os.PathLike) -> Path:
    """The track table Track7878's builder reads: accession, file (relative to the table), group, cell_type, target."""
    lines = ["accession\tfile\tgroup\tcell_type\ttarget"]
    lines += [f"{t.accession}\t{f}\t{t.group}\t{t.cell_type}\t{t.target}" for t, f in zip(tracks, files)]
    return write_text(path, "\n".join(lines) + "\n")


def bin_probabilities(
    track: Track, chrom: np.ndarray, bin_start: np.ndarray, bin_size: int = 200, min_overlap: float = 0.5
) -> np.ndarray:
    """P(the bin is labelled) under the generating rule: 1 - prod over sources of (1 - pi * q), where q
    is the share of jitters whose peak covers at least `min_overlap` of the bin. Noise peaks are
    unpredictable and count for nothing."""
    chrom, bin_start = np.asarray(chrom).astype(str), np.asarray(bin_start, dtype=np.int64)
    need = int(np.ceil(min_overlap * bin_size))
    shifts = np.arange(-track.jitter, track.jitter + 1)
    out = np.zeros(chrom.size)
    reach = track.width + track.jitter + bin_size
    for name, group in track.sources.groupby("chrom"):
        rows = np.flatnonzero(chrom == name)
        if not rows.size:
            continue
        centre = group["centre"].to_numpy(np.int64)
        pi = group["pi"].to_numpy(float)
        order = np.argsort(centre)
        centre, pi = centre[order], pi[order]
        for r in rows:
            b0 = bin_start[r]
            lo, hi = np.searchsorted(centre, [b0 - reach, b0 + bin_size + reach])
            if lo == hi:
                continue
            starts = centre[lo:hi, None] + shifts[None] - track.width // 2
            cover = np.minimum(starts + track.width, b0 + bin_size) - np.maximum(starts, b0)
            q = (cover >= need).mean(axis=1)
            out[r] = 1 - np.prod(1 - pi[lo:hi] * q)
    return out
