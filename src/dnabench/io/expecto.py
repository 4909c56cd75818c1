"""Readers of ExPecto's gene tables (Zhou et al. 2018, github.com/FunctionLab/ExPecto, `resources/`).

Three files, hg19:

- ``geneanno.csv``: one gene a row, comma-separated with a header,
  ``id,symbol,seqnames,strand,TSS,CAGE_representative_TSS,type`` (24,339 genes; type is
  protein_coding, lincRNA or rRNA). Positions are **1-based**: for every gene of
  ``geneanno.pc.sorted.bed`` the BED's 0-based ``start`` is ``CAGE_representative_TSS - 1``
  (its ``end`` equals the csv value), 18,625 of 18,625. `read_geneanno` keeps the file's values;
  the builder turns them into 0-based positions.
- ``geneanno.exp.csv``: the expression matrix, genes x 218 tissues / cell types, in the row
  order of geneanno.csv (the only link between the two: ExPecto's train.py indexes both by
  position). Comma-separated with a header; its first column is a row index whose header field
  is empty (pandas names it ``Unnamed: 0``; ExPecto's README calls the first tissue column
  "the first column", i.e. train.py's ``--targetIndex 1``), the other columns are tissues.
  Column names are taken as pandas reads them, which renames repeated names ``X``, ``X.1``, as
  ExPecto's model file names (``GM12878.1``, ``HepG2.1``) show. A first column named ``id``,
  ``gene``, ``gene_id``, ``name`` or ``index`` is taken as a row label column too. Empty, NA and
  NaN fields are missing values (NaN); any other non-number is an error naming its line.
- ``geneanno.pc.sorted.bed``: representative TSSs of protein-coding genes, tab-separated, no
  header, five columns ``chrom, start, end, strand, id`` (not BED6: strand is the 4th column,
  the Ensembl id the 5th), 1-bp intervals.

Every reader names the file and line of the first problem (`InputError`).
"""

from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dnabench.io.files import InputError, read_all

__all__ = [
    "GENEANNO_COLUMNS",
    "TSS_COLUMNS",
    "INDEX_NAMES",
    "ExpressionMatrix",
    "read_geneanno",
    "read_expression",
    "read_tss_bed",
]

GENEANNO_COLUMNS: tuple[str, ...] = ("id", "symbol", "seqnames", "strand", "TSS", "CAGE_representative_TSS", "type")
#: the two TSS columns of geneanno.csv (1-based positions)
TSS_COLUMNS: tuple[str, ...] = ("TSS", "CAGE_representative_TSS")
#: header names (lower case) that mark the first column of an expression matrix as row labels
INDEX_NAMES: tuple[str, ...] = ("", "id", "gene", "gene_id", "name", "index")
BED_COLUMNS: tuple[str, ...] = ("chrom", "start", "end", "strand", "id")

_WHITESPACE = np.frombuffer(b" \t\r\n", dtype=np.uint8)


# ----- lines ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Lines:
    """The non-blank lines of a file (what pandas parses): 1-based numbers, and byte spans."""

    numbers: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    buf: np.ndarray


def _lines(data: bytes) -> _Lines:
    """Non-blank lines of `data` (pandas skips whitespace-only lines), found with vectorised scans.

    A line is non-blank when its first byte is not whitespace; only the rare lines that start
    with whitespace are looked at one by one.
    """
    buf = np.frombuffer(data, dtype=np.uint8)
    newline = np.flatnonzero(buf == 10)
    starts = np.concatenate([[0], newline + 1]).astype(np.int64)
    ends = np.concatenate([newline, [buf.size]]).astype(np.int64)
    keep = ends > starts
    first = buf[np.minimum(starts, max(buf.size - 1, 0))] if buf.size else np.zeros(0, np.uint8)
    unsure = np.flatnonzero(keep & np.isin(first, _WHITESPACE))
    keep[unsure] = [bool(data[starts[i] : ends[i]].strip()) for i in unsure]
    return _Lines(np.flatnonzero(keep) + 1, starts[keep], ends[keep], buf)


def _count_in_lines(lines: _Lines, byte: int) -> np.ndarray:
    """How often `byte` occurs in each line."""
    at = np.flatnonzero(lines.buf == byte)
    return np.searchsorted(at, lines.ends) - np.searchsorted(at, lines.starts)


def _check_field_counts(path: Path, lines: _Lines, sep: int, what: str) -> None:
    """Every data line has as many fields as the header (pandas fills short lines with NaN silently).

    Lines holding a quote character are left to the csv parser (a quoted field may hold `sep`).
    """
    fields = _count_in_lines(lines, sep) + 1
    quoted = _count_in_lines(lines, ord('"')) > 0
    expected = int(fields[0])
    bad = (fields != expected) & ~quoted
    bad[0] = False
    if bad.any():
        r = int(np.argmax(bad))
        raise InputError(path, f"{fields[r]} fields, the header of this {what} has {expected}", int(lines.numbers[r]))


def _parser_error(path: Path, err: Exception) -> InputError:
    """pandas' tokenizer message as an InputError on the line it names."""
    message = str(err).strip()
    found = re.search(r"line (\d+)", message)
    detail = message.split("C error: ")[-1]
    return InputError(path, f"cannot parse the table: {detail}", int(found.group(1)) if found else None)


def _read_table(path: Path, data: bytes, sep: str, **kwargs) -> pd.DataFrame:
    try:
        return pd.read_csv(io.BytesIO(data), sep=sep, low_memory=False, **kwargs)
    except pd.errors.EmptyDataError:
        raise InputError(path, "file is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise _parser_error(path, err) from None


def _data(path: str | os.PathLike) -> tuple[Path, bytes, _Lines]:
    path = Path(path)
    data = read_all(path)
    lines = _lines(data)
    if not lines.numbers.size:
        raise InputError(path, "file is empty")
    return path, data, lines


def _integers(path: Path, values: pd.Series, lines: np.ndarray, what: str, minimum: int) -> np.ndarray:
    """int64 values of a text column; the first one that is not an integer >= minimum names its line."""
    number = pd.to_numeric(values, errors="coerce")
    arr = number.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ~np.isfinite(arr) | (arr != np.round(arr)) | (arr < minimum)
    if bad.any():
        r = int(np.argmax(bad))
        raise InputError(path, f"{what} must be an integer >= {minimum}, got {values.iloc[r]!r}", int(lines[r]))
    return arr.astype(np.int64)


def _check_strand(path: Path, strand: pd.Series, lines: np.ndarray, names: pd.Series) -> None:
    bad = ~strand.isin(["+", "-"]).to_numpy()
    if bad.any():
        r = int(np.argmax(bad))
        raise InputError(path, f"gene {names.iloc[r]!r} has strand {strand.iloc[r]!r}; genes need '+' or '-'", int(lines[r]))


# ----- geneanno.csv ----------------------------------------------------------------------------------


def read_geneanno(path: str | os.PathLike) -> pd.DataFrame:
    """ExPecto's gene annotation -> DataFrame of `GENEANNO_COLUMNS` plus `line` (1-based, in the file).

    TSS and CAGE_representative_TSS are int64 and 1-based, as in the file; strands are '+'/'-';
    extra columns are kept. Rows stay in file order (the order of the expression matrix).
    """
    path, data, lines = _data(path)
    _check_field_counts(path, lines, ord(","), "gene annotation")
    df = _read_table(path, data, ",", dtype=str, keep_default_na=False)
    missing = [c for c in GENEANNO_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(
            path,
            f"gene annotation lacks column(s) {', '.join(missing)} (need {','.join(GENEANNO_COLUMNS)}; found "
            f"{','.join(map(str, df.columns))})",
            int(lines.numbers[0]),
        )
    if not len(df):
        raise InputError(path, "gene annotation has a header but no genes")
    line = lines.numbers[1 : len(df) + 1]
    empty = (df["id"].str.strip() == "").to_numpy() | (df["seqnames"].str.strip() == "").to_numpy()
    if empty.any():
        r = int(np.argmax(empty))
        raise InputError(path, "empty gene id or chromosome (seqnames)", int(line[r]))
    _check_strand(path, df["strand"], line, df["id"])
    for col in TSS_COLUMNS:
        df[col] = _integers(path, df[col], line, col, minimum=1)
    df["line"] = line
    return df


# ----- geneanno.exp.csv ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExpressionMatrix:
    """An expression matrix: float64 values [genes, tissues] (NaN = missing) and what names them."""

    path: Path
    values: np.ndarray
    names: list[str]
    #: the row label column (as text) when the file has one, else None
    index: np.ndarray | None
    #: 1-based line of each row in the file
    lines: np.ndarray

    def __len__(self) -> int:
        return int(self.values.shape[0])

    @property
    def missing(self) -> int:
        return int(np.isnan(self.values).sum())


def _first_header_field(path: Path, data: bytes, lines: _Lines) -> str:
    first = data[int(lines.starts[0]) : int(lines.ends[0])].decode("utf-8", "replace").rstrip("\r")
    fields = next(csv.reader([first]), [""])
    return fields[0].lstrip("\ufeff").strip() if fields else ""


def _bad_number(path: Path, column: pd.Series, name: str, lines: np.ndarray) -> InputError:
    """The first field of a non-numeric column that is neither a number nor a missing value."""
    number = pd.to_numeric(column, errors="coerce")
    bad = (number.isna() & column.notna()).to_numpy()
    r = int(np.argmax(bad))
    return InputError(path, f"value {column.iloc[r]!r} of column {name!r} is not a number", int(lines[r]))


def read_expression(path: str | os.PathLike) -> ExpressionMatrix:
    """ExPecto's expression matrix (`geneanno.exp.csv` layout) -> `ExpressionMatrix`.

    Comma-separated with a header; a first column whose header is empty (ExPecto's) or one of
    `INDEX_NAMES` holds row labels, every other column is a tissue. Values are parsed by pandas'
    C parser; missing fields (empty, NA, NaN) become NaN; a non-number or an infinite value
    names its line and column.
    """
    path, data, lines = _data(path)
    _check_field_counts(path, lines, ord(","), "expression matrix")
    df = _read_table(path, data, ",")
    row_lines = lines.numbers[1 : len(df) + 1]
    if not len(df):
        raise InputError(path, "expression matrix has a header but no rows")
    has_index = _first_header_field(path, data, lines).lower() in INDEX_NAMES
    index = df.iloc[:, 0].astype(str).to_numpy() if has_index else None
    values = df.iloc[:, 1:] if has_index else df
    if values.shape[1] == 0:
        raise InputError(path, "expression matrix has no value columns", int(lines.numbers[0]))
    names = [str(c) for c in values.columns]
    for name, dtype in zip(values.columns, values.dtypes):
        if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
            raise _bad_number(path, values[name], str(name), row_lines)
    matrix = values.to_numpy(dtype=np.float64)
    infinite = np.isinf(matrix)
    if infinite.any():
        r, c = np.argwhere(infinite)[0]
        raise InputError(path, f"value {matrix[r, c]} of column {names[c]!r} is not finite", int(row_lines[r]))
    return ExpressionMatrix(path, matrix, names, index, row_lines)


# ----- geneanno.pc.sorted.bed ------------------------------------------------------------------------


def read_tss_bed(path: str | os.PathLike) -> pd.DataFrame:
    """ExPecto's TSS BED (chrom, start, end, strand, id; tab-separated, no header) -> DataFrame + `line`.

    start/end are int64, 0-based half-open; extra columns are refused (the layout is fixed).
    """
    path, data, lines = _data(path)
    fields = _count_in_lines(lines, 9) + 1
    bad = fields != len(BED_COLUMNS)
    if bad.any():
        r = int(np.argmax(bad))
        raise InputError(
            path,
            f"{fields[r]} tab-separated fields; ExPecto's TSS BED has {len(BED_COLUMNS)}: {', '.join(BED_COLUMNS)}",
            int(lines.numbers[r]),
        )
    df = _read_table(path, data, "\t", header=None, names=list(BED_COLUMNS), dtype=str, keep_default_na=False, quoting=csv.QUOTE_NONE)
    line = lines.numbers[: len(df)]
    df["start"] = _integers(path, df["start"], line, "start", minimum=0)
    df["end"] = _integers(path, df["end"], line, "end", minimum=1)
    short = df["end"].to_numpy() <= df["start"].to_numpy()
    if short.any():
        r = int(np.argmax(short))
        raise InputError(path, f"end {df['end'].iloc[r]} is not after start {df['start'].iloc[r]}", int(line[r]))
    _check_strand(path, df["strand"], line, df["id"])
    df["line"] = line
    return df
