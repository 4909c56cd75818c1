"""Saturation-mutagenesis MPRA of promoter elements, as Kircher et al. 2019's table.

An element is a short promoter packed with motifs: core elements and TF sites, each with a
weight (activators positive, one repressor negative). Every SNV of every element position is
measured. Its true log2 effect is the sum, over the sites it falls in, of weight times the
change of the site's PWM score, plus a small effect of GC content; the measured Coefficient
adds noise that shrinks with the variant's barcodes. 1-bp deletions are listed too, as in the
real table (the builder skips them).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from dnabench.alphabet import BASES, C, G
from dnabench.synthetic.files import format_table, write_text
from dnabench.synthetic.genome import GenomeBuilder
from dnabench.synthetic.motifs import MOTIFS

__all__ = ["ELEMENT_MOTIFS", "plant_elements", "saturation_mutagenesis", "write_kircher", "write_experiment_list"]

ELEMENT_MOTIFS = ("TATA", "CAAT", "GCBOX", "ETS", "AP1", "CEBP", "NFKB", "EBOX", "GATA")
GC_EFFECT = 0.06


def plant_elements(
    gb: GenomeBuilder, n: int, rng: np.random.Generator, span: tuple[int, int] = (150, 220), flank: int = 750,
    chroms: list[str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Plant `n` elements; returns (elements: name, chrom, first, last (1-based, inclusive); sites with weights)."""
    elements, sites = [], []
    for k, (chrom, start) in enumerate(gb.free_positions(2 * flank, n, rng, chroms=chroms, margin=100)):
        name = f"SYNP{k + 1}"
        length = int(rng.integers(span[0], span[1] + 1))
        first0 = start + flank - length // 2
        cursor = first0 + int(rng.integers(0, 6))
        repressor = int(rng.integers(0, 4))
        i = 0
        while True:
            m = MOTIFS[ELEMENT_MOTIFS[int(rng.integers(len(ELEMENT_MOTIFS)))]]
            if cursor + m.length > first0 + length:
                break
            strand = "+" if rng.random() < 0.5 else "-"
            site = gb.plant(chrom, cursor, m, strand, rng, kind="mpra", owner=name)
            site["weight"] = float(-rng.uniform(0.2, 0.5) if i == repressor else rng.uniform(0.2, 0.6))
            sites.append(site)
            cursor += m.length + int(rng.integers(2, 12))
            i += 1
        gb.reserve(chrom, start, start + 2 * flank)
        elements.append({"name": name, "chrom": chrom, "first": first0 + 1, "last": first0 + length})
    return pd.DataFrame(elements), pd.DataFrame(sites)


def saturation_mutagenesis(
    gb: GenomeBuilder, elements: pd.DataFrame, sites: pd.DataFrame, rng: np.random.Generator,
    noise: float = 0.2, deletion_fraction: float = 0.1,
) -> pd.DataFrame:
    """Every SNV (and some 1-bp deletions) of every element with its true and measured effect.

    Columns: element, chrom, pos (1-based), ref, alt, effect (true, NaN for deletions),
    barcodes, dna, rna, coefficient, pvalue.
    """
    rows = []
    for e in elements.itertuples():
        seq = gb.sequences[e.chrom]
        own = sites[sites["owner"] == e.name]
        first0 = e.first - 1
        ref = seq[first0 : e.last].astype(np.int64)
        gc = np.isin(np.arange(4), (C, G)).astype(float)
        effect = GC_EFFECT * (gc[None, :] - gc[ref][:, None])  # [positions, alt base on +]
        for s in own.itertuples():
            m = MOTIFS[s.motif]
            idx = np.arange(s.start, s.end) - first0
            table = m.log_odds if s.strand == "+" else m.log_odds[::-1, ::-1]  # '-': reversed, complemented bases
            effect[idx] += s.weight * (table - table[np.arange(m.length), ref[idx]][:, None])
        deleted = rng.random(ref.size) < deletion_fraction
        for k in range(ref.size):
            pos = e.first + k
            for alt in range(4):
                if alt != ref[k]:
                    rows.append((e.name, e.chrom, pos, BASES[ref[k]], BASES[alt], float(effect[k, alt])))
            if deleted[k]:
                rows.append((e.name, e.chrom, pos, BASES[ref[k]], "-", np.nan))
    table = pd.DataFrame(rows, columns=["element", "chrom", "pos", "ref", "alt", "effect"])
    n = len(table)
    barcodes = rng.poisson(45, n) + 5
    sd = noise * np.sqrt(50 / barcodes)
    deletion = table["alt"].to_numpy() == "-"
    coefficient = np.where(deletion, rng.normal(-0.05, 0.2, n), table["effect"].fillna(0).to_numpy() + rng.normal(0, 1, n) * sd)
    z = np.abs(coefficient) / sd
    table["barcodes"] = barcodes
    table["dna"] = barcodes * rng.integers(8, 15, n)
    table["rna"] = np.maximum(1, np.round(table["dna"] * 2.0 ** coefficient * rng.uniform(0.8, 1.2, n))).astype(np.int64)
    table["coefficient"] = np.round(coefficient, 5)
    table["pvalue"] = np.maximum(1e-300, np.exp(-0.5 * z**2) / np.maximum(z, 1.0))
    return table


def write_kircher(table: pd.DataFrame, path: str | os.PathLike, release: str = "GRCh38") -> Path:
    """elements.tsv.gz: Chrom (no chr) Pos Ref Alt Barcodes DNA RNA Coefficient pValue Element Release."""
    chrom = table["chrom"].str.replace(r"^chr", "", regex=True)
    out = pd.DataFrame({
        "Chrom": chrom, "Pos": table["pos"], "Ref": table["ref"], "Alt": table["alt"], "Barcodes": table["barcodes"],
        "DNA": table["dna"], "RNA": table["rna"], "Coefficient": table["coefficient"].map(lambda v: f"{v:.5g}"),
        "pValue": table["pvalue"].map(lambda v: f"{v:.4g}"), "Element": table["element"], "Release": release,
    })
    return write_text(path, "\t".join(out.columns) + "\n" + format_table(out))


def write_experiment_list(names: list[str], path: str | os.PathLike) -> Path:
    """promoters.tsv: one experiment name a line."""
    return write_text(path, "\n".join(names) + "\n")
