"""A small VCF of variants for variant scoring, written by htslib (pysam), every REF read off the genome.

The REF of each record is taken from the sequence itself, so a VCF written here always agrees
with the genome it was made for; `truth` columns (an effect, a probability) travel as INFO.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from dnabench.alphabet import BASES

__all__ = ["write_vcf"]


def write_vcf(
    variants: pd.DataFrame, sequences: dict[str, np.ndarray], path: str | os.PathLike, info: dict[str, str] | None = None
) -> Path:
    """Write `variants` (chrom, pos 1-based, alt, optional id) as VCF 4.2 with ##contig lines for every sequence.

    `info` maps a float column of `variants` to the INFO key it is written as. Records are in
    genome order. A REF given in `variants` that differs from the genome raises ValueError.
    """
    import pysam

    path = Path(path)
    info = info or {}
    header = pysam.VariantHeader()
    for name, seq in sequences.items():
        header.add_line(f"##contig=<ID={name},length={seq.size}>")
    for key in info.values():
        header.add_line(f'##INFO=<ID={key},Number=1,Type=Float,Description="{key} of the generating rule">')
    order = {n: i for i, n in enumerate(sequences)}
    rows = variants.assign(_c=variants["chrom"].map(order)).sort_values(["_c", "pos"], kind="stable")
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with pysam.VariantFile(str(tmp), "w", header=header) as out:
            for r in rows.itertuples(index=False):
                ref = BASES[int(sequences[r.chrom][int(r.pos) - 1])]
                given = getattr(r, "ref", ref)
                if given != ref:
                    raise ValueError(f"variant {r.chrom}:{r.pos} has REF {given}, but the genome has {ref}")
                record = out.new_record(contig=r.chrom, start=int(r.pos) - 1, alleles=(ref, str(r.alt)), id=getattr(r, "id", None))
                for column, key in info.items():
                    record.info[key] = float(getattr(r, column))
                out.write(record)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
