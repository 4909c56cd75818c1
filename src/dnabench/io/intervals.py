"""Readers for interval files (BED, narrowPeak, bedMethyl) into typed pandas DataFrames.

Why its own module: peak and methylation tracks are the labels of several tasks, and later code reads
thousands of files with tens of millions of lines. So nothing here loops over lines in Python. The
file is decompressed once (``files.read_all``). numpy finds the lines, the header/comment lines and
the column count of every line. pyarrow's CSV reader then parses the data lines straight into typed
columns. Quoting is off, so a name such as ``"ENCSR156JXJ"`` is kept as written. Every check is a
vectorised mask. A bad file raises ``InputError`` that names the file and the 1-based line number of
its first bad line. Header lines (``track``, ``browser``, ``#``) and blank lines may appear anywhere
and still count in line numbers.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from dnabench.io.files import UTF8_BOM, InputError, read_all

__all__ = [
    "BED_COLUMNS",
    "NARROWPEAK_COLUMNS",
    "BEDMETHYL_COLUMNS",
    "read_bed",
    "read_narrowpeak",
    "read_bedmethyl",
    "read_peaks",
]

# (name, kind) with kind one of "str", "int", "float".
_BED: tuple[tuple[str, str], ...] = (
    ("chrom", "str"),
    ("start", "int"),
    ("end", "int"),
    ("name", "str"),
    ("score", "float"),
    ("strand", "str"),
    ("thickStart", "int"),
    ("thickEnd", "int"),
    ("itemRgb", "str"),
    ("blockCount", "int"),
    ("blockSizes", "str"),
    ("blockStarts", "str"),
)
_NARROWPEAK = _BED[:6] + (
    ("signalValue", "float"),
    ("pValue", "float"),
    ("qValue", "float"),
    ("peak", "int"),
)
_BEDMETHYL = _BED[:9] + (("coverage", "int"), ("percent_methylated", "float"))

BED_COLUMNS: tuple[str, ...] = tuple(n for n, _ in _BED)
NARROWPEAK_COLUMNS: tuple[str, ...] = tuple(n for n, _ in _NARROWPEAK)
BEDMETHYL_COLUMNS: tuple[str, ...] = tuple(n for n, _ in _BEDMETHYL)

_ARROW_TYPES = {"str": pa.string(), "int": pa.int64(), "float": pa.float64()}
_STRANDS = ["+", "-", "."]
_NL, _TAB, _SPACE, _HASH = 10, 9, 32, ord("#")
# Integers as the slow path accepts them: optional spaces and sign, at most 18 digits (fits int64).
_INT_RE = r"^ *-?[0-9]{1,18} *$"


# --------------------------------------------------------------------------------------------------
# public readers


def read_bed(path: str | os.PathLike, min_columns: int = 3) -> pd.DataFrame:
    """Read a BED file with 3 to 12 tab-separated columns (all data lines alike, at least `min_columns`).

    Columns are named as in ``BED_COLUMNS``: start/end are 0-based half-open int64, score is float64,
    strand is one of '+', '-', '.'; thickStart, thickEnd, blockCount are int64; the rest are str.
    """
    if not 3 <= min_columns <= 12:
        raise ValueError(f"min_columns must be 3..12, got {min_columns}")
    lines = _scan(path)
    _check_ncols(lines, min_columns, 12, "BED")
    return _finish_bed(lines, _BED)


def read_narrowpeak(path: str | os.PathLike) -> pd.DataFrame:
    """Read an ENCODE narrowPeak file: exactly 10 columns (``NARROWPEAK_COLUMNS``).

    BED6 plus signalValue, pValue, qValue (float64) and peak (int64: -1, or an offset from start in
    [0, end - start)).
    """
    lines = _scan(path)
    _check_ncols(lines, 10, 10, "narrowPeak")
    return _finish_bed(lines, _NARROWPEAK)


def read_bedmethyl(path: str | os.PathLike) -> pd.DataFrame:
    """Read a bedMethyl file: BED9 + coverage (int64 >= 0) + percent_methylated (float64, 0..100).

    Any further columns (the ENCODE WGBS pipeline writes 3: reference context, called context,
    genotype score) are kept as str columns named extra_1, extra_2, ...

    A percent column that holds only values in [0, 1], some strictly between, is a column of
    fractions (methylated reads would all round to 0), and raises InputError naming the line.
    """
    lines = _scan(path)
    _check_ncols(lines, 11, None, "bedMethyl")
    n = int(lines.ncols[0])
    schema = _BEDMETHYL + tuple((f"extra_{i}", "str") for i in range(1, n - len(_BEDMETHYL) + 1))
    df = _finish_bed(lines, schema)
    pct = df["percent_methylated"].to_numpy()
    if pct.size and pct.max() <= 1.0:
        between = (pct > 0) & (pct < 1)
        if between.any():
            r = int(np.argmax(between))
            raise InputError(
                lines.path,
                f"percent_methylated (column 11) holds only values in 0..1, such as {pct[r]:g} here: these look like "
                "fractions, but bedMethyl gives a percentage 0..100 (multiply the column by 100)",
                int(lines.lineno[r]),
            )
    return df


def read_peaks(path: str | os.PathLike) -> pd.DataFrame:
    """Read a peak file as narrowPeak when it has 10 columns, else as BED with 3 to 9 columns.

    Some files named .narrowPeak hold BED6; this reads them as BED6.
    """
    lines = _scan(path)
    if int(lines.ncols[0]) == 10:
        _check_ncols(lines, 10, 10, "narrowPeak")
        return _finish_bed(lines, _NARROWPEAK)
    _check_ncols(lines, 3, 9, "peak (BED3-9 or narrowPeak)")
    return _finish_bed(lines, _BED)


# --------------------------------------------------------------------------------------------------
# finding lines


@dataclass
class _Lines:
    """The data lines of a file, ready to parse, with what errors need to name lines."""

    path: str
    data: bytes  # whole decompressed file (\r\n turned into \n, ending in \n)
    starts: np.ndarray  # offset of every file line in data
    ends: np.ndarray  # offset of every file line's \n in data
    buf: bytes | memoryview  # only the data lines, each ending in \n
    lineno: np.ndarray  # 1-based file line number of each data row
    ncols: np.ndarray  # tab-separated columns of each data row

    def text(self, line: int) -> str:
        """The text of 1-based file line `line`."""
        raw = self.data[self.starts[line - 1] : self.ends[line - 1]]
        return raw.decode("utf-8", errors="replace")

    def field(self, row: int, col: int) -> str:
        """The raw text of column `col` (0-based) of data row `row`."""
        parts = self.text(int(self.lineno[row])).split("\t")
        return parts[col] if col < len(parts) else ""


def _scan(path: str | os.PathLike) -> _Lines:
    """Decompress, split into lines, drop blank/header lines, count columns: all vectorised."""
    data = read_all(path)
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM) :]
    if not data:
        raise InputError(path, "file is empty")
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n")
        pos = data.find(b"\r")
        if pos >= 0:
            line = data.count(b"\n", 0, pos) + 1
            raise InputError(path, "carriage return inside a line; lines must end in \\n or \\r\\n", line)
    if not data.endswith(b"\n"):
        data += b"\n"
    arr = np.frombuffer(data, dtype=np.uint8)
    starts, ends, tabs = _split_lines(data, arr)
    lengths = ends - starts
    first = arr[starts]  # the \n itself for an empty line

    skip = (lengths == 0) | (first == _HASH)
    skip |= _starts_with_word(arr, starts, lengths, first, b"track")
    skip |= _starts_with_word(arr, starts, lengths, first, b"browser")
    blank_like = (first == _SPACE) | (first == _TAB)
    if blank_like.any():  # lines of only spaces/tabs count as blank
        idx = np.flatnonzero(blank_like)
        solid = _count_per_line(arr, starts[idx], ends[idx], lambda b: (b != _SPACE) & (b != _TAB))
        skip[idx[solid == 0]] = True

    keep = ~skip
    if not keep.any():
        raise InputError(path, "no data lines (only blank, track, browser or # lines)")

    if not skip.any():
        buf: bytes | memoryview = data
    else:
        k = int(np.argmax(keep))
        if not skip[k:].any():  # only a header block at the top: slice, no copy
            buf = memoryview(data)[int(starts[k]) :]
        else:
            buf = arr[np.repeat(keep, lengths + 1)].tobytes()
    return _Lines(
        path=str(path),
        data=data,
        starts=starts,
        ends=ends,
        buf=buf,
        lineno=np.flatnonzero(keep) + 1,
        ncols=tabs[keep].astype(np.int64) + 1,
    )


# Bytes per block when scanning. numpy temporaries (byte masks) for a block stay in cache; a whole-file
# mask of a 1 GB file is ~5x slower. The loop runs over blocks, never over lines.
_BLOCK = 1 << 20


def _split_lines(data: bytes, arr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start and \n offsets of every line, and its tab count. `data` ends in \n."""
    starts_parts, ends_parts, tabs_parts = [], [], []
    b0, size = 0, len(data)
    while b0 < size:
        b1 = data.rfind(b"\n", b0, b0 + _BLOCK) + 1
        if b1 <= b0:  # a line longer than a block
            b1 = data.find(b"\n", b0 + _BLOCK) + 1
        block = arr[b0:b1]
        e = np.flatnonzero(block == _NL)
        s = np.empty_like(e)
        s[0] = 0
        s[1:] = e[:-1] + 1
        # uint8 view + int32 sums is about 3x faster than summing the bool mask into int64
        tabs_parts.append(np.add.reduceat((block == _TAB).view(np.uint8), s, dtype=np.int32))
        starts_parts.append(s + b0)
        ends_parts.append(e + b0)
        b0 = b1
    return np.concatenate(starts_parts), np.concatenate(ends_parts), np.concatenate(tabs_parts)


def _count_per_line(
    arr: np.ndarray, starts: np.ndarray, ends: np.ndarray, pred: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """For each line [starts[i], ends[i]), how many of its bytes satisfy `pred`; blockwise."""
    out = np.zeros(len(starts), dtype=np.int64)
    i = 0
    while i < len(starts):
        j = max(int(np.searchsorted(starts, starts[i] + _BLOCK)), i + 1)
        lo = int(starts[i])
        hit = pred(arr[lo : int(ends[j - 1])]).view(np.uint8)
        # reduceat needs the segment bounds; lines may be far apart, so also cut at each line end
        bounds = np.stack([starts[i:j] - lo, ends[i:j] - lo], axis=1).ravel()
        sums = np.add.reduceat(np.append(hit, np.uint8(0)), bounds, dtype=np.int64)
        out[i:j] = np.where(ends[i:j] > starts[i:j], sums[0::2], 0)
        i = j
    return out


def _starts_with_word(
    arr: np.ndarray, starts: np.ndarray, lengths: np.ndarray, first: np.ndarray, word: bytes
) -> np.ndarray:
    """Mask of lines that start with `word` followed by a space, a tab or the end of the line."""
    out = np.zeros(len(starts), dtype=bool)
    cand = np.flatnonzero((first == word[0]) & (lengths >= len(word)))
    if len(cand) == 0:
        return out
    pos = starts[cand]
    head = arr[pos[:, None] + np.arange(len(word))]
    after = arr[pos + len(word)]  # in bounds: at worst the line's \n
    hit = (head == np.frombuffer(word, dtype=np.uint8)).all(axis=1)
    hit &= (after == _SPACE) | (after == _TAB) | (after == _NL)
    out[cand[hit]] = True
    return out


def _check_ncols(lines: _Lines, lo: int, hi: int | None, what: str) -> None:
    """The first data line has lo..hi columns and every other data line has the same count."""
    n0 = int(lines.ncols[0])
    line0 = int(lines.lineno[0])
    if n0 < lo or (hi is not None and n0 > hi):
        want = f"exactly {lo}" if hi == lo else f"at least {lo}" if hi is None else f"{lo} to {hi}"
        msg = f"{what} needs {want} tab-separated columns, found {n0}"
        if what == "narrowPeak" and 3 <= n0 <= 9:
            msg += f" (this looks like BED{n0}: read it with read_peaks or read_bed)"
        raise InputError(lines.path, msg + _space_hint(lines, line0, n0 < lo), line0)
    bad = lines.ncols != n0
    if bad.any():
        r = int(np.argmax(bad))
        n, line = int(lines.ncols[r]), int(lines.lineno[r])
        msg = (
            f"found {n} tab-separated column{'s' if n != 1 else ''}, but the first data line "
            f"(line {line0}) has {n0}; "
            "all data lines must have the same number of columns"
        )
        raise InputError(lines.path, msg + _space_hint(lines, line, n < n0), line)


def _space_hint(lines: _Lines, line: int, too_few: bool) -> str:
    if too_few and " " in lines.text(line):
        return " (the line contains spaces: columns must be separated by tabs, not spaces)"
    return ""


# --------------------------------------------------------------------------------------------------
# parsing and checking

# A problem: mask of bad rows, and a function giving the message for one bad row.
_Problem = tuple[np.ndarray, Callable[[int], str]]


def _read_arrow(lines: _Lines, names: Sequence[str], types: dict[str, pa.DataType]) -> pa.Table:
    return pacsv.read_csv(
        pa.py_buffer(lines.buf),
        read_options=pacsv.ReadOptions(column_names=list(names), use_threads=True, block_size=1 << 24),
        parse_options=pacsv.ParseOptions(
            delimiter="\t",
            quote_char=False,
            double_quote=False,
            escape_char=False,
            newlines_in_values=False,
            ignore_empty_lines=False,
        ),
        convert_options=pacsv.ConvertOptions(
            column_types=types,
            null_values=[],
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )


def _parse(
    lines: _Lines, schema: Sequence[tuple[str, str]]
) -> tuple[pd.DataFrame, list[_Problem], Exception | None]:
    """Parse the data lines into typed columns.

    Fast path: pyarrow converts the types directly. If a value does not convert, parse again as
    strings and find every bad value with vectorised checks. Bad values are returned as problems,
    with placeholders (0 or NaN) in their cells, together with pyarrow's error (None on the fast path).
    """
    names = [n for n, _ in schema]
    fast_err: Exception | None = None
    try:
        table = _read_arrow(lines, names, {n: _ARROW_TYPES[k] for n, k in schema})
        problems: list[_Problem] = []
    except pa.ArrowInvalid as err:
        fast_err = err
        try:
            table = _read_arrow(lines, names, {n: pa.string() for n in names})
        except pa.ArrowInvalid as err2:
            raise _undecodable(lines, err2) from err2
        table, problems = _convert_strings(lines, table, schema)
    if table.num_rows != len(lines.lineno):
        raise InputError(
            lines.path, f"parsed {table.num_rows} rows from {len(lines.lineno)} data lines (stray line breaks?)"
        )
    return table.to_pandas(), problems, fast_err


def _convert_strings(
    lines: _Lines, table: pa.Table, schema: Sequence[tuple[str, str]]
) -> tuple[pa.Table, list[_Problem]]:
    problems: list[_Problem] = []
    columns = []
    for col, (name, kind) in enumerate(schema):
        s = table.column(name)
        if kind == "int":
            ok = pc.match_substring_regex(s, _INT_RE)
            s = pc.cast(pc.if_else(ok, pc.utf8_trim_whitespace(s), "0"), pa.int64())
            bad = ~ok.to_numpy(zero_copy_only=False)
            problems.append((bad, _bad_value(lines, col, name, "an integer")))
        elif kind == "float":
            values = pd.to_numeric(pd.Series(s.to_pandas()), errors="coerce").astype(np.float64)
            s = pa.array(values.to_numpy(), type=pa.float64())
            # NaN in a float column is reported by _check_numbers, with the same wording
        columns.append(s)
    return pa.table(columns, names=[n for n, _ in schema]), problems


def _undecodable(lines: _Lines, err: Exception) -> InputError:
    """The error for a file that pyarrow cannot split into string columns (most likely bad UTF-8)."""
    raw = bytes(lines.buf)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as uerr:
        row = raw.count(b"\n", 0, uerr.start)
        return InputError(lines.path, "not UTF-8 text (binary file?)", int(lines.lineno[row]))
    return InputError(lines.path, f"could not parse the file: {err}")


def _bad_value(lines: _Lines, col: int, name: str, what: str) -> Callable[[int], str]:
    return lambda r: f"column {col + 1} ({name}) must be {what}, got {lines.field(r, col)!r}"


def _check_numbers(lines: _Lines, df: pd.DataFrame, schema: Sequence[tuple[str, str]]) -> list[_Problem]:
    """Float columns must hold numbers (NaN or text is not one)."""
    problems: list[_Problem] = []
    for col, (name, kind) in enumerate(schema):
        if kind == "float":
            problems.append((np.isnan(df[name].to_numpy()), _bad_value(lines, col, name, "a number")))
    return problems


def _check_bed(lines: _Lines, df: pd.DataFrame) -> list[_Problem]:
    start = df["start"].to_numpy()
    end = df["end"].to_numpy()
    empty_chrom = (df["chrom"] == "").to_numpy()
    problems: list[_Problem] = [
        (empty_chrom, lambda r: "chrom (column 1) is empty"),
        (start < 0, lambda r: f"start must be >= 0, got {start[r]}"),
        (end < start, lambda r: f"end ({end[r]}) is less than start ({start[r]})"),
    ]
    if "strand" in df.columns:
        strand = df["strand"]
        bad = ~strand.isin(_STRANDS).to_numpy()
        problems.append((bad, lambda r: f"strand must be '+', '-' or '.', got {strand.iloc[r]!r}"))
    if "peak" in df.columns:
        peak = df["peak"].to_numpy()
        bad = (peak != -1) & ((peak < 0) | (peak >= end - start))
        problems.append(
            (bad, lambda r: f"peak offset must be -1 or in [0, end - start = {end[r] - start[r]}), got {peak[r]}")
        )
    if "coverage" in df.columns:
        cov = df["coverage"].to_numpy()
        problems.append((cov < 0, lambda r: f"coverage must be >= 0, got {cov[r]}"))
    if "percent_methylated" in df.columns:
        pct = df["percent_methylated"].to_numpy()
        bad = (pct < 0) | (pct > 100)
        problems.append((bad, lambda r: f"percent_methylated must be in 0..100, got {pct[r]:g}"))
    return problems


def _raise_first(lines: _Lines, problems: list[_Problem]) -> None:
    """Raise InputError for the earliest bad row; on a tie, the problem listed first wins."""
    best: tuple[int, Callable[[int], str]] | None = None
    for bad, message in problems:
        if bad.any():
            r = int(np.argmax(bad))
            if best is None or r < best[0]:
                best = (r, message)
    if best is not None:
        r, message = best
        raise InputError(lines.path, message(r), int(lines.lineno[r]))


def _finish_bed(lines: _Lines, full_schema: Sequence[tuple[str, str]]) -> pd.DataFrame:
    schema = list(full_schema[: int(lines.ncols[0])])
    df, problems, parse_err = _parse(lines, schema)
    problems += _check_numbers(lines, df, schema)
    problems += _check_bed(lines, df)
    _raise_first(lines, problems)
    if parse_err is not None:  # pyarrow refused a value that the checks here accept
        raise InputError(lines.path, f"could not parse the file: {parse_err}") from parse_err
    return df
