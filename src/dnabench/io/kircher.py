"""The Kircher et al. 2019 saturation-mutagenesis MPRA table (`elements.tsv.gz`).

The table of `kircherlab/MPRA_SaturationMutagenesis` (also the CAGI5 "regulation saturation"
data) holds one row per variant of each experiment, once per genome release:

    Chrom Pos Ref Alt Barcodes DNA RNA Coefficient pValue Element Release

tab-separated, with that header, plain or gzip. Chrom is written without "chr" (2, X); Pos is
the 1-based position of the variant on the + strand (as VCF and the UCSC browser: the
element coordinates the source lists, e.g. BCL11A chr2:60,494,940-60,495,539 on GRCh38, are
the first and last Pos of its rows, and TERT's -124C>T is GRCh37 5:1295228 G>A); Ref is
one base; Alt one base, or `-` for a 1-bp deletion of Ref. Barcodes is the number of unique
tags of the variant, DNA and RNA its read counts, Coefficient its log2 variant effect from
the linear model and pValue that coefficient's p-value. Element names the experiment
(LDLR.2, PKLR-24h, TERT-HEK: one element can have several); Release is GRCh37 or GRCh38.

The two releases hold the same measurements; only coordinates differ, and alleles are on the
+ strand of each assembly. The MSMB region is inverted in GRCh38 relative to GRCh37, so its
GRCh38 rows sit at mirrored positions (pos37 + pos38 = 97,595,822) with complemented alleles;
the other elements are shifted by one offset each.

A few rows have `NA` for Chrom, Pos, Ref and Alt (7 of MSMB, 4 of MYCrs11986220 per
release): measured tags that were not placed on the element. They are not variants, so
`read_kircher` returns them apart (`KircherTable.unplaced`) and counts them per experiment
and release; a row with only some of those four fields NA is an error.

Every other malformed line (wrong number of fields, Pos not an integer >= 1, Ref not one of
A/C/G/T, Alt not A/C/G/T/-, counts not integers >= 0, a number that is not one, an unknown
Release, a blank line) raises `InputError` naming the file and its line. Coefficient and
pValue may be NA (NaN); the builders decide what to do with such rows.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dnabench.io.files import InputError, read_all
from dnabench.io.variants import VARIANT_COLUMNS

__all__ = ["KIRCHER_HEADER", "RELEASES", "DELETION", "KircherTable", "read_kircher"]

#: the header of the table, in its order
KIRCHER_HEADER: tuple[str, ...] = (
    "Chrom", "Pos", "Ref", "Alt", "Barcodes", "DNA", "RNA", "Coefficient", "pValue", "Element", "Release",
)
#: the genome releases the table gives coordinates on
RELEASES: tuple[str, ...] = ("GRCh37", "GRCh38")
#: the Alt of a 1-bp deletion
DELETION = "-"

_RENAME = {
    "Chrom": "chrom", "Pos": "pos", "Ref": "ref", "Alt": "alt", "Barcodes": "barcodes", "DNA": "dna", "RNA": "rna",
    "Coefficient": "coefficient", "pValue": "pvalue", "Element": "element", "Release": "release",
}
_PLACE = ("Chrom", "Pos", "Ref", "Alt")
_COUNTS = ("Barcodes", "DNA", "RNA")
_FLOATS = ("Coefficient", "pValue")
_BASES = ("A", "C", "G", "T")
_NA = "NA"


@dataclass(frozen=True)
class KircherTable:
    """A parsed table: the placed variant rows and the unplaced (NA) rows, each with its line.

    `variants` columns: chrom (str), pos (int64, 1-based), ref, alt (`-` = deletion),
    barcodes, dna, rna (int64), coefficient, pvalue (float64, NaN where NA), element, release,
    line (int64, 1-based line of the file). `unplaced` has the same columns but chrom, pos,
    ref and alt.
    """

    path: Path
    variants: pd.DataFrame
    unplaced: pd.DataFrame

    def unplaced_counts(self) -> dict[str, dict[str, int]]:
        """{release: {element: NA rows}} for the experiments that have any."""
        out: dict[str, dict[str, int]] = {}
        for (release, element), n in self.unplaced.groupby(["release", "element"], sort=True).size().items():
            out.setdefault(str(release), {})[str(element)] = int(n)
        return out


def _line_fields(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(1-based line number, fields) of every line, vectorised over the bytes (blank: 0 fields)."""
    raw = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(raw == ord("\n"))
    if raw.size and raw[-1] != ord("\n"):
        ends = np.append(ends, raw.size)
    begins = np.concatenate([[0], ends[:-1] + 1])
    tabs = np.bincount(np.searchsorted(ends, np.flatnonzero(raw == ord("\t"))), minlength=ends.size)
    fields = np.where(ends == begins, 0, tabs[: ends.size] + 1)
    return np.arange(1, ends.size + 1, dtype=np.int64), fields


def _fail(path: Path, mask: np.ndarray, lines: np.ndarray, message: str) -> None:
    if mask.any():
        raise InputError(path, message, int(lines[int(np.argmax(mask))]))


def _first(text: pd.Series, mask: np.ndarray) -> str:
    return repr(text.iloc[int(np.argmax(mask))]) if mask.any() else ""


def _counts(path: Path, text: pd.Series, col: str, lines: np.ndarray, minimum: int = 0) -> np.ndarray:
    """Decimal integers >= minimum (Barcodes, DNA, RNA, Pos), at most 18 digits (int64)."""
    bad = ~text.str.fullmatch(r"\d{1,18}").to_numpy(dtype=bool)
    _fail(path, bad, lines, f"{col} must be an integer >= {minimum}, got {_first(text, bad)}")
    values = text.astype(np.int64).to_numpy()
    _fail(path, values < minimum, lines, f"{col} must be an integer >= {minimum}, got {_first(text, values < minimum)}")
    return values


def _floats(path: Path, text: pd.Series, col: str, lines: np.ndarray) -> np.ndarray:
    """Numbers, NA -> NaN (Coefficient, pValue)."""
    cleaned = text.where(text != _NA, "nan")
    try:
        return cleaned.astype(np.float64).to_numpy()
    except ValueError:
        bad = pd.to_numeric(cleaned, errors="coerce").isna().to_numpy() & (text != _NA).to_numpy()
        _fail(path, bad, lines, f"{col} must be a number or NA, got {_first(text, bad)}")
        raise


def _choice(path: Path, df: pd.DataFrame, col: str, allowed: tuple[str, ...], lines: np.ndarray) -> None:
    bad = ~df[col].isin(allowed).to_numpy()
    _fail(path, bad, lines, f"{col} must be one of {', '.join(allowed)}, got {_first(df[col], bad)}")


def _check_header(path: Path, header: list[str]) -> None:
    if header != list(KIRCHER_HEADER):
        raise InputError(
            path,
            f"header must be the {len(KIRCHER_HEADER)} tab-separated columns {' '.join(KIRCHER_HEADER)}; "
            f"found {' '.join(header) or 'an empty line'}",
            1,
        )


def read_kircher(path: str | os.PathLike) -> KircherTable:
    """Parse a Kircher 2019 MPRA table (plain or gzip), every field checked, NA rows set apart."""
    path = Path(path)
    data = read_all(path)
    if not data.strip():
        raise InputError(path, "file is empty")
    data = data.replace(b"\r\n", b"\n")
    lines, fields = _line_fields(data)
    _check_header(path, data.split(b"\n", 1)[0].decode("utf-8", "replace").split("\t"))
    lines, fields = lines[1:], fields[1:]
    wrong = fields != len(KIRCHER_HEADER)
    if wrong.any():
        i = int(np.argmax(wrong))
        what = "blank line" if fields[i] == 0 else f"{fields[i]} tab-separated fields"
        raise InputError(path, f"{what}, expected {len(KIRCHER_HEADER)} ({' '.join(KIRCHER_HEADER)})", int(lines[i]))
    df = pd.read_csv(io.BytesIO(data), sep="\t", dtype=str, na_filter=False, skip_blank_lines=False, quoting=csv.QUOTE_NONE)
    if len(df) != lines.size:  # a tokenizer surprise: never guess line numbers
        raise InputError(path, f"read {len(df)} rows from {lines.size} data lines; the table cannot be read line by line")

    na = np.column_stack([(df[c] == _NA).to_numpy() for c in _PLACE])
    partial = na.any(axis=1) & ~na.all(axis=1)
    _fail(path, partial, lines, "Chrom, Pos, Ref and Alt must be all NA (an unplaced tag) or none")
    for col in _COUNTS:
        df[col] = _counts(path, df[col], col, lines)
    for col in _FLOATS:
        df[col] = _floats(path, df[col], col, lines)
    _fail(path, (df["Element"] == "").to_numpy(), lines, "Element is empty")
    _choice(path, df, "Release", RELEASES, lines)
    df["line"] = lines

    unplaced_mask = na.all(axis=1)
    unplaced = df[unplaced_mask].drop(columns=list(_PLACE)).rename(columns=_RENAME).reset_index(drop=True)
    placed = df[~unplaced_mask].reset_index(drop=True)
    plines = lines[~unplaced_mask]
    _fail(path, (placed["Chrom"] == "").to_numpy(), plines, "Chrom is empty")
    placed["Pos"] = _counts(path, placed["Pos"], "Pos", plines, minimum=1)
    _choice(path, placed, "Ref", _BASES, plines)
    _choice(path, placed, "Alt", (*_BASES, DELETION), plines)
    variants = placed.rename(columns=_RENAME)
    order = [*VARIANT_COLUMNS, *(c for c in variants.columns if c not in VARIANT_COLUMNS)]
    return KircherTable(path=path, variants=variants[order], unplaced=unplaced)
