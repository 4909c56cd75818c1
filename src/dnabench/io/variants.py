"""Variant coordinates: 1-based wherever a variant is read, 0-based half-open in one place.

Every reader of dnabench (VCF, GTEx variant ids, the Kircher MPRA table) returns variants as
a table with columns chrom (str), pos (int64, 1-based, the first base of REF, as VCF), ref and
alt (uppercase strings on the + strand). `to_interval` is the one conversion to the 0-based
half-open interval REF covers (BED's convention), which genome fetches and overlaps use.
"""

from __future__ import annotations

import numpy as np

__all__ = ["VARIANT_COLUMNS", "to_interval", "is_snv"]

#: the columns every variant table of dnabench starts with
VARIANT_COLUMNS: tuple[str, ...] = ("chrom", "pos", "ref", "alt")


def to_interval(pos: np.ndarray, ref_length: np.ndarray | int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(start, end), 0-based half-open, of REF alleles at 1-based `pos`: [pos - 1, pos - 1 + len(REF))."""
    pos = np.asarray(pos, dtype=np.int64)
    if pos.size and pos.min() < 1:
        raise ValueError(f"variant positions are 1-based; got {int(pos.min())}")
    start = pos - 1
    return start, start + np.asarray(ref_length, dtype=np.int64)


def is_snv(ref: np.ndarray, alt: np.ndarray) -> np.ndarray:
    """True where REF and ALT are single bases A/C/G/T (a single-nucleotide variant)."""
    ref = np.asarray(ref, dtype=object).astype(str)
    alt = np.asarray(alt, dtype=object).astype(str)
    bases = np.array(list("ACGT"))
    return np.isin(ref, bases) & np.isin(alt, bases) & (ref != alt)
