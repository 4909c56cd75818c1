"""The dataset store: what `dnabench prepare TASK` writes and what training reads.

A store is one folder of plain formats that other tools can read too:

    dataset.json            the card: task, format version, genome and sources with checksums,
                            build parameters, split rule, counts, label names/groups/kind, input
                            length, metrics, loss, leakage report, and the size and sha256 of
                            every other file (written last: a folder without it is not a store)
    regions.parquet         one row per sample: chrom, start, end, strand, split (+ task columns;
                            pos, ref, alt for pairs); a `sequence` column only where there is
                            no reference genome
    codes.npy               optional uint8 [rows, input_length] base codes (A0 C1 G2 T3 N4) for
                            big sets that come as sequences, not coordinates (DeepSEA's .mat
                            files); memory-mapped, so a batch is one fancy-index read
    labels.npy              dense labels: float32 [rows, labels], NaN = missing (memory-mapped), or
    labels_indptr.npy       sparse labels (CSR): int64 [rows + 1] row pointers,
    labels_indices.npy      int32 [nnz] label indices of the positives (int16 when streamed with
                            fewer than 32768 labels: half the size at Track7878's billions),
    labels_data.npy         optional float32 [nnz] values (absent: every stored value is 1)

Dense storage suits few labels or labels with missing values (PromVary: 1, Methyl96: 96);
CSR suits many mostly-zero labels (Track7878: 7878 labels, 1-3 % positive), where dense
float32 would take hundreds of GB. Windows are cut from the genome cache at batch time
(`Store.sequences`, one `Genome.fetch_batch` call a batch), so a store holds coordinates,
not sequence, and stays small.

The card's `sample` field says what a row feeds a model (`dnabench.data.samples`): a window
[L], a variant pair [2, L] or a segmented window [S, s + 2c]; a card without it is a window store.

A build writes into a hidden temporary folder beside the target and renames it at the end
(`StoreWriter`, via `dnabench.io.files.atomic_dir`): a failed or killed build never leaves a
folder that looks complete, and `overwrite` replaces only a store that holds nothing but its
own files and none of the build's inputs. `open_store` checks the card (format and version,
every file present with the recorded size, row counts and label shapes consistent), reads the
label values once (0/1 for binary labels, [0, 1] for targets of a BCE loss, CSR indices in
range) and refuses a damaged store with a message that names the file; `verify=True` also
re-hashes every file.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dnabench.alphabet import ASCII_TO_CODE, INVALID, shift_and_flip
from dnabench.data.samples import (
    Alleles,
    check_sample,
    gather_pairs,
    gather_segments,
    prepare_pair_rows,
    row_span,
    sample_shape,
    variant_offsets,
)
from dnabench.data.splits import SPLIT_ALIASES, SPLITS
from dnabench.io.files import atomic_dir, check_apart, check_target, sha256_file

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "SPLITS",
    "SPLIT_ALIASES",
    "LABEL_KINDS",
    "CARD_FILE",
    "REGIONS_FILE",
    "StoreError",
    "DenseLabels",
    "CSRLabels",
    "StoreWriter",
    "check_store_target",
    "Store",
    "write_store",
    "open_store",
    "sha256_file",
]

FORMAT = "dnabench-store"
FORMAT_VERSION = 1
CARD_FILE = "dataset.json"
REGIONS_FILE = "regions.parquet"
DENSE_FILE = "labels.npy"
INDPTR_FILE = "labels_indptr.npy"
INDICES_FILE = "labels_indices.npy"
DATA_FILE = "labels_data.npy"
CODES_FILE = "codes.npy"
SCRATCH_DIR = ".scratch"

LABEL_KINDS: tuple[str, ...] = ("binary", "regression", "multilabel")
REQUIRED_COLUMNS: tuple[str, ...] = ("chrom", "start", "end", "strand", "split")

_FILL_ROWS = 1 << 16  # rows per block when filling or checking big arrays


class StoreError(ValueError):
    """A store that cannot be written or opened as asked; the message names the folder or file."""


def scatter_rows(
    counts: np.ndarray, columns: np.ndarray, n_labels: int, values: Any = 1, dtype: Any = np.uint8
) -> np.ndarray:
    """Dense ``[len(counts), n_labels]`` from CSR pieces (entries per row, their columns, row after
    row) and their values: one flat scatter."""
    out = np.zeros((counts.size, n_labels), dtype=dtype)
    if columns.size:
        starts = np.repeat(np.arange(counts.size, dtype=np.int64) * n_labels, counts)
        out.reshape(-1)[starts + columns.astype(np.int64, copy=False)] = values
    return out


def row_indices(rows: Any, n: int) -> np.ndarray:
    """Row selector (int, slice, bool mask or integer array) -> int64 index array, bounds-checked."""
    if isinstance(rows, slice):
        return np.arange(n, dtype=np.int64)[rows]
    arr = np.asarray(rows)
    if arr.dtype == bool:
        if arr.shape != (n,):
            raise IndexError(f"boolean row mask of shape {arr.shape} for {n} rows")
        return np.flatnonzero(arr)
    arr = arr.astype(np.int64, copy=False).reshape(-1)
    if arr.size and (arr.min() < -n or arr.max() >= n):
        raise IndexError(f"row index out of range for {n} rows")
    return np.where(arr < 0, arr + n, arr)


# ----- labels ------------------------------------------------------------------------------------


class DenseLabels:
    """Dense labels: a float32 [rows, labels] array (memory-mapped when opened from a store)."""

    storage = "dense"

    def __init__(self, array: np.ndarray) -> None:
        if array.ndim != 2:
            raise ValueError(f"dense labels must be 2-D [rows, labels], got shape {array.shape}")
        self.array = array

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.array.shape[0]), int(self.array.shape[1]))

    @property
    def n_labels(self) -> int:
        return self.shape[1]

    def __len__(self) -> int:
        return self.shape[0]

    def dense(self, rows: Any) -> np.ndarray:
        """float32 [len(rows), labels]; NaN where missing."""
        idx = row_indices(rows, len(self))
        return np.asarray(self.array[idx], dtype=np.float32)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return np.asarray(self.array, dtype=dtype)

    def __repr__(self) -> str:
        return f"DenseLabels(shape={self.shape})"


class CSRLabels:
    """Sparse labels in CSR form: row i holds labels indices[indptr[i]:indptr[i+1]] (value 1, or data)."""

    storage = "csr"

    def __init__(self, indptr: np.ndarray, indices: np.ndarray, n_labels: int, data: np.ndarray | None = None) -> None:
        self.indptr = indptr
        self.indices = indices
        self.data = data
        self.n_labels = int(n_labels)

    @classmethod
    def from_dense(cls, dense: np.ndarray) -> CSRLabels:
        """CSR of the non-zero entries of a dense [rows, labels] matrix (NaN is not allowed)."""
        dense = np.asarray(dense)
        if dense.ndim != 2:
            raise ValueError(f"need a 2-D matrix, got shape {dense.shape}")
        if np.issubdtype(dense.dtype, np.floating) and np.isnan(dense).any():
            raise ValueError("CSR labels cannot hold missing (NaN) values: use dense labels")
        rows, cols = np.nonzero(dense)
        indptr = np.zeros(dense.shape[0] + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=dense.shape[0]), out=indptr[1:])
        values = dense[rows, cols].astype(np.float32)
        data = None if (values == 1).all() else values
        return cls(indptr, cols.astype(np.int32), dense.shape[1], data)

    @classmethod
    def from_scipy(cls, matrix: Any) -> CSRLabels:
        m = matrix.tocsr()
        m.sort_indices()
        data = np.asarray(m.data, dtype=np.float32)
        return cls(
            np.asarray(m.indptr, dtype=np.int64),
            np.asarray(m.indices, dtype=np.int32),
            m.shape[1],
            None if (data == 1).all() else data,
        )

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.indptr.shape[0]) - 1, self.n_labels)

    @property
    def nnz(self) -> int:
        return int(self.indptr[-1]) if self.indptr.size else 0

    def __len__(self) -> int:
        return self.shape[0]

    def row(self, i: int) -> np.ndarray:
        """Label indices set in row i."""
        return np.asarray(self.indices[int(self.indptr[i]) : int(self.indptr[i + 1])])

    def _positions(self, rows: Any) -> tuple[np.ndarray, np.ndarray]:
        """(entries per row [B], positions of the rows' entries in indices/data, row after row)."""
        idx = row_indices(rows, len(self))
        # plain ndarray views: np.memmap's __getitem__ costs more than the gather itself
        indptr = np.asarray(self.indptr).view(np.ndarray)
        begin = indptr[idx]
        counts = indptr[idx + 1] - begin
        firsts = np.cumsum(counts) - counts
        return counts, np.arange(int(counts.sum()), dtype=np.int64) + np.repeat(begin - firsts, counts)

    def pieces(self, rows: Any) -> tuple[np.ndarray, np.ndarray]:
        """(counts int64 [B], label indices of the rows' entries, row after row): no dense matrix."""
        counts, pos = self._positions(rows)
        return counts, np.asarray(self.indices).view(np.ndarray)[pos]

    def dense(self, rows: Any) -> np.ndarray:
        """float32 [len(rows), labels], gathered with vectorised index arithmetic (no per-row loop)."""
        counts, pos = self._positions(rows)
        columns = np.asarray(self.indices).view(np.ndarray)[pos]
        values = 1.0 if self.data is None else np.asarray(self.data[pos], dtype=np.float32)
        return scatter_rows(counts, columns, self.n_labels, values, np.float32)

    def validate(self, where: str = "labels", full: bool = True, block: int = 1 << 22) -> None:
        """Raise StoreError when the arrays do not form a CSR matrix of the stated shape.

        `full` also reads every pointer and index once (blocks of `block` entries): about 0.7 s
        for Track7878's billion int16 indices from the page cache.
        """
        if self.indptr.ndim != 1 or self.indptr.size < 1:
            raise StoreError(f"{where}/{INDPTR_FILE}: must be 1-D with rows + 1 entries")
        if int(self.indptr[0]) != 0 or int(self.indptr[-1]) != self.indices.shape[0]:
            raise StoreError(
                f"{where}/{INDPTR_FILE}: runs {int(self.indptr[0])}..{int(self.indptr[-1])} but {INDICES_FILE} holds "
                f"{self.indices.shape[0]} indices"
            )
        if self.data is not None and self.data.shape != self.indices.shape:
            raise StoreError(f"{where}/{DATA_FILE}: {self.data.shape[0]} values for {self.indices.shape[0]} indices")
        if not full:
            return
        for b in range(0, self.indptr.size, block):
            part = np.asarray(self.indptr[max(b - 1, 0) : b + block])
            if (np.diff(part) < 0).any():
                row = max(b - 1, 0) + int(np.argmax(np.diff(part) < 0))
                raise StoreError(f"{where}/{INDPTR_FILE}: row pointers decrease at row {row}")
        for b in range(0, self.indices.shape[0], block):
            part = np.asarray(self.indices[b : b + block])
            if part.size and (part.min() < 0 or part.max() >= self.n_labels):
                i = int(np.argmax((part < 0) | (part >= self.n_labels)))
                raise StoreError(
                    f"{where}/{INDICES_FILE}: label index {int(part[i])} at entry {b + i} is out of range "
                    f"0..{self.n_labels - 1} (damaged or edited; rebuild the store)"
                )

    def __repr__(self) -> str:
        return f"CSRLabels(shape={self.shape}, nnz={self.nnz})"


Labels = DenseLabels | CSRLabels

_NPY_HEADER_BYTES = 128


def _write_npy_header(f: Any, dtype: np.dtype, length: int) -> None:
    """A version-1.0 .npy header for a 1-D array, padded to a fixed 128 bytes.

    Written by hand (not through np.save) so a file of unknown final length can be appended to
    and its header rewritten in place at the end, instead of copying gigabytes into a new file.
    """
    body = repr({"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": (int(length),)})
    pad = _NPY_HEADER_BYTES - 10 - len(body) - 1
    f.write(b"\x93NUMPY\x01\x00" + (len(body) + pad + 1).to_bytes(2, "little") + body.encode() + b" " * pad + b"\n")


class CSRWriter:
    """Streams CSR labels into the store folder: `append(counts, indices)` per chunk of rows.

    `counts[i]` labels of the chunk's row i are set; `indices` holds them row after row. Memory is
    one chunk; indices go straight to labels_indices.npy, whose header is fixed up at `close`.
    """

    def __init__(self, folder: Path, n_labels: int) -> None:
        self.folder = folder
        self.n_labels = int(n_labels)
        self.dtype = np.dtype(np.int16 if self.n_labels <= np.iinfo(np.int16).max else np.int32)
        self._indices = open(folder / INDICES_FILE, "wb")
        _write_npy_header(self._indices, self.dtype, 0)
        self._counts: list[np.ndarray] = []
        self.nnz = 0
        self.rows = 0

    def append(self, counts: np.ndarray, indices: np.ndarray) -> None:
        counts = np.asarray(counts, dtype=np.int64)
        indices = np.asarray(indices)
        if int(counts.sum()) != indices.size:
            raise ValueError(f"row counts add up to {int(counts.sum())} but {indices.size} indices were given")
        if indices.size and (indices.min() < 0 or indices.max() >= self.n_labels):
            raise ValueError(f"label index out of range 0..{self.n_labels - 1}")
        self._indices.write(np.ascontiguousarray(indices, dtype=self.dtype).tobytes())
        self._counts.append(counts.astype(np.int32) if counts.size and counts.max() < 2**31 else counts)
        self.nnz += indices.size
        self.rows += counts.size

    def close(self) -> CSRLabels:
        """Finish the files; returns the labels, memory-mapped."""
        self._indices.seek(0)
        _write_npy_header(self._indices, self.dtype, self.nnz)
        self._indices.close()
        indptr = np.lib.format.open_memmap(self.folder / INDPTR_FILE, mode="w+", dtype=np.int64, shape=(self.rows + 1,))
        indptr[0] = 0
        at, total = 1, 0
        for counts in self._counts:
            block = np.cumsum(counts, dtype=np.int64) + total
            indptr[at : at + block.size] = block
            at += block.size
            total = int(block[-1]) if block.size else total
        indptr.flush()
        self._counts = []
        return CSRLabels(indptr, np.load(self.folder / INDICES_FILE, mmap_mode="r"), self.n_labels)


def _as_labels(labels: Any) -> Labels:
    if isinstance(labels, (DenseLabels, CSRLabels)):
        return labels
    if hasattr(labels, "tocsr") and hasattr(labels, "shape"):  # scipy.sparse, without importing scipy
        return CSRLabels.from_scipy(labels)
    arr = np.asarray(labels)
    if arr.ndim == 1:
        arr = arr[:, None]
    return DenseLabels(arr)


# ----- writing -----------------------------------------------------------------------------------


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return [_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _categorical(column: pd.Series, categories: list[str], aliases: dict, what: str, where: str) -> pd.Series:
    """The column as a Categorical of exactly `categories`; millions of rows that already are
    one (a streamed build's) are checked through their few categories, not row by row."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        names = [aliases.get(str(c), str(c)) for c in column.cat.categories]
        unknown = [n for n, used in zip(names, np.bincount(column.cat.codes[column.cat.codes >= 0], minlength=len(names)) > 0) if used and n not in categories]
        if not unknown and not (column.cat.codes < 0).any():
            lookup = np.array([categories.index(n) if n in categories else -1 for n in names], dtype=np.int8)
            return pd.Series(pd.Categorical.from_codes(lookup[column.cat.codes.to_numpy()], categories=categories))
    values = column.astype(str).replace(aliases)
    bad = ~values.isin(categories)
    if bad.any():
        quoted = ", ".join(repr(c) for c in categories)
        raise StoreError(f"{where}: {what} must be one of {quoted}, got {values[bad].iloc[0]!r} (row {int(np.argmax(bad.to_numpy()))})")
    return pd.Series(pd.Categorical(values, categories=categories))


def _normalise_regions(
    regions: pd.DataFrame, input_length: int | None, where: str, coordinates: bool = True, span_name: str = "input_length"
) -> pd.DataFrame:
    missing = [c for c in REQUIRED_COLUMNS if c not in regions.columns]
    if missing:
        raise StoreError(f"{where}: regions table lacks column(s) {', '.join(missing)} (need {', '.join(REQUIRED_COLUMNS)})")
    df = regions.reset_index(drop=True).copy()
    df["split"] = _categorical(df["split"], list(SPLITS), SPLIT_ALIASES, "split", where)
    inline = "sequence" in df.columns
    if not coordinates:  # sequences are stored: coordinates are informative only (may be placeholders)
        df["chrom"] = df["chrom"].astype(str).astype("category")
        df["strand"] = pd.Categorical(df["strand"].astype(str), categories=["+", "-", "."])
        for col in ("start", "end"):
            df[col] = df[col].astype(np.int64)
    elif not inline:
        for col in ("start", "end"):
            if not pd.api.types.is_integer_dtype(df[col]):
                raise StoreError(f"{where}: column {col} must be integers, got {df[col].dtype}")
            df[col] = df[col].astype(np.int64)
        start, end = df["start"].to_numpy(), df["end"].to_numpy()
        if (end < start).any():
            i = int(np.argmax(end < start))
            raise StoreError(f"{where}: row {i} has end {end[i]} < start {start[i]}")
        if input_length is not None and len(df) and ((end - start) != input_length).any():
            i = int(np.argmax((end - start) != input_length))
            raise StoreError(f"{where}: row {i} spans {end[i] - start[i]} bp, the card's {span_name} is {input_length}")
        df["strand"] = _categorical(df["strand"], ["+", "-", "."], {}, "strand", where)
        if isinstance(df["chrom"].dtype, pd.CategoricalDtype):
            df["chrom"] = df["chrom"].cat.remove_unused_categories()
            df["chrom"] = df["chrom"].cat.rename_categories([str(c) for c in df["chrom"].cat.categories])
        else:
            df["chrom"] = df["chrom"].astype(str).astype("category")
    else:
        seqs = df["sequence"].astype(str)
        lengths = seqs.str.len().to_numpy()
        if input_length is not None and len(df) and (lengths != input_length).any():
            i = int(np.argmax(lengths != input_length))
            raise StoreError(f"{where}: sequence of row {i} has {lengths[i]} letters, the card's input_length is {input_length}")
        codes = ASCII_TO_CODE[np.frombuffer("".join(seqs.tolist()).encode(), dtype=np.uint8)]
        if (codes == INVALID).any():
            raise StoreError(f"{where}: sequence column holds letters other than ACGTN/IUPAC codes")
        df["sequence"] = seqs
    return df


def _sample_regions(regions: pd.DataFrame, sample: Mapping[str, Any], where: str, stored: bool) -> pd.DataFrame:
    """The regions checked for the sample kind (pairs: alleles, and start/end/strand filled in)."""
    kind = sample["kind"]
    if kind != "window" and stored:
        raise StoreError(f"{where}: a {kind} store reads the genome; inline sequences and codes.npy are for window stores")
    if kind != "pair":
        return regions
    try:
        return prepare_pair_rows(regions, sample)
    except ValueError as err:
        raise StoreError(f"{where}: {err}") from None


def _card_inputs(card: Mapping[str, Any]) -> list[str]:
    """The paths of what a build read, as its card records them: the genome cache and every source."""
    paths = [(card.get("genome") or {}).get("cache_path")]
    paths += [s.get("path") for s in card.get("sources") or [] if isinstance(s, Mapping)]
    return [p for p in paths if isinstance(p, str) and p]


def store_entries(folder: Path) -> set[str]:
    """The names dnabench writes in a store; FileExistsError when `folder` is not a store, so that
    overwrite never replaces a folder of another kind (a genome cache, a folder of raw files)."""
    card = folder / CARD_FILE
    if not card.is_file():
        other = " it is a dnabench genome cache;" if (folder / "genome.json").is_file() else ""
        raise FileExistsError(
            f"{folder}: exists and is not a dnabench store (no {CARD_FILE});{other} --overwrite replaces only a store, "
            "so nothing was changed: remove it yourself or choose another --out"
        )
    names = {CARD_FILE, REGIONS_FILE, DENSE_FILE, INDPTR_FILE, INDICES_FILE, DATA_FILE, CODES_FILE}
    try:
        content = json.loads(card.read_text())
        kind = content.get("format", FORMAT)
        names |= {str(n) for n in content.get("files") or {}}
    except (ValueError, UnicodeDecodeError, AttributeError, TypeError):
        kind = FORMAT  # a store with a damaged card is still a store
    if kind != FORMAT:
        raise FileExistsError(f"{folder}: exists and is not a dnabench store ({CARD_FILE} has format {kind!r}); nothing was changed")
    return names


def check_store_target(folder: str | os.PathLike, overwrite: bool = False, inputs: Sequence[str | os.PathLike] = ()) -> None:
    """Refuse, before any work, an output that `StoreWriter` would refuse at its start."""
    check_target(folder, overwrite, owned=store_entries, inputs=inputs)


class StoreWriter:
    """Write a store atomically. Use as a context manager; call `finish` once at the end.

        with StoreWriter(out) as w:
            labels = w.dense_labels(n_rows, n_labels)   # optional: a NaN-filled memmap to fill
            ...                                          # w.scratch: a temporary folder of your own
            card = w.finish(card, regions)               # or w.finish(card, regions, labels=array)

    Everything goes into a hidden `.NAME.tmp-*` folder beside `out`, renamed to `out` when the
    `with` block ends without an error; on an error (or without `finish`) it is deleted.
    `overwrite` replaces only a store holding nothing but its own files; an `out` that is, or
    contains, one of `inputs` or of the card's sources and genome cache is refused.
    """

    def __init__(self, folder: str | os.PathLike, overwrite: bool = False, inputs: Sequence[str | os.PathLike] = ()) -> None:
        self.folder = Path(folder)
        self.overwrite = overwrite
        self.inputs = list(inputs)
        self.tmp: Path | None = None
        self._stack: contextlib.ExitStack | None = None
        self._dense: np.memmap | None = None
        self._codes: np.memmap | None = None
        self._csr: CSRWriter | None = None
        self.card: dict | None = None

    def __enter__(self) -> StoreWriter:
        self._stack = contextlib.ExitStack()
        self.tmp = self._stack.enter_context(atomic_dir(self.folder, overwrite=self.overwrite, owned=store_entries, inputs=self.inputs))
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        assert self._stack is not None
        if exc_type is None and self.card is None:
            err = StoreError(f"{self.folder}: store build ended without finish(); nothing was written")
            self._stack.__exit__(StoreError, err, None)  # deletes the temporary folder
            raise err
        return bool(self._stack.__exit__(exc_type, exc, tb))

    @property
    def scratch(self) -> Path:
        """A scratch folder inside the temporary store folder, deleted by `finish`."""
        assert self.tmp is not None, "use StoreWriter as a context manager"
        path = self.tmp / SCRATCH_DIR
        path.mkdir(exist_ok=True)
        return path

    def dense_labels(self, n_rows: int, n_labels: int, fill: float = np.nan) -> np.memmap:
        """Create labels.npy as a writable float32 memmap [n_rows, n_labels] filled with `fill`."""
        assert self.tmp is not None, "use StoreWriter as a context manager"
        mm = np.lib.format.open_memmap(self.tmp / DENSE_FILE, mode="w+", dtype=np.float32, shape=(n_rows, n_labels))
        for b in range(0, n_rows, _FILL_ROWS):
            mm[b : b + _FILL_ROWS] = fill
        self._dense = mm
        return mm

    def codes(self, n_rows: int, length: int) -> np.memmap:
        """Create codes.npy as a writable uint8 memmap [n_rows, length] (filled with N) for stored sequences."""
        assert self.tmp is not None, "use StoreWriter as a context manager"
        mm = np.lib.format.open_memmap(self.tmp / CODES_FILE, mode="w+", dtype=np.uint8, shape=(n_rows, length))
        for b in range(0, n_rows, _FILL_ROWS):
            mm[b : b + _FILL_ROWS] = 4
        self._codes = mm
        return mm

    def csr_labels(self, n_labels: int) -> CSRWriter:
        """A writer that streams sparse labels to disk chunk by chunk (rows in store order)."""
        assert self.tmp is not None, "use StoreWriter as a context manager"
        self._csr = CSRWriter(self.tmp, n_labels)
        return self._csr

    def finish(self, card: Mapping[str, Any], regions: pd.DataFrame, labels: Any = None) -> dict:
        """Validate, write regions + labels + card; return the card as written."""
        assert self.tmp is not None, "use StoreWriter as a context manager"
        tmp, where = self.tmp, str(self.folder)
        card = dict(card)
        if not isinstance(card.get("task"), str) or not card["task"]:
            raise StoreError(f"{where}: the card needs a task name")
        try:
            check_apart(self.folder, _card_inputs(card))
        except ValueError as err:
            raise StoreError(str(err)) from None
        label_info = dict(card.get("labels") or {})
        kind = label_info.get("kind")
        if kind not in LABEL_KINDS:
            raise StoreError(f"{where}: labels.kind must be one of {', '.join(LABEL_KINDS)}, got {kind!r}")
        input_length = card.get("input_length")
        if self._codes is not None:
            if input_length is not None and self._codes.shape[1] != int(input_length):
                raise StoreError(f"{where}: codes are {self._codes.shape[1]} bp, the card's input_length is {input_length}")
            input_length = card["input_length"] = int(self._codes.shape[1])
        sample = _card_sample(card, where)
        if sample["length"] is not None:
            card["sample"] = sample
            input_length = card["input_length"] = sample["length"]
        df = _sample_regions(regions, sample, where, stored=self._codes is not None or "sequence" in regions.columns)
        if sample["kind"] == "segmented":
            df = _normalise_regions(df, row_span(sample), where, span_name="segments x segment_length")
        else:
            df = _normalise_regions(df, input_length, where, coordinates=self._codes is None)
        if self._codes is not None and len(self._codes) != len(df):
            raise StoreError(f"{where}: {len(self._codes)} stored sequences for {len(df)} regions")

        if labels is None and self._csr is not None:
            lab: Labels = self._csr.close()
        elif labels is None:
            if self._dense is None:
                raise StoreError(f"{where}: no labels given and dense_labels() was not used")
            self._dense.flush()
            lab = DenseLabels(self._dense)
        else:
            lab = _as_labels(labels)
        if len(lab) != len(df):
            raise StoreError(f"{where}: {len(lab)} label rows for {len(df)} regions")
        names = list(label_info.get("names") or [])
        if len(names) != lab.shape[1]:
            raise StoreError(f"{where}: {len(names)} label names for {lab.shape[1]} label columns")

        if isinstance(lab, DenseLabels):
            if labels is not None:
                np.save(tmp / DENSE_FILE, np.ascontiguousarray(lab.array, dtype=np.float32))
            label_files = [DENSE_FILE]
            label_info.update(storage="dense", shape=list(lab.shape), dtype="float32", missing="NaN")
        else:
            lab.validate(where)
            if self._dense is not None:  # dense_labels() was used but CSR labels were passed
                del self._dense
                self._dense = None
                (tmp / DENSE_FILE).unlink(missing_ok=True)
            if labels is not None:  # streamed labels are already in place
                np.save(tmp / INDPTR_FILE, np.asarray(lab.indptr, dtype=np.int64))
                np.save(tmp / INDICES_FILE, np.asarray(lab.indices, dtype=np.int32))
            label_files = [INDPTR_FILE, INDICES_FILE]
            if lab.data is not None:
                np.save(tmp / DATA_FILE, np.asarray(lab.data, dtype=np.float32))
                label_files.append(DATA_FILE)
            label_info.update(storage="csr", shape=list(lab.shape), dtype="float32", nnz=lab.nnz, implicit_value=1.0 if lab.data is None else None)
        self._dense = None
        if self._codes is not None:
            self._codes.flush()
            self._codes = None
            label_files.append(CODES_FILE)

        table = pa.Table.from_pandas(df, preserve_index=False)
        pq.write_table(table, tmp / REGIONS_FILE, compression="zstd")

        from dnabench import __version__

        counts = {s: int(v) for s, v in df["split"].value_counts(sort=False).reindex(list(SPLITS), fill_value=0).items()}
        files = {}
        for name in [REGIONS_FILE, *label_files]:
            path = tmp / name
            files[name] = {"bytes": path.stat().st_size, "sha256": sha256_file(path)}
        head = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "task": card.pop("task"),
            "dnabench_version": __version__,
            "n_rows": len(df),
            "counts": counts,
            "sequence_source": "codes" if CODES_FILE in label_files else ("inline" if "sequence" in df.columns else "genome"),
        }
        card["labels"] = label_info  # in the card's own place (the card builder's order)
        for key in ("format", "format_version", "n_rows", "counts", "files", "dnabench_version", "sequence_source"):
            card.pop(key, None)
        full = {**head, **card, "files": files}
        full = _jsonable(full)
        shutil.rmtree(tmp / SCRATCH_DIR, ignore_errors=True)
        (tmp / CARD_FILE).write_text(json.dumps(full, indent=1, allow_nan=False) + "\n")
        self.card = full
        return full


def write_store(
    folder: str | os.PathLike,
    card: Mapping[str, Any],
    regions_df: pd.DataFrame,
    labels: Any,
    overwrite: bool = False,
) -> Store:
    """Write a store in one call (see `StoreWriter` for builds that fill labels in place).

    `card` needs at least `task` and `labels: {names, kind}` (kind: binary / regression /
    multilabel); `input_length` when given is checked against every row. `labels` is a dense
    [rows, labels] array (float32, NaN = missing), a `CSRLabels`, or a scipy.sparse matrix.
    The format fields, counts per split, label storage and shape, and file checksums are filled in.
    """
    with StoreWriter(folder, overwrite=overwrite) as writer:
        writer.finish(card, regions_df, labels)
    return open_store(folder)


# ----- reading -----------------------------------------------------------------------------------


class Store:
    """An opened store. Open with `open_store(folder)`."""

    def __init__(self, path: Path, card: dict, regions: pd.DataFrame, labels: Labels) -> None:
        self.path = path
        self.card = card
        self.regions = regions
        self.labels = labels
        self._split_cache: dict[str, np.ndarray] = {}
        self._plan: tuple[int, np.ndarray, np.ndarray, np.ndarray] | None = None
        self._inline: np.ndarray | None = None
        self._alts: Alleles | None = None
        self.codes: np.ndarray | None = None  # codes.npy, memory-mapped, for stores of stored sequences
        #: the card's `sample` field (checked); a card without one is a window store
        self.sample: dict[str, Any] = _card_sample(card, path / CARD_FILE)

    # ----- description -----

    @property
    def task(self) -> str:
        return self.card["task"]

    @property
    def n_rows(self) -> int:
        return int(self.card["n_rows"])

    def __len__(self) -> int:
        return self.n_rows

    @property
    def input_length(self) -> int | None:
        value = self.card.get("input_length")
        return None if value is None else int(value)

    @property
    def sample_kind(self) -> str:
        """"window", "pair" or "segmented"."""
        return self.sample["kind"]

    @property
    def sample_shape(self) -> tuple[int | None, ...]:
        """Shape of one row's codes: (L,), (2, L) or (S, s + 2c); (None,) for windows of unrecorded length."""
        return (None,) if self.sample["length"] is None else sample_shape(self.sample)

    @property
    def label_names(self) -> list[str]:
        return list(self.card["labels"]["names"])

    @property
    def label_kind(self) -> str:
        return self.card["labels"]["kind"]

    @property
    def n_labels(self) -> int:
        return int(self.card["labels"]["shape"][1])

    @property
    def has_inline_sequences(self) -> bool:
        """True when the store holds its sequences (inline column or codes.npy): no genome needed."""
        return self.card.get("sequence_source") in ("inline", "codes")

    def __repr__(self) -> str:
        counts = ", ".join(f"{k} {v:,}" for k, v in self.card["counts"].items())
        return f"Store({str(self.path)!r}, task={self.task}, {self.n_rows:,} rows ({counts}), {self.n_labels} labels {self.card['labels']['storage']})"

    def summary(self) -> str:
        """A few lines for `dnabench store info`."""
        c = self.card
        lines = [
            repr(self),
            f"input length {c.get('input_length')}, label kind {c['labels']['kind']}, metrics {', '.join(c.get('metrics') or [])}, loss {c.get('loss')}",
        ]
        genome = c.get("genome") or {}
        if genome:
            lines.append(f"genome {genome.get('build')} (source sha256 {genome.get('source_sha256')})")
        rule = c.get("split_rule") or {}
        if rule:
            lines.append(f"split rule: {json.dumps(rule)}")
        leak = c.get("leakage") or {}
        if leak:
            parts = []
            if "identical_sequences" in leak:
                parts.append(f"{leak['identical_sequences'].get('rows')} rows with a sequence also in another split")
            if "overlapping_intervals" in leak:
                parts.append(f"{leak['overlapping_intervals'].get('rows')} rows overlapping a region of another split")
            lines.append("leakage: " + (", ".join(parts) if parts else "not measured"))
        return "\n".join(lines)

    # ----- rows -----

    def split_indices(self, split: str) -> np.ndarray:
        """Row numbers (int64, ascending) of one split ("valid"/"validation" mean "val")."""
        split = SPLIT_ALIASES.get(split, split)
        if split not in SPLITS:
            raise KeyError(f"unknown split {split!r}; splits are {', '.join(SPLITS)}")
        if split not in self._split_cache:
            codes = self.regions["split"].cat.codes.to_numpy()
            self._split_cache[split] = np.flatnonzero(codes == SPLITS.index(split)).astype(np.int64)
        return self._split_cache[split]

    # ----- sequences -----

    def check_genome(self, genome: Any) -> None:
        """Refuse a genome cache built from another source file than the one the store was built on;
        where either side records no source hash (a sizes-only genome), compare the layouts."""
        record = self.card.get("genome") or {}
        expected = record.get("source_sha256")
        got = (getattr(genome, "meta", {}) or {}).get("source", {}).get("sha256")
        if expected and got and expected != got:
            raise StoreError(
                f"{self.path}: the store was built on a genome whose source has sha256 {expected}, "
                f"but genome {genome.path} was indexed from sha256 {got}; pass the matching genome cache "
                "(or check_genome=False to use it anyway)"
            )
        lengths = getattr(genome, "lengths", None)
        layout = {"sequences": len(genome), "total_length": int(np.sum(lengths))} if lengths is not None else {}
        for key, value in layout.items():
            if record.get(key) is not None and int(record[key]) != value:
                raise StoreError(
                    f"{self.path}: the store was built on a genome of {record[key]:,} {key.replace('_', ' ')}, "
                    f"but genome {genome.path} has {value:,}; pass the matching genome cache (or check_genome=False to use it anyway)"
                )

    def _fetch_plan(self, genome: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._plan is None or self._plan[0] != id(genome):
            chrom = self.regions["chrom"]
            if not isinstance(chrom.dtype, pd.CategoricalDtype):
                chrom = chrom.astype("category")
            lookup = np.array([genome.resolve(str(name)) for name in chrom.cat.categories], dtype=np.int64)
            ci = lookup[chrom.cat.codes.to_numpy()] if lookup.size else np.zeros(len(chrom), dtype=np.int64)
            starts = self.regions["start"].to_numpy(dtype=np.int64)
            minus = (self.regions["strand"].astype(str) == "-").to_numpy()
            self._plan = (id(genome), ci, starts, minus)
        return self._plan[1], self._plan[2], self._plan[3]

    def _inline_codes(self) -> np.ndarray:
        if self._inline is None:
            seqs = self.regions["sequence"].astype(str).tolist()
            length = self.input_length if self.input_length is not None else (len(seqs[0]) if seqs else 0)
            raw = np.frombuffer("".join(seqs).encode(), dtype=np.uint8)
            if raw.size != length * len(seqs):
                raise StoreError(f"{self.path}: inline sequences are not all {length} bp")
            self._inline = ASCII_TO_CODE[raw].reshape(len(seqs), length)
        return self._inline

    def _alt_alleles(self) -> Alleles:
        if self._alts is None:
            self._alts = Alleles.from_strings(self.regions["alt"])
        return self._alts

    def sequences(
        self, rows: Any, genome: Any = None, check_genome: bool = True, shifts: Any = None, flips: Any = None
    ) -> np.ndarray:
        """uint8 codes [len(rows), *sample_shape]: one `fetch_batch` call, or the stored sequences.

        Windows give [B, L], pairs [B, 2, L] (reference, alternative), segmented windows
        [B, S, s + 2c] (conventions in `dnabench.data.samples`).
        `shifts` (int per row) moves each window along the genome (positive: downstream of the
        + strand); a stored sequence is moved within itself and filled with N, since no flanks exist.
        `flips` (bool per row) reads those rows from the other strand: folded into the gather's
        strands, so reverse-complement augmentation costs no extra pass over the batch.
        """
        idx = row_indices(rows, self.n_rows)
        if shifts is not None:
            shifts = np.broadcast_to(np.asarray(shifts, dtype=np.int64), idx.shape)
        if flips is not None:
            flips = np.broadcast_to(np.asarray(flips, dtype=bool), idx.shape)
            if not flips.any():
                flips = None
        if self.has_inline_sequences:
            codes = self.codes if self.codes is not None else self._inline_codes()
            if idx.size > 1 and (np.diff(idx) < 0).any():  # a memmap reads fastest in ascending order
                order = np.argsort(idx, kind="stable")
                out = np.empty((idx.size, codes.shape[1]), dtype=np.uint8)
                out[order] = codes[idx[order]]
            else:
                out = np.asarray(codes[idx])
            return shift_and_flip(out, shifts, flips)
        if genome is None:
            raise StoreError(f"{self.path}: this store holds coordinates only; pass the genome cache it was built on")
        if check_genome:
            self.check_genome(genome)
        ci, starts, minus = self._fetch_plan(genome)
        strands = minus[idx] if flips is None else minus[idx] ^ flips
        if self.sample_kind == "pair":
            offsets = variant_offsets(self.regions["pos"].to_numpy()[idx], starts[idx], self.sample)
            return gather_pairs(genome, ci[idx], starts[idx], strands, self._alt_alleles().take(idx), self.sample, shifts, offsets)
        if self.sample_kind == "segmented":
            return gather_segments(genome, ci[idx], starts[idx], strands, self.sample, shifts)
        length = self.input_length
        begin = starts[idx] if shifts is None else starts[idx] + shifts
        if length is None:
            ends = self.regions["end"].to_numpy(dtype=np.int64)[idx]
            if shifts is not None:
                ends = ends + shifts
            return genome.fetch_batch(ci[idx], begin, ends=ends, strands=strands)
        return genome.fetch_batch(ci[idx], begin, length=length, strands=strands)




def _card_sample(card: Mapping[str, Any], where: str | Path) -> dict[str, Any]:
    """The card's `sample` field checked against its input_length; a window when absent."""
    length = card.get("input_length")
    if card.get("sample") is None:
        return {"kind": "window", "length": None if length is None else int(length)}
    try:
        sample = check_sample(card["sample"], length)
    except ValueError as err:
        raise StoreError(f"{where}: {err}") from None
    if sample["kind"] != "window" and card.get("sequence_source") in ("inline", "codes"):
        raise StoreError(f"{where}: a {sample['kind']} store cannot hold {card['sequence_source']} sequences")
    return sample


def _load_npy(path: Path, where: Path) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r")
    except (ValueError, OSError, EOFError) as err:
        raise StoreError(f"{where}: {path.name} is not a readable .npy file ({err})") from err


def _first_bad(bad: np.ndarray) -> tuple[int, int]:
    r, c = np.unravel_index(int(np.argmax(bad)), bad.shape)
    return int(r), int(c)


def check_label_values(labels: Labels, card: Mapping[str, Any], where: Path, block: int = 1 << 20) -> None:
    """Read the label values once, in blocks of about `block` values, and refuse ones the task cannot
    train on: binary and multilabel targets other than 0 and 1 (NaN only where the loss masks it),
    targets of a BCE or focal loss outside [0, 1], and infinities. About 0.5 s for 2 GB of float32
    from the page cache (Methyl96's 96 labels x 5 million CpGs)."""
    info = card.get("labels") or {}
    kind = info.get("kind")
    loss = str(card.get("loss") or "")
    masked = loss.startswith("masked_")
    probabilities = kind in ("binary", "multilabel") or loss.removeprefix("masked_") in ("bce", "focal")
    names = list(info.get("names") or [])
    rebuild = "the file was damaged or edited; rebuild the store"
    if isinstance(labels, CSRLabels):
        if labels.data is None:
            return
        for b in range(0, labels.data.shape[0], block):
            part = np.asarray(labels.data[b : b + block])
            bad = ~np.isfinite(part) | ((part < 0) | (part > 1) if probabilities else False)
            if bad.any():
                i = int(np.argmax(bad))
                raise StoreError(f"{where / DATA_FILE}: value {part[i]:g} at entry {b + i} cannot be a {kind} target; {rebuild}")
        return
    array = labels.array
    rows = max(1, block // max(array.shape[1], 1))
    for b in range(0, array.shape[0], rows):
        part = np.asarray(array[b : b + rows])
        if not part.size:
            continue
        if kind in ("binary", "multilabel"):
            bad = (part != 0) & (part != 1)
            if masked:
                bad &= ~np.isnan(part)
            if bad.any():
                r, c = _first_bad(bad)
                allowed = "0 or 1, or NaN where missing" if masked else "0 or 1"
                raise StoreError(
                    f"{where / DENSE_FILE}: label {names[c] if c < len(names) else c!r} of row {b + r} is {part[r, c]:g}, "
                    f"but a {kind} label must be {allowed}; {rebuild}"
                )
            continue
        lo, hi = np.fmin.reduce(part, axis=None), np.fmax.reduce(part, axis=None)
        if np.isinf(lo) or np.isinf(hi) or (probabilities and (lo < 0 or hi > 1)):
            r, c = _first_bad(np.isinf(part) | ((part < 0) | (part > 1) if probabilities else False))
            what = f"a target of the {loss} loss must be in [0, 1]" if probabilities else "targets must be finite"
            raise StoreError(
                f"{where / DENSE_FILE}: label {names[c] if c < len(names) else c!r} of row {b + r} is {part[r, c]:g}, but {what}; {rebuild}"
            )


def open_store(folder: str | os.PathLike, verify: bool = False) -> Store:
    """Open and check a store folder; `verify=True` also re-hashes every file against the card.

    Without `verify` the checks read every label value and CSR index once (`check_label_values`,
    `CSRLabels.validate`) but hash nothing.
    """
    path = Path(folder)
    card_path = path / CARD_FILE
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such store folder")
    if not card_path.is_file():
        raise StoreError(f"{path}: not a dataset store (no {CARD_FILE}); an interrupted build leaves none")
    try:
        card = json.loads(card_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise StoreError(f"{card_path}: damaged card, not valid JSON ({err})") from err
    if not isinstance(card, dict) or card.get("format") != FORMAT:
        raise StoreError(f"{card_path}: not a {FORMAT} card (format {card.get('format') if isinstance(card, dict) else None!r})")
    version = card.get("format_version")
    if version != FORMAT_VERSION:
        newer = isinstance(version, int) and version > FORMAT_VERSION
        hint = "written by a newer dnabench: upgrade" if newer else "rebuild it with this dnabench"
        raise StoreError(f"{card_path}: store format version {version!r}, this dnabench reads version {FORMAT_VERSION} ({hint})")
    for key in ("task", "n_rows", "counts", "labels", "files"):
        if key not in card:
            raise StoreError(f"{card_path}: damaged card, no {key!r} field")
    for key in ("counts", "labels", "files"):
        if not isinstance(card[key], dict):
            raise StoreError(f"{card_path}: damaged card, {key!r} is not a JSON object")
    if not all(isinstance(v, dict) for v in card["files"].values()) or not isinstance(card["n_rows"], int):
        raise StoreError(f"{card_path}: damaged card, 'files' must map names to their bytes and sha256 and 'n_rows' be an integer")
    kind = _card_sample(card, card_path)["kind"]
    files = card["files"]
    for name, info in files.items():
        fpath = path / name
        if not fpath.is_file():
            raise StoreError(f"{path}: file {name} listed in the card is missing")
        size = fpath.stat().st_size
        if size != info.get("bytes"):
            raise StoreError(f"{fpath}: {size} bytes, the card records {info.get('bytes')} (damaged or replaced)")
        if verify:
            digest = sha256_file(fpath)
            if digest != info.get("sha256"):
                raise StoreError(f"{fpath}: sha256 {digest}, the card records {info.get('sha256')}")
    n_rows = int(card["n_rows"])
    if REGIONS_FILE not in files:
        raise StoreError(f"{card_path}: damaged card, {REGIONS_FILE} not listed")
    try:
        meta_rows = pq.ParquetFile(path / REGIONS_FILE).metadata.num_rows
    except (pa.ArrowException, OSError) as err:
        raise StoreError(f"{path / REGIONS_FILE}: unreadable Parquet ({err})") from err
    if meta_rows != n_rows:
        raise StoreError(f"{path / REGIONS_FILE}: {meta_rows} rows, the card records {n_rows}")

    info = card["labels"]
    shape = tuple(int(v) for v in info.get("shape", ()))
    if len(shape) != 2 or shape[0] != n_rows:
        raise StoreError(f"{card_path}: label shape {list(shape)} does not match {n_rows} rows")
    if len(info.get("names", [])) != shape[1]:
        raise StoreError(f"{card_path}: {len(info.get('names', []))} label names for {shape[1]} labels")
    storage = info.get("storage")
    labels: Labels
    if storage == "dense":
        arr = _load_npy(path / DENSE_FILE, path)
        if arr.shape != shape or arr.dtype != np.float32:
            raise StoreError(f"{path / DENSE_FILE}: {arr.dtype} {list(arr.shape)}, the card says float32 {list(shape)}")
        labels = DenseLabels(arr)
    elif storage == "csr":
        indptr = _load_npy(path / INDPTR_FILE, path)
        indices = _load_npy(path / INDICES_FILE, path)
        data = _load_npy(path / DATA_FILE, path) if DATA_FILE in files else None
        if indptr.shape != (n_rows + 1,) or indptr.dtype != np.int64:
            raise StoreError(f"{path / INDPTR_FILE}: {indptr.dtype} {list(indptr.shape)}, expected int64 [{n_rows + 1}]")
        if indices.ndim != 1 or indices.dtype not in (np.int16, np.int32):
            raise StoreError(f"{path / INDICES_FILE}: {indices.dtype} {list(indices.shape)}, expected int32 or int16 [nnz]")
        labels = CSRLabels(indptr, indices, shape[1], data)
        labels.validate(str(path), full=True)
        if "nnz" in info and labels.nnz != int(info["nnz"]):
            raise StoreError(f"{path}: {labels.nnz} stored labels, the card records {info['nnz']}")
    else:
        raise StoreError(f"{card_path}: unknown label storage {storage!r} (dense or csr)")
    check_label_values(labels, card, path)

    try:
        regions = pq.read_table(path / REGIONS_FILE).to_pandas()
    except (pa.ArrowException, OSError, ValueError) as err:
        raise StoreError(f"{path / REGIONS_FILE}: damaged Parquet, cannot be read ({str(err).strip()}); rebuild the store") from None
    required = REQUIRED_COLUMNS + (("pos", "ref", "alt") if kind == "pair" else ())
    missing = [c for c in required if c not in regions.columns]
    if missing:
        raise StoreError(f"{path / REGIONS_FILE}: lacks column(s) {', '.join(missing)}")
    split = regions["split"]
    if not isinstance(split.dtype, pd.CategoricalDtype) or list(split.cat.categories) != list(SPLITS):
        split = pd.Categorical(split.astype(str), categories=list(SPLITS))
        if pd.isna(split).any():
            raise StoreError(f"{path / REGIONS_FILE}: split values other than {', '.join(SPLITS)}")
        regions["split"] = split
    counts = regions["split"].value_counts(sort=False).reindex(list(SPLITS), fill_value=0)
    for name in SPLITS:
        if int(counts[name]) != int(card["counts"].get(name, 0)):
            raise StoreError(f"{path}: {int(counts[name])} {name} rows, the card records {card['counts'].get(name)}")
    store = Store(path, card, regions, labels)
    if card.get("sequence_source") == "codes":
        if CODES_FILE not in files:
            raise StoreError(f"{card_path}: damaged card, {CODES_FILE} not listed")
        codes = _load_npy(path / CODES_FILE, path)
        length = store.input_length
        if codes.dtype != np.uint8 or codes.ndim != 2 or codes.shape[0] != n_rows or (length is not None and codes.shape[1] != length):
            raise StoreError(f"{path / CODES_FILE}: {codes.dtype} {list(codes.shape)}, expected uint8 [{n_rows}, {length}]")
        store.codes = codes
    return store

