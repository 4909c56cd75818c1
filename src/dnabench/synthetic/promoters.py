"""Promoters with a TATA box, a CAAT box and GC boxes at their usual offsets, and an EPD-like BED.

Each promoter is a TSS on a strand. Along its strand (TSS = 0, upstream negative) it may hold a
TATA box starting at -31 (+-2), a CAAT box at -85 (+-5) and one or two GC boxes between -110 and
-45, each drawn from its PWM; active promoters often sit in a CpG island. Its `strength` is the
weighted count of its elements, each counted by its match to the PWM (at least 5 %). A promoter is listed in the EPD-like BED with a probability that
rises with its strength, and a few listed promoters are silent (no element at all): the label
noise that keeps the best achievable score below 1.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from dnabench.synthetic.files import write_text
from dnabench.synthetic.genome import GenomeBuilder, background
from dnabench.synthetic.motifs import PROMOTER_ELEMENTS

__all__ = ["ELEMENT_OFFSETS", "ELEMENT_WEIGHTS", "plant_promoters", "write_epd_bed", "promoter_window_scores"]

#: where each element starts along the strand, relative to the TSS: (centre, jitter)
ELEMENT_OFFSETS: dict[str, tuple[int, int]] = {"TATA": (-31, 2), "CAAT": (-85, 5)}
GC_BOX_RANGE = (-110, -45)
#: contribution of each element to a promoter's strength
ELEMENT_WEIGHTS: dict[str, float] = {"TATA": 1.0, "CAAT": 0.8, "GCBOX": 0.6}
CGI_HALF = 500


def _cgi(rng: np.random.Generator, length: int) -> np.ndarray:
    """CpG-island sequence: GC-rich and without CpG depletion."""
    return background({"cgi": length}, rng, gc=0.66, cpg_kept=1.0)["cgi"]


def plant_promoters(
    gb: GenomeBuilder,
    n: int,
    rng: np.random.Generator,
    *,
    slot: int = 1_400,
    prefix: str = "P",
    p_tata: float = 0.5,
    p_caat: float = 0.6,
    p_gc: float = 0.8,
    silent_fraction: float = 0.08,
    cgi_fraction: float = 0.6,
    weights: dict[str, float] | None = None,
) -> pd.DataFrame:
    """Plant `n` promoters, each alone in a free `slot` bp with its TSS at the middle; returns their truth.

    Columns: name, chrom, tss (0-based), strand, slot_start, slot_end, tata, caat, gc_boxes, cgi,
    silent, strength, listed, core_start, core_end (the genome span of its elements; -1 when none).
    """
    rows = []
    for k, (chrom, start) in enumerate(gb.free_positions(slot, n, rng, weights=weights, margin=50)):
        tss = start + slot // 2
        strand = "+" if rng.random() < 0.5 else "-"
        name = f"{prefix}{k + 1:04d}"
        silent = rng.random() < silent_fraction
        cgi = (not silent) and rng.random() < cgi_fraction
        if cgi:
            gb.write(chrom, tss - CGI_HALF, _cgi(rng, 2 * CGI_HALF))
        placed: list[tuple[str, int]] = []  # (element, offset of its first base along the strand)
        if not silent:
            while not placed:  # an active promoter has at least one element
                if rng.random() < p_tata:
                    c, j = ELEMENT_OFFSETS["TATA"]
                    placed.append(("TATA", c + int(rng.integers(-j, j + 1))))
                if rng.random() < p_caat:
                    c, j = ELEMENT_OFFSETS["CAAT"]
                    placed.append(("CAAT", c + int(rng.integers(-j, j + 1))))
                if rng.random() < p_gc:
                    for _ in range(1 + int(rng.random() < 0.4)):
                        placed.extend(_gc_box(placed, rng))
        sites = []
        for element, offset in placed:
            m = PROMOTER_ELEMENTS[element]
            # along '+' the element covers [tss + offset, + len); along '-' its mirror image
            g_start = tss + offset if strand == "+" else tss - offset - m.length + 1
            sites.append(gb.plant(chrom, g_start, m, strand, rng, kind="promoter", owner=name, offset=offset))
        strength = float(sum(ELEMENT_WEIGHTS[s["motif"]] * max(s["score"] / PROMOTER_ELEMENTS[s["motif"]].max_score, 0.05) for s in sites))
        rows.append({
            "name": name, "chrom": chrom, "tss": tss, "strand": strand, "slot_start": start, "slot_end": start + slot,
            "tata": sum(s["motif"] == "TATA" for s in sites), "caat": sum(s["motif"] == "CAAT" for s in sites),
            "gc_boxes": sum(s["motif"] == "GCBOX" for s in sites), "cgi": cgi, "silent": silent, "strength": strength,
            "core_start": min((s["start"] for s in sites), default=-1), "core_end": max((s["end"] for s in sites), default=-1),
        })
    truth = pd.DataFrame(rows)
    top = max(float(truth["strength"].max()), 1e-9) if len(truth) else 1.0
    p_listed = np.where(truth["silent"], 1.0, 0.55 + 0.45 * truth["strength"] / top) if len(truth) else np.zeros(0)
    truth["listed"] = rng.random(len(truth)) < p_listed
    return truth


def _gc_box(placed: list[tuple[str, int]], rng: np.random.Generator) -> list[tuple[str, int]]:
    """One GC box offset in GC_BOX_RANGE that overlaps no element placed so far (none if there is no room)."""
    length = PROMOTER_ELEMENTS["GCBOX"].length
    for _ in range(20):
        offset = int(rng.integers(GC_BOX_RANGE[0], GC_BOX_RANGE[1] - length + 1))
        if all(offset + length <= o or o + PROMOTER_ELEMENTS[e].length <= offset for e, o in placed):
            return [("GCBOX", offset)]
    return []


def write_epd_bed(truth: pd.DataFrame, path: str | os.PathLike, chrom_order: list[str]) -> Path:
    """The listed promoters as EPD's space-separated BED (60 bp, -49..+10, TSS marked by the thick columns).

    '+': start = TSS - 49, end = TSS + 11, thickStart = TSS, thickEnd = end; '-': start = TSS - 10,
    end = TSS + 50, thickStart = start, thickEnd = TSS + 1 (Hs_EPDnew_006_hg38.bed's layout).
    """
    order = {c: i for i, c in enumerate(chrom_order)}
    listed = truth[truth["listed"]].assign(_c=lambda d: d["chrom"].map(order)).sort_values(["_c", "tss"], kind="stable")
    lines = []
    for r in listed.itertuples():
        if r.strand == "+":
            start, end, thick_start, thick_end = r.tss - 49, r.tss + 11, r.tss, r.tss + 11
        else:
            start, end, thick_start, thick_end = r.tss - 10, r.tss + 50, r.tss - 10, r.tss + 1
        lines.append(f"{r.chrom} {start} {end} {r.name}_1 900 {r.strand} {thick_start} {thick_end}\n")
    return write_text(path, "".join(lines))


def promoter_window_scores(truth: pd.DataFrame, chrom: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """The generating rule's promoter score of each window: the largest strength of a planted
    promoter (listed or not) whose elements all lie inside it, 0 where none does."""
    chrom, start, end = np.asarray(chrom).astype(str), np.asarray(start), np.asarray(end)
    out = np.zeros(chrom.size)
    active = truth[truth["core_start"] >= 0]
    for name, group in active.groupby("chrom"):
        rows = np.flatnonzero(chrom == name)
        if not rows.size:
            continue
        inside = (group["core_start"].to_numpy()[None] >= start[rows, None]) & (group["core_end"].to_numpy()[None] <= end[rows, None])
        out[rows] = np.where(inside, group["strength"].to_numpy()[None], 0.0).max(axis=1)
    return out
