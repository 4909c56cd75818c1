"""Genome cache: a reference genome as one memory-mapped file of nucleotide codes.

Training reads millions of windows an epoch. Parsing FASTA or asking pyfaidx for each window
costs tens of microseconds; a cache of codes (1 byte a base) opened as a memory map lets a
whole batch of windows be gathered by one NumPy fancy-indexing call.

Cache folder layout (format version 1):
    genome.json     chromosome names, lengths, offsets, aliases, source checksum, and the size
                    and sha256 of the files below (checked by `Genome.verify`)
    sequence.u8     all chromosomes' codes back to back (A=0 C=1 G=2 T=3 N=4)
    softmask.bits   optional: 1 bit a base, 1 = lowercase in the source, byte-aligned per chromosome
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dnabench.alphabet import N, complement, decode, reverse_complement
from dnabench.io.files import InputError, atomic_dir, is_gzip, sha256_file
from dnabench.io.twobit import SIGNATURE

FORMAT = "dnabench-genome"
FORMAT_VERSION = 1
META_FILE = "genome.json"
SEQUENCE_FILE = "sequence.u8"
MASK_FILE = "softmask.bits"


@dataclass(frozen=True)
class Chromosome:
    name: str
    length: int
    offset: int
    mask_offset: int
    n_count: int


class UnknownChromosomeError(KeyError):
    """A chromosome name the genome does not have; the message lists the known ones."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


def chromosome_aliases(names: Sequence[str]) -> dict[str, str]:
    """Other spellings of each name: chr1 <-> 1, chrM <-> MT <-> M; never shadowing a real name."""
    aliases: dict[str, str] = {}
    real = set(names)
    for name in names:
        candidates = [name[3:] if name.startswith("chr") else f"chr{name}"]
        if name in ("chrM", "MT", "M", "chrMT"):
            candidates += ["chrM", "MT", "M", "chrMT"]
        for alias in candidates:
            if alias and alias not in real and alias != name:
                aliases.setdefault(alias, name)
    return aliases


class Genome:
    """A read-only genome cache. Open with `Genome.open(folder)` or `open_genome(folder)`."""

    def __init__(self, path: Path, meta: dict, sequence: np.ndarray, mask: np.ndarray | None) -> None:
        self.path = path
        self.meta = meta
        self.sequence = sequence
        self._mask = mask
        self.chromosomes = [Chromosome(**c) for c in meta["chromosomes"]]
        self._index = {c.name: i for i, c in enumerate(self.chromosomes)}
        for alias, name in meta.get("aliases", {}).items():
            self._index.setdefault(alias, self._index[name])
        self.lengths = np.array([c.length for c in self.chromosomes], dtype=np.int64)
        self.offsets = np.array([c.offset for c in self.chromosomes], dtype=np.int64)

    @classmethod
    def open(cls, path: str | os.PathLike) -> Genome:
        """Open a cache folder written by `index_genome`; refuses incomplete, damaged or foreign folders."""
        path = Path(path)
        meta_path = path / META_FILE
        if not meta_path.is_file():
            raise FileNotFoundError(f"{path}: not a genome cache (no {META_FILE}); build one with `dnabench genome index`")
        meta = read_meta(meta_path)
        total = int(meta["total_length"])
        seq_path = path / SEQUENCE_FILE
        if not seq_path.is_file() or seq_path.stat().st_size != total:
            raise InputError(seq_path, f"missing or wrong size (expected {total} bytes): rebuild the cache")
        for name, info in (meta.get("files") or {}).items():
            fpath = path / name
            if not fpath.is_file() or fpath.stat().st_size != info.get("bytes"):
                raise InputError(fpath, f"missing or wrong size (expected {info.get('bytes')} bytes): rebuild the cache")
        sequence = np.memmap(seq_path, dtype=np.uint8, mode="r") if total else np.zeros(0, dtype=np.uint8)
        mask = None
        if meta.get("softmask"):
            mask_path = path / MASK_FILE
            if not mask_path.is_file():
                raise InputError(mask_path, "missing (the cache was indexed with --softmask): rebuild the cache")
            mask = np.memmap(mask_path, dtype=np.uint8, mode="r") if mask_path.stat().st_size else np.zeros(0, np.uint8)
        return cls(path, meta, sequence, mask)

    def verify(self, block: int = 1 << 26) -> dict:
        """Read every byte once: each is a base code (0-4), each chromosome's N count is the recorded
        one, and each file's sha256 is the one genome.json records. Raises InputError naming the file."""
        seq_path = self.path / SEQUENCE_FILE
        files = self.meta.get("files") or {}
        digest = hashlib.sha256() if SEQUENCE_FILE in files else None
        order = sorted(self.chromosomes, key=lambda c: c.offset)
        at = 0
        for c in order:
            if c.offset != at:
                raise InputError(self.path / META_FILE, f"chromosome {c.name!r} starts at byte {c.offset}, expected {at}: rebuild the cache")
            n = 0
            for b in range(c.offset, c.offset + c.length, block):
                chunk = np.asarray(self.sequence[b : min(b + block, c.offset + c.length)])
                if digest is not None:
                    digest.update(chunk)
                if chunk.max() > N:
                    bad = chunk > N
                    i = int(np.argmax(bad))
                    raise InputError(
                        seq_path,
                        f"byte {b + i} ({c.name}:{b + i - c.offset + 1}) holds {int(chunk[i])}, not a base code (0-4): "
                        "the cache is damaged; rebuild it with `dnabench genome index`",
                    )
                n += int(np.count_nonzero(chunk == N))
            if n != c.n_count:
                raise InputError(seq_path, f"{c.name} holds {n} N, genome.json records {c.n_count}: the cache is damaged; rebuild it with `dnabench genome index`")
            at += c.length
        checked = []
        for name, info in files.items():
            got = digest.hexdigest() if name == SEQUENCE_FILE and digest is not None else sha256_file(self.path / name)
            if got != info.get("sha256"):
                raise InputError(
                    self.path / name,
                    f"sha256 {got}, genome.json records {info.get('sha256')}: the cache is damaged; rebuild it with `dnabench genome index`",
                )
            checked.append(name)
        return {"bases": at, "checksummed": checked}

    # ----- names -------------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.chromosomes]

    def __len__(self) -> int:
        return len(self.chromosomes)

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def __repr__(self) -> str:
        return f"Genome({str(self.path)!r}, {len(self)} sequences, {int(self.lengths.sum()):,} bp)"

    def resolve(self, name: str) -> int:
        """Index of a chromosome by name or alias (chr1/1, chrM/MT)."""
        try:
            return self._index[name]
        except KeyError:
            known = self.names
            shown = ", ".join(known[:30]) + (f", ... ({len(known)} in all)" if len(known) > 30 else "")
            raise UnknownChromosomeError(f"unknown chromosome {name!r} in genome {self.path}; known: {shown}") from None

    def resolve_many(self, names: Sequence[str] | np.ndarray) -> np.ndarray:
        """Vectorised `resolve`: one dictionary lookup per distinct name, not per interval."""
        arr = np.asarray(names)
        if np.issubdtype(arr.dtype, np.integer):
            if arr.size and (arr.min() < 0 or arr.max() >= len(self)):
                raise IndexError(f"chromosome index out of range 0..{len(self) - 1}")
            return arr.astype(np.int64)
        uniques, inverse = np.unique(arr.astype(str), return_inverse=True)
        return np.array([self.resolve(str(u)) for u in uniques], dtype=np.int64)[inverse.reshape(-1)]

    def length(self, name: str) -> int:
        return int(self.lengths[self.resolve(name)])

    # ----- fetching ----------------------------------------------------------------------

    def fetch(self, chrom: str, start: int, end: int, strand: str = "+") -> np.ndarray:
        """Codes of [start, end) on one strand; positions outside the chromosome are N."""
        if end < start:
            raise ValueError(f"end {end} < start {start} for {chrom}")
        codes = self.fetch_batch([chrom], [start], length=end - start, strands=[strand])[0]
        if codes.size and codes.max() > N:
            value = int(codes.max())
            raise InputError(
                self.path / SEQUENCE_FILE,
                f"damaged: {chrom}:{start + 1}-{end} holds byte value {value}, not a base code (0-4); "
                "run `dnabench genome info --verify` and rebuild the cache",
            )
        return codes

    def sequence_str(self, chrom: str, start: int, end: int, strand: str = "+") -> str:
        return decode(self.fetch(chrom, start, end, strand))

    def fetch_batch(
        self,
        chroms: Sequence[str] | np.ndarray,
        starts: Sequence[int] | np.ndarray,
        ends: Sequence[int] | np.ndarray | None = None,
        strands: Sequence[str] | np.ndarray | None = None,
        length: int | None = None,
    ) -> np.ndarray:
        """Gather B equal-length windows into a uint8 array [B, L] in one vectorised call.

        Give `ends` or `length`. Strand '-' (or -1 / True in a boolean array) returns the
        reverse complement. Windows reaching past either chromosome end are padded with N.
        """
        starts = np.asarray(starts, dtype=np.int64).reshape(-1)
        ci = self.resolve_many(chroms).reshape(-1)
        if ci.size != starts.size:
            raise ValueError(f"{ci.size} chromosomes but {starts.size} starts")
        if length is None:
            if ends is None:
                raise ValueError("fetch_batch needs ends or length")
            spans = np.asarray(ends, dtype=np.int64).reshape(-1) - starts
            if spans.size and (spans < 0).any():
                i = int(np.flatnonzero(spans < 0)[0])
                raise ValueError(f"interval {i}: end < start ({starts[i] + spans[i]} < {starts[i]})")
            if spans.size and (spans != spans[0]).any():
                raise ValueError(
                    f"fetch_batch needs equal-length intervals, got lengths {spans.min()}..{spans.max()}; "
                    "fetch them one at a time or pass length="
                )
            length = int(spans[0]) if spans.size else 0
        if length < 0:
            raise ValueError(f"length must be >= 0, got {length}")
        minus = None if strands is None else _minus_strand(strands, starts.size)
        return self._gather(ci, starts, length, minus)

    def _gather(self, ci: np.ndarray, starts: np.ndarray, length: int, minus: np.ndarray | None) -> np.ndarray:
        batch = starts.size
        if batch == 0 or length == 0:
            return np.full((batch, length), N, dtype=np.uint8)
        if minus is not None and not minus.any():
            minus = None
        chrom_len = self.lengths[ci]
        inside = (starts >= 0) & (starts + length <= chrom_len)
        gstart = self.offsets[ci] + starts
        if minus is None and inside.all():
            return _windows(self.sequence, length)[gstart]
        out = np.full((batch, length), N, dtype=np.uint8)
        forward = inside if minus is None else inside & ~minus
        if forward.any():
            out[forward] = _windows(self.sequence, length)[gstart[forward]]
        if minus is not None:
            # minus-strand rows are gathered already reversed, from a negative-stride view
            backward = inside & minus
            if backward.any():
                last = self.sequence.size - 1
                out[backward] = complement(_windows(self.sequence[::-1], length)[last - (gstart[backward] + length - 1)])
        edge = np.flatnonzero(~inside)
        if edge.size:
            pos = starts[edge, None] + np.arange(length)
            valid = (pos >= 0) & (pos < chrom_len[edge, None])
            flat = np.where(valid, self.offsets[ci[edge], None] + pos, 0)
            rows = np.where(valid, self.sequence[flat], N).astype(np.uint8) if self.sequence.size else out[edge]
            if minus is not None:
                rows[minus[edge]] = reverse_complement(rows[minus[edge]])
            out[edge] = rows
        return out

    def softmask(self, chrom: str, start: int, end: int) -> np.ndarray:
        """Boolean soft-mask (lowercase in the source) of [start, end) on the + strand; False outside."""
        if self._mask is None:
            raise ValueError(f"{self.path} was indexed without --softmask")
        c = self.chromosomes[self.resolve(chrom)]
        out = np.zeros(max(end - start, 0), dtype=bool)
        lo, hi = max(start, 0), min(end, c.length)
        if hi > lo:
            byte0 = c.mask_offset + lo // 8
            byte1 = c.mask_offset + (hi + 7) // 8
            bits = np.unpackbits(self._mask[byte0:byte1])
            out[lo - start : hi - start] = bits[lo % 8 : lo % 8 + (hi - lo)].astype(bool)
        return out


def _windows(sequence: np.ndarray, length: int) -> np.ndarray:
    """All windows of `length` as a strided view: row i is sequence[i:i+length], no copy."""
    step = sequence.strides[0]  # -1 for a reversed view
    return np.lib.stride_tricks.as_strided(
        sequence, shape=(sequence.size - length + 1, length), strides=(step, step), writeable=False
    )


def _minus_strand(strands: Sequence[str] | np.ndarray, size: int) -> np.ndarray:
    arr = np.asarray(strands).reshape(-1)
    if arr.size != size:
        raise ValueError(f"{arr.size} strands for {size} intervals")
    if arr.dtype == bool:
        return arr
    if np.issubdtype(arr.dtype, np.number):
        return arr < 0
    arr = arr.astype(str)
    bad = ~np.isin(arr, ["+", "-", "."])
    if bad.any():
        raise ValueError(f"strand must be '+', '-' or '.', got {arr[bad][0]!r}")
    return arr == "-"


def open_genome(path: str | os.PathLike) -> Genome:
    """Open a genome cache folder."""
    return Genome.open(path)


_RECORD_FIELDS = ("name", "length", "offset", "mask_offset", "n_count")


def read_meta(meta_path: Path) -> dict:
    """genome.json, checked field by field so that a damaged one is an InputError that names it."""
    rebuild = "rebuild the cache with `dnabench genome index`"
    try:
        meta = json.loads(meta_path.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise InputError(meta_path, f"damaged genome cache metadata, not valid JSON ({err}); {rebuild}") from None
    if not isinstance(meta, dict):
        raise InputError(meta_path, f"damaged genome cache metadata (not a JSON object); {rebuild}")
    if meta.get("format") != FORMAT or meta.get("version") != FORMAT_VERSION:
        raise InputError(meta_path, f"unsupported genome cache format {meta.get('format')!r} v{meta.get('version')}")
    for key in ("total_length", "chromosomes", "source"):
        if key not in meta:
            raise InputError(meta_path, f"damaged genome cache metadata, no {key!r} field; {rebuild}")
    records = meta["chromosomes"]
    if not isinstance(records, list) or not all(isinstance(r, dict) and all(k in r for k in _RECORD_FIELDS) for r in records):
        raise InputError(meta_path, f"damaged genome cache metadata, a 'chromosomes' record lacks {', '.join(_RECORD_FIELDS)}; {rebuild}")
    try:
        total = int(meta["total_length"])
        ends = [int(r["offset"]) + int(r["length"]) for r in records]
    except (TypeError, ValueError):
        raise InputError(meta_path, f"damaged genome cache metadata, lengths and offsets must be integers; {rebuild}") from None
    if any(e > total for e in ends):
        raise InputError(meta_path, f"damaged genome cache metadata, a chromosome ends past total_length {total}; {rebuild}")
    files = meta.get("files", {})
    if not isinstance(files, dict) or not all(isinstance(v, dict) and isinstance(v.get("bytes"), int) for v in files.values()):
        raise InputError(meta_path, f"damaged genome cache metadata, 'files' must map file names to their bytes and sha256; {rebuild}")
    aliases = meta.get("aliases", {})
    names = {r["name"] for r in records}
    if not isinstance(aliases, dict) or not set(aliases.values()) <= names:
        raise InputError(meta_path, f"damaged genome cache metadata, an alias names no chromosome; {rebuild}")
    return meta


def cache_entries(folder: Path) -> set[str]:
    """The names dnabench writes in a genome cache; FileExistsError when `folder` is not a cache,
    so that --overwrite never replaces a folder of another kind."""
    meta = folder / META_FILE
    if not meta.is_file():
        other = " it is a dnabench store;" if (folder / "dataset.json").is_file() else ""
        raise FileExistsError(
            f"{folder}: exists and is not a dnabench genome cache (no {META_FILE});{other} --overwrite replaces only a "
            "genome cache, so nothing was changed: remove it yourself or choose another --out"
        )
    try:
        kind = json.loads(meta.read_text()).get("format", FORMAT)
    except (ValueError, UnicodeDecodeError, AttributeError):
        kind = FORMAT  # a cache with a damaged genome.json is still a cache
    if kind != FORMAT:
        raise FileExistsError(f"{folder}: exists and is not a dnabench genome cache ({META_FILE} has format {kind!r}); nothing was changed")
    return {META_FILE, SEQUENCE_FILE, MASK_FILE}


# ----- building a cache ----------------------------------------------------------------------


class _CacheWriter:
    """Appends codes and mask bits record by record; keeps only one chunk in memory."""

    def __init__(self, folder: Path, softmask: bool) -> None:
        self.seq = open(folder / SEQUENCE_FILE, "wb")
        self.mask = open(folder / MASK_FILE, "wb") if softmask else None
        self.records: list[dict] = []
        self.offset = 0
        self.mask_offset = 0
        self._bits = np.zeros(0, dtype=np.uint8)
        self._current: dict | None = None
        self.names: set[str] = set()
        self.seq_digest = hashlib.sha256()
        self.mask_digest = hashlib.sha256()
        self.mask_bytes = 0

    def start(self, name: str) -> None:
        """Begin a record; ValueError on a name already written."""
        self.finish_record()
        if name in self.names:
            raise ValueError(f"duplicate sequence name {name!r}")
        self.names.add(name)
        self._current = {"name": name, "length": 0, "offset": self.offset, "mask_offset": self.mask_offset, "n_count": 0}

    def add(self, codes: np.ndarray, lowercase: np.ndarray) -> None:
        assert self._current is not None
        data = codes.tobytes()
        self.seq.write(data)
        self.seq_digest.update(data)
        self._current["length"] += codes.size
        self._current["n_count"] += int(np.count_nonzero(codes == N))
        self.offset += codes.size
        if self.mask is not None:
            bits = np.concatenate([self._bits, lowercase]) if self._bits.size else lowercase
            whole = bits.size - bits.size % 8
            self._write_mask(np.packbits(bits[:whole]).tobytes())
            self._bits = bits[whole:].copy()

    def finish_record(self) -> None:
        if self._current is None:
            return
        if self.mask is not None:
            if self._bits.size:
                self._write_mask(np.packbits(self._bits).tobytes())
            self._bits = np.zeros(0, dtype=np.uint8)
            self.mask_offset += (self._current["length"] + 7) // 8
        self.records.append(self._current)
        self._current = None

    def _write_mask(self, data: bytes) -> None:
        assert self.mask is not None
        self.mask.write(data)
        self.mask_digest.update(data)
        self.mask_bytes += len(data)

    def close(self) -> None:
        self.finish_record()
        self.seq.close()
        if self.mask is not None:
            self.mask.close()

    def files(self) -> dict:
        """Size and sha256 of the files written, hashed on the way (no second pass over the genome)."""
        out = {SEQUENCE_FILE: {"bytes": self.offset, "sha256": self.seq_digest.hexdigest()}}
        if self.mask is not None:
            out[MASK_FILE] = {"bytes": self.mask_bytes, "sha256": self.mask_digest.hexdigest()}
        return out


def detect_format(path: Path) -> str:
    """'2bit' or 'fasta', by content (names lie: .fa.gz may be bgzip, .2bit is never compressed);
    a file named .2bit is read as 2bit, so that one without its signature is refused, not parsed as FASTA."""
    with open(path, "rb") as f:
        head = f.read(4)
    if len(head) == 4 and SIGNATURE in (int.from_bytes(head, "little"), int.from_bytes(head, "big")):
        return "2bit"
    if path.name.lower().endswith(".2bit"):
        return "2bit"
    return "fasta"


def index_genome(
    source: str | os.PathLike,
    out: str | os.PathLike,
    softmask: bool = False,
    overwrite: bool = False,
    progress: bool = True,
) -> Genome:
    """Build a genome cache from FASTA (plain, gzip, bgzip) or 2bit, atomically.

    Memory stays bounded by the read block (tens of MB) whatever the genome size. The folder
    appears at `out` only when complete: a killed build leaves at most a hidden temporary folder.
    """
    from dnabench.io.fasta import Header, read_fasta_blocks
    from dnabench.io.twobit import iter_twobit_chunks, read_twobit_index
    from dnabench.progress import byte_progress

    source = Path(source)
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no such file")
    kind = detect_format(source)
    size = source.stat().st_size
    with atomic_dir(out, overwrite=overwrite, owned=cache_entries, inputs=[source]) as tmp, byte_progress(f"indexing {source.name}", size, progress) as advance:
        writer = _CacheWriter(tmp, softmask)
        try:
            if kind == "2bit":
                for record in read_twobit_index(source):
                    if record.length == 0:
                        raise InputError(source, f"record {record.name!r} has no sequence (0 bases)")
                    try:
                        writer.start(record.name)
                    except ValueError as err:
                        raise InputError(source, str(err)) from err
                    for codes, lower in iter_twobit_chunks(source, record, on_progress=advance):
                        writer.add(codes, lower)
            else:
                for item in read_fasta_blocks(source, on_progress=advance):
                    if isinstance(item, Header):
                        try:
                            writer.start(item.name)
                        except ValueError as err:
                            raise InputError(source, str(err), item.line) from err
                    else:
                        writer.add(item.codes, item.lowercase)
        finally:
            writer.close()
        described = {
            "path": str(source.resolve()),
            "format": kind,
            "compressed": kind == "fasta" and is_gzip(source),
            "bytes": size,
            "sha256": sha256_file(source),
        }
        write_meta(tmp, described, writer.records, writer.offset, softmask, files=writer.files())
    return Genome.open(out)


def write_meta(folder: Path, source: dict, records: list[dict], total_length: int, softmask: bool, files: dict | None = None) -> None:
    """The cache's genome.json: format and version, where the sequence came from, the chromosome
    records (name, length, offsets, N count), their aliases, and the size and sha256 of its files."""
    meta = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "source": source,
        "total_length": total_length,
        "softmask": softmask,
        "chromosomes": records,
        "aliases": chromosome_aliases([r["name"] for r in records]),
    }
    if files is not None:
        meta["files"] = files
    (folder / META_FILE).write_text(json.dumps(meta, indent=1))
