"""Variant effects from any window model: predict the reference and the alternative window of each variant.

`dnabench predict RUN variants.vcf.gz --genome CACHE --out T` reads the VCF with `io.vcf.read_vcf`
(pysam: one row per ALT, so a multi-allelic record is scored once per ALT), cuts the window of
the model's input length centred on each variant (`data.samples`: the variant's first base at
index L // 2, as in pair stores) and writes, per label, ref_LABEL, alt_LABEL and diff_LABEL =
alt - ref, with chrom, pos, id, ref, alt, kind and status.

What is scored, and what is not (status column; counts in `VariantScores.counts`):

- scored: SNVs and equal-length substitutions (MNVs) whose REF matches the genome.
- ref_mismatch: REF differs from the genome (or runs past the chromosome's end); not scored, and
  reported with the first few (`VariantWarning`): predicting a window whose "reference" is not
  the genome's scores a variant that is not there.
- unknown_chrom: a chromosome the genome cache does not have (aliases chr1/1 are tried).
- indel, symbolic, other: insertions and deletions, symbolic alleles and breakends, and
  alleles such as N or REF == ALT are skipped and counted: a window model has no reference
  frame for a change of length.
- too_long: a substitution longer than the right half of the window.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dnabench.data.tables import write_table
from dnabench.data.samples import Alleles, check_ref, gather_pairs, pair_sample, variant_window_starts

__all__ = ["VariantScores", "VariantWarning", "genome_for_run", "is_vcf", "score_variants", "score_vcf", "VARIANTS_PER_BATCH"]

#: variants whose two windows are gathered and predicted at a time
VARIANTS_PER_BATCH = 4096
#: mismatching REF alleles named in the warning
SHOWN = 5
SCORED_KINDS = ("snv", "mnv")


class VariantWarning(UserWarning):
    """Variants were not scored: REF differs from the genome, or a chromosome is unknown (counts in the message)."""


@dataclass
class VariantScores:
    """The scored table (every ALT allele, with its status) and the counts of each status."""

    frame: pd.DataFrame
    counts: dict[str, int] = field(default_factory=dict)
    mismatches: list[str] = field(default_factory=list)


def is_vcf(path: str | os.PathLike) -> bool:
    name = Path(path).name.lower()
    return name.endswith((".vcf", ".vcf.gz", ".vcf.bgz", ".bcf"))


def _describe(genome: Any, chrom: str, pos: int, ref: str, alt: str) -> str:
    start = pos - 1
    end = min(start + len(ref), genome.length(chrom))
    have = genome.sequence_str(chrom, start, end) if end > start else ""
    return f"{chrom}:{pos} {ref}>{alt} (genome {have or 'past the end'})"


def score_variants(
    predict: Callable[[np.ndarray], np.ndarray],
    variants: pd.DataFrame,
    genome: Any,
    length: int,
    label_names: list[str] | tuple[str, ...],
    batch: int = VARIANTS_PER_BATCH,
) -> VariantScores:
    """Score `variants` (read_vcf's table: chrom, pos, ref, alt, id, kind) with `predict` (uint8 codes
    [N, length] -> [N, K]) on windows of `length` centred on each variant."""
    table = variants.reset_index(drop=True)
    n = len(table)
    status = np.array(table["kind"].astype(str), dtype=object)
    status[np.isin(status, SCORED_KINDS)] = "scored"
    chroms = table["chrom"].astype(str).to_numpy()
    known = {c: c in genome for c in pd.unique(chroms)}
    unknown = ~np.array([known[c] for c in chroms], dtype=bool) if n else np.zeros(0, bool)
    status[(status == "scored") & unknown] = "unknown_chrom"
    centre = int(length) // 2
    too_long = table["alt"].astype(str).str.len().to_numpy() > length - centre if n else np.zeros(0, bool)
    status[(status == "scored") & too_long] = "too_long"
    candidates = np.flatnonzero(status == "scored")
    pos = table["pos"].to_numpy(np.int64)
    mismatches: list[str] = []
    if candidates.size:
        ok = check_ref(genome, chroms[candidates], pos[candidates], table["ref"].iloc[candidates])
        bad = candidates[~ok]
        status[bad] = "ref_mismatch"
        mismatches = [_describe(genome, chroms[i], int(pos[i]), table["ref"].iloc[i], table["alt"].iloc[i]) for i in bad[:SHOWN]]
    scored = np.flatnonzero(status == "scored")
    k = len(label_names)
    ref_pred = np.full((n, k), np.nan, dtype=np.float32)
    alt_pred = np.full((n, k), np.nan, dtype=np.float32)
    sample = pair_sample(length)
    alts = Alleles.from_strings(table["alt"].astype(str))
    for start in range(0, scored.size, batch):
        rows = scored[start : start + batch]
        windows = gather_pairs(genome, chroms[rows], variant_window_starts(pos[rows], length), None, alts.take(rows), sample)
        ref_pred[rows] = predict(np.ascontiguousarray(windows[:, 0]))
        alt_pred[rows] = predict(np.ascontiguousarray(windows[:, 1]))
    frame = pd.DataFrame({c: table[c] for c in ("chrom", "pos", "id", "ref", "alt", "kind") if c in table})
    frame["status"] = status.astype(str)
    for j, label in enumerate(label_names):
        frame[f"ref_{label}"] = ref_pred[:, j]
        frame[f"alt_{label}"] = alt_pred[:, j]
        frame[f"diff_{label}"] = alt_pred[:, j] - ref_pred[:, j]
    counts = {"alleles": n, **{str(s): int(c) for s, c in zip(*np.unique(status.astype(str), return_counts=True))}}
    counts.setdefault("scored", 0)
    return VariantScores(frame, counts, mismatches)


def _warn(result: VariantScores, source: str) -> None:
    counts = result.counts
    mismatch, unknown = counts.get("ref_mismatch", 0), counts.get("unknown_chrom", 0)
    if mismatch:
        checked = mismatch + counts.get("scored", 0)
        hint = "; is the VCF on this genome's build?" if mismatch > checked / 2 else ""
        warnings.warn(
            VariantWarning(
                f"{source}: {mismatch:,} of {checked:,} variants have a REF that differs from the genome "
                f"({'; '.join(result.mismatches)}{', ...' if mismatch > len(result.mismatches) else ''}); "
                f"not scored (status ref_mismatch){hint}"
            ),
            stacklevel=3,
        )
    if unknown:
        names = sorted(set(result.frame.loc[result.frame["status"] == "unknown_chrom", "chrom"]))
        warnings.warn(
            VariantWarning(f"{source}: {unknown:,} variants on chromosomes the genome lacks ({', '.join(names[:SHOWN])}); not scored"),
            stacklevel=3,
        )


def run_genome(config: Any) -> Path | None:
    """The run's genome cache: its --genome, else the cache in the card of the store it trained on."""
    genome = config.genome
    if genome is None and config.data and (Path(config.data) / "dataset.json").is_file():
        import json

        genome = (json.loads((Path(config.data) / "dataset.json").read_text()).get("genome") or {}).get("cache_path")
    return None if genome is None else Path(genome)


def genome_for_run(config: Any, genome: str | os.PathLike | None) -> Path:
    """--genome, else the run's genome (`run_genome`)."""
    found = Path(genome) if genome is not None else run_genome(config)
    if found is None:
        raise ValueError("a VCF input needs --genome CACHE (the genome cache the VCF's positions refer to)")
    return found


def score_vcf(
    predict: Callable[[np.ndarray], np.ndarray],
    vcf: str | os.PathLike,
    out: str | os.PathLike,
    genome: str | os.PathLike,
    length: int,
    label_names: list[str] | tuple[str, ...],
) -> VariantScores:
    """Score every variant of `vcf` with `predict` (a window model's codes [N, length] -> [N, K]) on
    the genome cache `genome`; write `out` and warn (`VariantWarning`) about what was not scored.

    Variants not scored keep their row with NaN scores and a status saying why (module docstring).
    `dnabench predict RUN variants.vcf` calls this with the run's best model (`training.inference`).
    """
    from dnabench.io.genome import open_genome
    from dnabench.io.vcf import read_vcf

    g = open_genome(genome)
    table, vcf_counts = read_vcf(vcf)
    result = score_variants(predict, table, g, length, label_names)
    result.counts = {"records": vcf_counts["records"], "missing": vcf_counts["missing"], **result.counts}
    result.frame.attrs["variants"] = result.counts
    _warn(result, str(vcf))
    write_table(result.frame, out)
    return result
