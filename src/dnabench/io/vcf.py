"""VCF reader: a variant table, one row per ALT allele, read with pysam (htslib).

Why pysam: htslib reads plain, bgzipped and BCF files, uses a tabix (.tbi) or CSI (.csi) index for
a region, and parses multi-allelic records and the header's contigs; dnabench does not parse VCF by
hand. pysam iterates records in C; the one Python loop here collects fields into lists and the
table is made once, classified with vectorised pandas/NumPy.

Choices, and why:

- Positions are 1-based as in VCF (`dnabench.io.variants`); REF is uppercased, ALT is uppercased
  where it is a sequence allele (A/C/G/T/N); symbolic alleles and breakends are kept as written,
  since a breakend names a contig (`A[chr1:100[`) whose case matters.
- A multi-allelic record gives one row per ALT, each with the record's POS and REF (not
  normalised or trimmed: the pair sample kind reads REF and ALT at POS as written). `record` (the
  0-based ordinal of the record among those read) groups them, `allele` is the 1-based ALT index
  (the order of Number=A fields), `line` the 1-based line of the record in the (decompressed) text,
  or <NA> where it is not known (BCF, or a region read through an index).
- Each ALT allele has one `kind`: snv (single A/C/G/T, differing from REF, as
  `variants.is_snv`), mnv (equal-length sequence alleles longer than 1 that differ), indel
  (sequence alleles of different lengths), symbolic (`<DEL>`, `*`, breakends), other (anything
  else: N, REF equal to ALT, letters outside A/C/G/T/N).
- A record whose ALT is `.` has no allele: it gives no row and is counted in `missing`.
  `snvs_only=True` drops every non-SNV allele and counts it by kind (`skipped_<kind>`), so
  `len(table) == counts["alleles"] - counts["skipped"]` always.
- A plain gzip file (not bgzip) cannot be opened by htslib (it needs to seek); it is read anyway,
  decompressed through a pipe into htslib, so no temporary copy is written. Only an index needs
  bgzip, and a region on such a file is filtered while reading.
- `region` is htslib's syntax, 1-based inclusive: `chr1`, `chr1:100` (to the contig's end),
  `chr1:100-200` (commas allowed). It selects the records whose REF span overlaps it (the records
  tabix returns), through the index when there is one, else by filtering.
- htslib's own warnings (for example a FORMAT field declared with an unexpected type) are silenced
  while reading; errors are rephrased as `InputError` naming the file and, where known, the line and
  what is wrong with it.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import re
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

from dnabench.io.files import GZIP_MAGIC, InputError, open_binary
from dnabench.io.variants import VARIANT_COLUMNS, is_snv

__all__ = ["VCF_COLUMNS", "ALLELE_KINDS", "read_vcf", "vcf_contigs", "parse_region"]

#: columns of the table `read_vcf` returns
VCF_COLUMNS: tuple[str, ...] = VARIANT_COLUMNS + ("id", "kind", "record", "allele", "line")
#: the kinds of ALT allele, in the order of their counts
ALLELE_KINDS: tuple[str, ...] = ("snv", "mnv", "indel", "symbolic", "other")
_COUNT_NAMES = {"snv": "snvs", "mnv": "mnvs", "indel": "indels", "symbolic": "symbolic", "other": "other"}

_REGION = re.compile(r"^(?P<chrom>[^:\s]+)(?::(?P<start>[\d,]+)(?:-(?P<end>[\d,]+))?)?$")
_SEQUENCE = r"[ACGTN]+"
_SYMBOLIC = r"<.*>|\*|.*[\[\]].*|\..+|.+\."


@dataclass(frozen=True)
class Region:
    """A region as htslib reads it: contig, 0-based start, end (None: to the contig's end)."""

    chrom: str
    start: int = 0
    end: int | None = None


def parse_region(region: str, contigs: list[str] | None = None) -> Region:
    """Parse `chr1`, `chr1:100` or `chr1:100-200` (1-based inclusive); a whole contig name wins."""
    text = region.strip()
    if contigs and text in contigs:
        return Region(text)
    match = _REGION.match(text)
    if not match:
        raise ValueError(f"region {region!r}: expected CHROM, CHROM:START or CHROM:START-END (1-based)")
    start = int(match["start"].replace(",", "")) if match["start"] else 1
    end = int(match["end"].replace(",", "")) if match["end"] else None
    if start < 1:
        raise ValueError(f"region {region!r}: positions are 1-based; START must be at least 1")
    if end is not None and end < start:
        raise ValueError(f"region {region!r}: END {end} is before START {start}")
    return Region(match["chrom"], start - 1, end)


# ---------------------------------------------------------------------------------------- opening


@contextlib.contextmanager
def _quiet_htslib() -> Iterator[None]:
    """Silence htslib's stderr messages; dnabench reports errors itself."""
    import pysam

    old = pysam.set_verbosity(0)
    try:
        yield
    finally:
        pysam.set_verbosity(old)


def _check_path(path: Path) -> None:
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(path, "is a folder, expected a VCF file")


def _is_plain_gzip(path: Path) -> bool:
    """gzip but not BGZF: BGZF blocks carry a 'BC' extra field that plain gzip lacks."""
    with open(path, "rb") as f:
        head = f.read(18)
    return head[:2] == GZIP_MAGIC and not (len(head) >= 14 and head[3] & 4 and head[12:14] == b"BC")


class _GunzipPipe:
    """Decompress a plain gzip file on a thread into a pipe that htslib reads as a stream."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.error: BaseException | None = None
        read_fd, write_fd = os.pipe()
        self.reader: BinaryIO = os.fdopen(read_fd, "rb")
        self._thread = threading.Thread(target=self._feed, args=(write_fd,), daemon=True)
        self._thread.start()

    def _feed(self, write_fd: int) -> None:
        try:
            with gzip.open(self.path, "rb") as src, os.fdopen(write_fd, "wb") as out:
                while block := src.read(1 << 20):
                    out.write(block)
        except BrokenPipeError:
            pass  # the reader stopped early (an error, or it closed the file)
        except (gzip.BadGzipFile, zlib.error, EOFError, OSError) as err:
            self.error = err

    def close(self) -> None:
        self.reader.close()
        self._thread.join(timeout=10)

    def check(self) -> None:
        """Raise the decompression error, if any: it explains a parse error better than htslib."""
        if self.error is not None:
            raise InputError(self.path, f"corrupt or truncated gzip data ({self.error})") from self.error


@contextlib.contextmanager
def _open_vcf(path: str | os.PathLike, whole: bool = True) -> Iterator[Any]:
    """Open a VCF/BCF with pysam (plain gzip through a pipe); bad files raise InputError.

    With a pipe, a gzip error wins over the parse error it caused (`whole`: the caller reads the
    whole stream, so a gzip error is the file's fault), and the pipe is closed only after pysam let
    go of it (else the decompressing thread would block on a full pipe).
    """
    import pysam

    path = Path(path)
    _check_path(path)
    pipe = _GunzipPipe(path) if _is_plain_gzip(path) else None
    vf = None
    try:
        with _quiet_htslib():
            try:
                vf = pysam.VariantFile(pipe.reader if pipe else str(path), "r")
            except (ValueError, OSError) as err:
                raise InputError(path, _why_not_vcf(path, err)) from err
            yield vf
    finally:
        if vf is not None:
            vf.close()
        if pipe is not None:
            pipe.close()
            if whole:
                pipe.check()


def _why_not_vcf(path: Path, err: BaseException) -> str:
    """Explain why htslib could not open a file, from its first line (htslib's message is vague)."""
    text = str(err)
    if "EOF marker" in text or "truncated" in text:
        return f"truncated or corrupt bgzip file ({text})"
    try:
        with open_binary(path) as f:
            first = f.readline(200)
    except (gzip.BadGzipFile, zlib.error, EOFError, OSError) as read_err:
        return f"corrupt or truncated compressed data ({read_err})"
    if not first:
        return "empty file, expected a VCF"
    if not first.startswith(b"##fileformat="):
        shown = first.decode("utf-8", "replace").rstrip("\r\n")[:80]
        return f"not a VCF file: the first line is {shown!r}, expected '##fileformat=VCFv4.x'"
    return "not a readable VCF: htslib could not parse its header (is the #CHROM line present?)"


def _header_lines(path: Path, vf: Any) -> int | None:
    """How many header lines precede the first record of a text VCF (None for BCF)."""
    if vf.format != "VCF":
        return None
    n = 0
    with open_binary(path) as f:
        for raw in f:
            if not raw.startswith(b"#"):
                break
            n += 1
    return n


# ---------------------------------------------------------------------------------------- records


_Keep = Callable[[Any], bool] | None


def _records(vf: Any, region: Region | None, contigs: list[str], path: Path) -> tuple[Iterator[Any], _Keep, bool]:
    """The records to read, a filter (None: keep all) and whether they come through the index."""
    if region is None:
        return iter(vf), None, False
    if contigs and region.chrom not in contigs:
        shown = ", ".join(contigs[:8]) + (", ..." if len(contigs) > 8 else "")
        raise ValueError(f"region contig {region.chrom!r} is not in the header of {path} (contigs: {shown})")
    if vf.index is not None:
        if region.chrom not in vf.index:
            return iter(()), None, True
        return vf.fetch(region.chrom, region.start, region.end), None, True
    end = region.end if region.end is not None else np.iinfo(np.int64).max

    def overlaps(rec: Any) -> bool:
        return rec.chrom == region.chrom and rec.start < end and rec.stop > region.start

    return iter(vf), overlaps, False


def _collect(records: Iterator[Any], keep: _Keep, path: Path, header: int | None, indexed: bool) -> dict[str, list]:
    """One pass over the records, in C through pysam; fields go into lists, the line from the ordinal."""
    cols: dict[str, list] = {"chrom": [], "pos": [], "ref": [], "id": [], "alts": [], "line": []}
    lines = header is not None and not indexed
    seen = 0
    last = None
    try:
        for rec in records:
            seen += 1
            last = (rec.chrom, rec.pos)
            if keep is not None and not keep(rec):
                continue
            cols["chrom"].append(rec.chrom)
            cols["pos"].append(rec.pos)
            cols["ref"].append(rec.ref)
            cols["id"].append(rec.id or ".")
            cols["alts"].append(rec.alts or ())
            cols["line"].append(header + seen if lines else None)
    except (ValueError, OSError) as err:
        _raise_bad_record(path, err, header if lines else None, seen, last)
    return cols


def _raise_bad_record(
    path: Path, err: BaseException, header: int | None, good: int, last: tuple[str, int] | None
) -> None:
    """Rephrase htslib's parse error: the line, its text and what is wrong with it, where known."""
    if header is None:
        after = f" after the record at {last[0]}:{last[1]}" if last else " (the first record read)"
        raise InputError(path, f"malformed VCF record{after} (htslib: {err})") from err
    line = header + good + 1
    why = _diagnose_line(path, line)
    if why.startswith("'"):  # no cause found in the text: htslib's message is the best there is
        why = f"htslib could not parse it ({err}): {why}"
    raise InputError(path, f"malformed VCF record: {why}", line) from err


def _diagnose_line(path: Path, line: int) -> str:
    """Say what is wrong with one record line (read again from the text, only on error)."""
    try:
        with open_binary(path) as f:
            for i, raw in enumerate(f, start=1):
                if i == line:
                    break
            else:
                return "the file ends in the middle of a record"
    except (gzip.BadGzipFile, zlib.error, EOFError, OSError) as read_err:
        return f"corrupt or truncated compressed data ({read_err})"
    text = raw.decode("utf-8", "replace").rstrip("\r\n")
    if not text.strip():
        return "empty line"
    fields = text.split("\t")
    shown = repr(text[:100] + ("..." if len(text) > 100 else ""))
    if len(fields) < 8:
        return f"{len(fields)} tab-separated fields, a record needs at least 8: {shown}"
    if not fields[1].isdigit():
        return f"POS {fields[1]!r} is not a positive integer: {shown}"
    return shown


# ---------------------------------------------------------------------------------------- table


def _allele_table(cols: dict[str, list]) -> pd.DataFrame:
    """One row per ALT allele: record fields repeated by each record's number of ALTs."""
    n_alts = np.fromiter((len(a) for a in cols["alts"]), dtype=np.int64, count=len(cols["alts"]))
    record = np.repeat(np.arange(len(n_alts), dtype=np.int64), n_alts)
    first = np.cumsum(n_alts) - n_alts
    allele = np.arange(len(record), dtype=np.int64) - first[record] + 1

    def repeat(name: str) -> np.ndarray:
        return np.asarray(cols[name], dtype=object)[record]

    return pd.DataFrame(
        {
            "chrom": repeat("chrom"),
            "pos": np.asarray(cols["pos"], dtype=np.int64)[record],
            "ref": repeat("ref"),
            "alt": np.fromiter(chain.from_iterable(cols["alts"]), dtype=object, count=len(record)),
            "id": repeat("id"),
            "record": record,
            "allele": allele.astype(np.int32),
            "line": pd.array(cols["line"], dtype="Int64")[record],
        }
    )


def _classify(table: pd.DataFrame) -> pd.DataFrame:
    """Uppercase sequence alleles and give each ALT its kind (vectorised)."""
    ref = table["ref"].astype(str).str.upper()
    alt_upper = table["alt"].astype(str).str.upper()
    seq_alt = alt_upper.str.fullmatch(_SEQUENCE).to_numpy(bool)
    alt = alt_upper.where(seq_alt, table["alt"].astype(str))
    seq_ref = ref.str.fullmatch(_SEQUENCE).to_numpy(bool)
    ref_len, alt_len = ref.str.len().to_numpy(), alt.str.len().to_numpy()
    both = seq_ref & seq_alt
    snv = is_snv(ref.to_numpy(), alt.to_numpy())
    mnv = both & (ref_len == alt_len) & (ref_len > 1) & (ref.to_numpy() != alt.to_numpy())
    indel = both & (ref_len != alt_len)
    symbolic = ~seq_alt & alt.str.fullmatch(_SYMBOLIC).to_numpy(bool)
    kind = np.select([snv, mnv, indel, symbolic], list(ALLELE_KINDS[:4]), default="other")
    table = table.assign(
        chrom=table["chrom"].astype(str),
        ref=ref,
        alt=alt,
        id=table["id"].astype(str),
        kind=pd.Categorical(kind, categories=list(ALLELE_KINDS)),
    )
    return table[list(VCF_COLUMNS)]


def _counts(table: pd.DataFrame, n_records: int, missing: int, snvs_only: bool) -> dict[str, int]:
    by_kind = table["kind"].value_counts()
    counts = {"records": n_records, "alleles": len(table)}
    counts.update({_COUNT_NAMES[k]: int(by_kind.get(k, 0)) for k in ALLELE_KINDS})
    counts["missing"] = missing
    dropped = {k: (int(by_kind.get(k, 0)) if snvs_only and k != "snv" else 0) for k in ALLELE_KINDS[1:]}
    counts["skipped"] = sum(dropped.values())
    counts.update({f"skipped_{_COUNT_NAMES[k]}": v for k, v in dropped.items()})
    return counts


# ---------------------------------------------------------------------------------------- public


def read_vcf(
    path: str | os.PathLike, snvs_only: bool = False, region: str | None = None
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Read a VCF (plain, gzip, bgzip or BCF) into one row per ALT allele, and counts by kind.

    The table has columns `VCF_COLUMNS`: chrom, pos (1-based), ref, alt, id ('.' when absent),
    kind (snv/mnv/indel/symbolic/other), record, allele, line. The counts: records, alleles, snvs,
    mnvs, indels, symbolic, other, missing (records with ALT '.'), skipped and skipped_<kind>
    (alleles dropped by `snvs_only`). `region` ("chr1:100-200", 1-based inclusive) reads through a
    tabix/CSI index when there is one, else filters.
    """
    path = Path(path)
    with _open_vcf(path) as vf:
        contigs = list(vf.header.contigs)
        where = parse_region(region, contigs) if region is not None else None
        records, keep, indexed = _records(vf, where, contigs, path)
        cols = _collect(records, keep, path, _header_lines(path, vf), indexed)
    missing = sum(1 for a in cols["alts"] if not a)
    table = _classify(_allele_table(cols))
    counts = _counts(table, len(cols["pos"]), missing, snvs_only)
    if snvs_only:
        table = table[table["kind"].to_numpy() == "snv"].reset_index(drop=True)
    return table, counts


def vcf_contigs(path: str | os.PathLike) -> list[str]:
    """The contig names the VCF header declares (##contig lines), in header order."""
    with _open_vcf(path, whole=False) as vf:
        return list(vf.header.contigs)
