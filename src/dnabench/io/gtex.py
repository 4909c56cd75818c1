"""GTEx readers: variant ids and eQTL fine-mapping tables (DAP-G, FIVEx), as one variant frame.

GTEx variant ids are ``CHROM_POS_REF_ALT_BUILD``, e.g. ``chr1_12345_A_G_b38``: POS is 1-based
(VCF), REF and ALT are on the + strand, BUILD is ``b38`` (GRCh38, GTEx v8) or ``b37`` (GRCh37,
GTEx v7 and before). `parse_variant_ids` splits a whole column with one regular expression
over its distinct values (ids repeat across tissues and genes), so the cost grows with the
variants, not the rows. A chromosome may itself hold underscores (``chrUn_KI270742v1``): the
last four fields are taken from the right.

Two fine-mapping layouts are read, both into the frame of `FINEMAPPING_COLUMNS`:

- **dapg**: GTEx v8 DAP-G, ``GTEx_v8_finemapping_DAPG.txt`` (inside
  ``GTEx_v8_finemapping_DAPG.tar``; extract it first), tab-separated with the header
  ``tissue_id gene_id cluster_id cluster_pip variant_id variant_pip``. Read: tissue_id,
  gene_id, variant_id, variant_pip; cluster_id and cluster_pip are not read (the header must
  still name the four read columns, in any order; extra columns are ignored).
- **fivex**: FIVEx's per-gene PIP tables (``ENSG....eqtl.pip.txt.gz``): no header, 11 tab-
  separated columns chromosome, position, ref_allele, alt_allele, tissue, pip_cluster, spip,
  pip, pval_nominal, beta, stderr_beta. Read: chromosome, position, ref_allele, alt_allele,
  tissue, pip. The gene is not a column: it is the file name without ``.eqtl``, ``.pip``,
  ``.txt``/``.tsv`` and ``.gz`` (``ENSG00000134243.eqtl.pip.txt.gz`` -> ``ENSG00000134243``).

`read_finemapping` picks the layout from the first line (`detect_layout`). Files are plain
or gzip/bgzip, recognised by content. Every error names the file and the line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from typing import Any
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals
import pyarrow as pa
import pyarrow.compute as pc

from dnabench.io.files import InputError, open_binary

__all__ = [
    "GTEX_BUILDS",
    "VARIANT_ID_COLUMNS",
    "FINEMAPPING_COLUMNS",
    "DAPG_COLUMNS",
    "DAPG_READ",
    "FIVEX_COLUMNS",
    "FIVEX_READ",
    "LAYOUTS",
    "parse_variant_ids",
    "variant_ids",
    "detect_layout",
    "read_dapg",
    "read_fivex",
    "read_finemapping",
    "fivex_gene",
]

#: the build suffix of a GTEx variant id -> assembly name
GTEX_BUILDS: dict[str, str] = {"b38": "GRCh38", "b37": "GRCh37"}
#: columns of `parse_variant_ids`
VARIANT_ID_COLUMNS: tuple[str, ...] = ("chrom", "pos", "ref", "alt", "build")
#: columns of every fine-mapping frame, whatever the layout
FINEMAPPING_COLUMNS: tuple[str, ...] = ("tissue", "gene", "chrom", "pos", "ref", "alt", "pip", "build", "line")
DAPG_COLUMNS: tuple[str, ...] = ("tissue_id", "gene_id", "cluster_id", "cluster_pip", "variant_id", "variant_pip")
DAPG_READ: tuple[str, ...] = ("tissue_id", "gene_id", "variant_id", "variant_pip")
FIVEX_COLUMNS: tuple[str, ...] = (
    "chromosome", "position", "ref_allele", "alt_allele", "tissue", "pip_cluster", "spip", "pip",
    "pval_nominal", "beta", "stderr_beta",
)
FIVEX_READ: tuple[str, ...] = ("chromosome", "position", "ref_allele", "alt_allele", "tissue", "pip")
LAYOUTS: tuple[str, ...] = ("auto", "dapg", "fivex")

#: RE2 syntax (Arrow's regex engine); at most 15 digits of position, so the int64 cast cannot overflow
_ID_PATTERN = r"^(?P<chrom>.+)_(?P<pos>\d{1,15})_(?P<ref>[A-Za-z]+)_(?P<alt>[A-Za-z]+)_(?P<build>b\d+)$"
_ID_HELP = "expected CHROM_POS_REF_ALT_BUILD, e.g. chr1_12345_A_G_b38"
_CHUNK_ROWS = 1 << 21
_FIELDS_ERROR = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


# ----- variant ids -------------------------------------------------------------------------------


def _bad_id(value: str, row: int, path: str | os.PathLike | None, lines: np.ndarray | None, why: str) -> ValueError:
    message = f"malformed GTEx variant id {value!r}: {why}"
    if path is not None:
        return InputError(path, message, int(lines[row]) if lines is not None else None)
    return ValueError(f"{message} (row {row})")


def _categorical(values: pd.Series, codes: np.ndarray) -> pd.Categorical:
    """Per-row categorical of per-distinct-id values (chromosomes, builds: a handful of categories)."""
    small, categories = pd.factorize(values)
    return pd.Categorical.from_codes(small[codes], categories=categories.astype(str))


def parse_variant_ids(
    ids: Sequence[str] | pd.Series | np.ndarray,
    path: str | os.PathLike | None = None,
    lines: Sequence[int] | np.ndarray | None = None,
) -> pd.DataFrame:
    """GTEx variant ids -> DataFrame[chrom, pos (int64, 1-based), ref, alt (uppercase), build].

    Parsed once per distinct id, with one regular expression run by Arrow over all of them.
    chrom and build come back categorical. A malformed id raises `InputError` naming `path` and
    the id's line (from `lines`, one per id) when a path is given, else `ValueError` naming the
    id and its row.
    """
    codes, uniques = pd.factorize(pd.Series(ids, dtype=object).astype(str), use_na_sentinel=False)
    line_arr = None if lines is None else np.asarray(lines)
    parts = pc.extract_regex(pa.array(np.asarray(uniques, dtype=object), type=pa.string()), _ID_PATTERN)
    bad = parts.is_null().to_numpy(zero_copy_only=False)
    if bad.any():
        u = int(np.argmax(bad))
        raise _bad_id(str(uniques[u]), int(np.argmax(codes == u)), path, line_arr, _ID_HELP)
    field = {name: parts.field(name) for name in VARIANT_ID_COLUMNS}
    pos = pc.cast(field["pos"], pa.int64()).to_numpy()
    if (pos < 1).any():
        u = int(np.argmax(pos < 1))
        raise _bad_id(str(uniques[u]), int(np.argmax(codes == u)), path, line_arr, "positions are 1-based (>= 1)")
    allele = {name: pc.utf8_upper(field[name]).to_pandas().to_numpy(dtype=object) for name in ("ref", "alt")}
    return pd.DataFrame(
        {
            "chrom": _categorical(field["chrom"].to_pandas(), codes),
            "pos": pos[codes],
            "ref": allele["ref"][codes],
            "alt": allele["alt"][codes],
            "build": _categorical(field["build"].to_pandas(), codes),
        }
    )


def variant_ids(chrom: Sequence[str], pos: Sequence[int], ref: Sequence[str], alt: Sequence[str], build: str = "b38") -> np.ndarray:
    """GTEx-style ids of variants (the inverse of `parse_variant_ids`), e.g. chr1_12345_A_G_b38."""
    parts = [pd.Series(np.asarray(c, dtype=object)).astype(str) for c in (chrom, pos, ref, alt)]
    return (parts[0] + "_" + parts[1] + "_" + parts[2] + "_" + parts[3] + f"_{build}").to_numpy(dtype=object)


# ----- layouts -----------------------------------------------------------------------------------


def _first_line(path: Path) -> tuple[str, int]:
    """The first non-blank line of a file (decompressed) and its 1-based number."""
    with open_binary(path) as f:
        for number, raw in enumerate(f, start=1):
            text = raw.decode("utf-8", "replace").rstrip("\r\n")
            if text.strip():
                return text, number
    raise InputError(path, "file is empty")


def _is_fivex_row(fields: list[str]) -> bool:
    if len(fields) != len(FIVEX_COLUMNS) or not fields[1].strip().isdigit():
        return False
    try:
        float(fields[7])
    except ValueError:
        return False
    return True


def detect_layout(path: str | os.PathLike) -> str:
    """"dapg" (a header naming variant_id and variant_pip) or "fivex" (11 columns, no header)."""
    path = Path(path)
    text, number = _first_line(path)
    fields = text.split("\t")
    names = {f.strip().lower() for f in fields}
    if {"variant_id", "variant_pip"} <= names:
        return "dapg"
    if _is_fivex_row(fields):
        return "fivex"
    raise InputError(
        path,
        f"not a fine-mapping table this reader knows: the first line is {text[:200]!r}; expected GTEx DAP-G's "
        f"header ({', '.join(DAPG_COLUMNS)}, tab-separated) or a FIVEx PIP table (no header, "
        f"{len(FIVEX_COLUMNS)} tab-separated columns: {', '.join(FIVEX_COLUMNS)})",
        number,
    )


def _chunks(path: Path, **kwargs) -> Iterator[pd.DataFrame]:
    """read_csv in chunks of strings (blank lines kept, so the index gives the line), errors naming the file."""
    with open_binary(path) as handle:
        reader = pd.read_csv(
            handle, sep="\t", dtype=str, na_filter=False, skip_blank_lines=False, chunksize=_CHUNK_ROWS,
            quoting=3, **kwargs,
        )
        try:
            yield from reader
        except pd.errors.ParserError as err:
            m = _FIELDS_ERROR.search(str(err))
            if m:
                raise InputError(path, f"{m.group(3)} tab-separated fields, expected {m.group(1)}", int(m.group(2))) from None
            raise InputError(path, f"cannot parse the table ({err})") from None
        except UnicodeDecodeError as err:
            raise InputError(path, f"not a text table ({err})") from None


def _pips(values: pd.Series, path: Path, lines: np.ndarray, column: str) -> np.ndarray:
    pip = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~((pip >= 0) & (pip <= 1))  # NaN too
    if bad.any():
        r = int(np.argmax(bad))
        raise InputError(path, f"{column} must be a probability in [0, 1], got {values.iloc[r]!r}", int(lines[r]))
    return pip


def _not_blank(df: pd.DataFrame) -> np.ndarray:
    return (df != "").any(axis=1).to_numpy()


def _require(df: pd.DataFrame, columns: Sequence[str], path: Path, lines: np.ndarray) -> None:
    for col in columns:
        empty = (df[col] == "").to_numpy()
        if empty.any():
            r = int(np.argmax(empty))
            raise InputError(path, f"empty {col} (is a field missing?)", int(lines[r]))


_CATEGORICAL = ("tissue", "gene", "chrom", "build")


def _category(values: Any) -> pd.Categorical:
    return values.array if isinstance(getattr(values, "dtype", None), pd.CategoricalDtype) else pd.Categorical(np.asarray(values, dtype=object))


def _frame(tissue: Any, gene: Any, variants: pd.DataFrame, pip: np.ndarray, lines: np.ndarray) -> pd.DataFrame:
    """One chunk in the frame's columns; the few-valued columns categorical (millions of rows)."""
    return pd.DataFrame(
        {
            "tissue": _category(tissue),
            "gene": _category(gene),
            "chrom": _category(variants["chrom"]),
            "pos": variants["pos"].to_numpy(dtype=np.int64),
            "ref": variants["ref"].to_numpy(dtype=object),
            "alt": variants["alt"].to_numpy(dtype=object),
            "pip": pip,
            "build": _category(variants["build"]),
            "line": lines.astype(np.int64),
        }
    )


def _finish(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The chunks as one frame, categories merged (sorted) without a string per row."""
    if not parts:
        out = pd.DataFrame({c: pd.Series(dtype=object) for c in FINEMAPPING_COLUMNS})
        out["pos"], out["pip"], out["line"] = out["pos"].astype(np.int64), out["pip"].astype(np.float64), out["line"].astype(np.int64)
        for col in _CATEGORICAL:
            out[col] = out[col].astype("category")
        return out
    out = pd.concat(parts, ignore_index=True)
    for col in _CATEGORICAL:
        out[col] = pd.Series(union_categoricals([p[col] for p in parts], sort_categories=True), index=out.index)
    return out


def read_dapg(path: str | os.PathLike) -> pd.DataFrame:
    """GTEx v8 DAP-G fine-mapping (tissue_id, gene_id, variant_id, variant_pip) -> the fine-mapping frame."""
    path = Path(path)
    header, number = _first_line(path)
    if number != 1:
        raise InputError(path, "the DAP-G header must be the first line", number)
    names = [h.strip() for h in header.split("\t")]
    missing = [c for c in DAPG_READ if c not in names]
    if missing:
        raise InputError(
            path,
            f"DAP-G header lacks column(s) {', '.join(missing)}: found {', '.join(names)[:200]}; expected the tab-"
            f"separated header of GTEx_v8_finemapping_DAPG.txt ({', '.join(DAPG_COLUMNS)})",
            1,
        )
    parts = []
    for chunk in _chunks(path):  # every column, so a row with a field too many is an error
        chunk.columns = [c.strip() for c in chunk.columns]
        chunk = chunk[list(DAPG_READ)]
        lines = chunk.index.to_numpy(dtype=np.int64) + 2
        keep = _not_blank(chunk)
        chunk, lines = chunk[keep], lines[keep]
        _require(chunk, DAPG_READ, path, lines)
        variants = parse_variant_ids(chunk["variant_id"], path, lines)
        pip = _pips(chunk["variant_pip"], path, lines, "variant_pip")
        parts.append(_frame(chunk["tissue_id"], chunk["gene_id"], variants, pip, lines))
    return _finish(parts)


def fivex_gene(path: str | os.PathLike) -> str:
    """The gene of a FIVEx PIP table: its file name without .eqtl / .pip / .txt / .tsv / .gz."""
    name = Path(path).name
    return re.sub(r"(\.eqtl)?(\.pip)?(\.txt|\.tsv)?(\.b?gz)?$", "", name) or name


def read_fivex(path: str | os.PathLike, gene: str | None = None) -> pd.DataFrame:
    """A FIVEx PIP table (no header; chromosome, position, ref, alt, tissue, ..., pip, ...) -> the frame.

    `gene` defaults to the file name's gene (`fivex_gene`).
    """
    path = Path(path)
    gene = gene or fivex_gene(path)
    text, number = _first_line(path)
    if not _is_fivex_row(text.split("\t")):
        raise InputError(
            path,
            f"not a FIVEx PIP table: the line {text[:200]!r} is not {len(FIVEX_COLUMNS)} tab-separated columns "
            f"({', '.join(FIVEX_COLUMNS)}) with an integer position; FIVEx tables have no header",
            number,
        )
    parts = []
    for chunk in _chunks(path, header=None, names=list(FIVEX_COLUMNS)):
        lines = chunk.index.to_numpy(dtype=np.int64) + 1
        keep = _not_blank(chunk)
        chunk, lines = chunk[keep], lines[keep]
        _require(chunk, FIVEX_COLUMNS, path, lines)  # a short row leaves its last fields empty
        chunk = chunk[list(FIVEX_READ)]
        pos = pd.to_numeric(chunk["position"], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~(pos >= 1) | (pos != np.floor(pos))
        if bad.any():
            r = int(np.argmax(bad))
            raise InputError(path, f"position must be an integer >= 1 (1-based), got {chunk['position'].iloc[r]!r}", int(lines[r]))
        alleles = {}
        for col in ("ref_allele", "alt_allele"):
            ok = chunk[col].str.fullmatch(r"[A-Za-z]+").to_numpy(dtype=bool)
            if not ok.all():
                r = int(np.argmax(~ok))
                raise InputError(path, f"{col} must be letters, got {chunk[col].iloc[r]!r}", int(lines[r]))
            alleles[col] = chunk[col].str.upper()
        variants = pd.DataFrame(
            {
                "chrom": chunk["chromosome"].to_numpy(dtype=object),
                "pos": pos.astype(np.int64),
                "ref": alleles["ref_allele"].to_numpy(dtype=object),
                "alt": alleles["alt_allele"].to_numpy(dtype=object),
                "build": np.full(len(chunk), "", dtype=object),
            }
        )
        pip = _pips(chunk["pip"], path, lines, "pip")
        parts.append(_frame(chunk["tissue"], np.full(len(chunk), gene, dtype=object), variants, pip, lines))
    return _finish(parts)


def read_finemapping(path: str | os.PathLike, layout: str = "auto") -> pd.DataFrame:
    """One fine-mapping file -> DataFrame[tissue, gene, chrom, pos, ref, alt, pip, build, line].

    `layout`: "auto" (from the first line, `detect_layout`), "dapg" or "fivex". `build` is the
    id's suffix (b38) for DAP-G and empty for FIVEx, whose tables do not say (GTEx v8: GRCh38).
    `line` is the 1-based line of each row in the file.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}; got {layout!r}")
    path = Path(path)
    if layout == "auto":
        layout = detect_layout(path)
    return read_dapg(path) if layout == "dapg" else read_fivex(path)
