"""CpG methylation set by CpG density, with sample-specific offsets, as ENCODE bedMethyl files.

A CpG's methylation probability in sample s is sigmoid(offset_s + slope_s * (centre - d) + u):
d is the number of CpGs within `HALF_WINDOW` bp, so CpG islands are unmethylated and the
CpG-poor background methylated, as in real cells; u is a per-CpG effect no sequence shows.
Reads per strand are drawn around a sample's depth and methylated reads from a binomial, so the
measured fraction is noisy. The truth is the probability without u (`probability`), the best
achievable prediction from sequence.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dnabench.alphabet import C, G
from dnabench.synthetic.files import format_table, write_text

__all__ = ["HALF_WINDOW", "Sample", "cpg_sites", "cpg_density", "make_samples", "methylation_truth", "bedmethyl_rows", "write_bedmethyl"]

HALF_WINDOW = 100


@dataclass(frozen=True)
class Sample:
    """One RRBS experiment: its accession (the file stem), offset, slope and depth."""

    accession: str
    offset: float
    slope: float
    depth: float
    coverage_fraction: float


def cpg_sites(sequences: dict[str, np.ndarray]) -> pd.DataFrame:
    """Every CpG of the genome: chrom and pos (0-based, the C on the + strand)."""
    parts = []
    for name, seq in sequences.items():
        pos = np.flatnonzero((seq[:-1] == C) & (seq[1:] == G))
        parts.append(pd.DataFrame({"chrom": name, "pos": pos.astype(np.int64)}))
    return pd.concat(parts, ignore_index=True)


def cpg_density(sequences: dict[str, np.ndarray], chrom: np.ndarray, pos: np.ndarray, half: int = HALF_WINDOW) -> np.ndarray:
    """CpGs within [pos - half, pos + half) of each site (the site itself included)."""
    chrom, pos = np.asarray(chrom).astype(str), np.asarray(pos, dtype=np.int64)
    out = np.zeros(pos.size, dtype=np.int64)
    for name in np.unique(chrom):
        seq = sequences[name]
        cg = np.r_[0, np.cumsum((seq[:-1] == C) & (seq[1:] == G))]
        rows = np.flatnonzero(chrom == name)
        lo = np.clip(pos[rows] - half, 0, cg.size - 1)
        hi = np.clip(pos[rows] + half, 0, cg.size - 1)
        out[rows] = cg[hi] - cg[lo]
    return out


def make_samples(n: int, rng: np.random.Generator, prefix: str = "ENCFF9") -> list[Sample]:
    """`n` samples with their own offset, slope and depth (accessions ENCFF9nnAAA-like)."""
    letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
    return [
        Sample(
            f"{prefix}{i:02d}{letters[i % 24]}{letters[(3 * i) % 24]}{letters[(7 * i) % 24]}",
            float(rng.normal(0.0, 0.6)), float(rng.uniform(0.45, 0.8)), float(rng.uniform(18, 40)), float(rng.uniform(0.75, 0.95)),
        )
        for i in range(n)
    ]


def methylation_truth(
    sequences: dict[str, np.ndarray], sites: pd.DataFrame, samples: list[Sample], rng: np.random.Generator,
    centre: float = 6.0, random_effect: float = 1.1,
) -> pd.DataFrame:
    """Per CpG: density, then per sample the probability from sequence (`p_<acc>`) and the one methylation is drawn from (`drawn_<acc>`)."""
    density = cpg_density(sequences, sites["chrom"].to_numpy(), sites["pos"].to_numpy())
    u = rng.normal(0.0, random_effect, len(sites))
    out = sites[["chrom", "pos"]].copy()
    out["density"] = density
    for s in samples:
        eta = s.offset + s.slope * (centre - density)
        out[f"p_{s.accession}"] = 1 / (1 + np.exp(-eta))
        out[f"drawn_{s.accession}"] = 1 / (1 + np.exp(-(eta + u)))
    return out


def bedmethyl_rows(truth: pd.DataFrame, sample: Sample, rng: np.random.Generator) -> pd.DataFrame:
    """One sample's reads as bedMethyl rows, both strands (the '-' row on the G, one base right).

    Coverage per strand is Poisson(depth / 2) at the CpGs the sample covers; methylated reads
    are binomial in the drawn probability; the percent column is an integer as ENCODE writes it
    (coverage below 100 keeps round(coverage * percent / 100) equal to the methylated reads).
    """
    covered = rng.random(len(truth)) < sample.coverage_fraction
    parts = []
    for strand, shift in (("+", 0), ("-", 1)):
        cov = np.minimum(rng.poisson(sample.depth / 2, len(truth)), 99)
        meth = rng.binomial(cov, truth[f"drawn_{sample.accession}"].to_numpy())
        keep = covered & (cov > 0)
        pos = truth["pos"].to_numpy()[keep] + shift
        parts.append(pd.DataFrame({
            "chrom": truth["chrom"].to_numpy()[keep], "start": pos, "end": pos + 1, "strand": strand,
            "coverage": cov[keep], "percent": np.round(100 * meth[keep] / cov[keep]).astype(int), "methylated": meth[keep],
        }))
    rows = pd.concat(parts, ignore_index=True)
    order = {c: i for i, c in enumerate(pd.unique(truth["chrom"]))}
    rows = rows.assign(_c=rows["chrom"].map(order)).sort_values(["_c", "start"], kind="stable").drop(columns="_c")
    return rows.reset_index(drop=True)


def write_bedmethyl(rows: pd.DataFrame, path: str | os.PathLike, name: str) -> Path:
    """ENCODE RRBS bedMethyl: BED9 (name quoted, score = min(coverage, 1000), colour by level) + coverage + percent."""
    colour = np.where(rows["percent"] >= 50, "255,0,0", np.where(rows["percent"] > 0, "255,255,0", "0,255,0"))
    table = pd.DataFrame({
        "chrom": rows["chrom"], "start": rows["start"], "end": rows["end"], "name": f'"{name}"',
        "score": np.minimum(rows["coverage"], 1000), "strand": rows["strand"], "thickStart": rows["start"],
        "thickEnd": rows["end"], "rgb": colour, "coverage": rows["coverage"], "percent": rows["percent"],
    })
    header = f'track name="{name}" description="{name}" visibility=2 itemRgb="On"\n'
    return write_text(path, header + format_table(table))
