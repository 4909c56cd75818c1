"""Pretraining text: non-overlapping fixed-length chunks of a genome or of unlabeled sequences, both strands.

Masked-language-model pretraining (paper 5.3) reads a genome cut into windows of `length`
bases at offsets 0, length, 2 x length, ... of every sequence (chromosome, FASTA record or
table row), each window on both strands. A window that runs past its sequence's end is
filled with N up to `length`. A window is skipped, and counted, when it holds fewer than
`min_length` real bases or when more than `max_n_fraction` of its real bases are N (the fill
is not counted as N: it is never a prediction target). A held-out fraction of windows (seeded;
both strands of a window go to the same side, so the validation loss never meets the reverse
complement of a training chunk) gives the validation set.

Sample `i` of a `ChunkSource` is window `i // 2` on strand `+` (even i) or `-` (odd i).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from dnabench.alphabet import N, reverse_complement, shift_codes
from dnabench.data.loader import BatchSource
from dnabench.data.splits import SPLITS, normalise_split, random_split
from dnabench.data.tables import encode_sequences, read_table
from dnabench.io.files import InputError, open_binary

__all__ = [
    "ChunkCounts",
    "ChunkPart",
    "ChunkSource",
    "chunk_genome",
    "chunk_sequences",
    "read_sequences",
    "tile_windows",
]

#: bases read at a time when counting N in a memory-mapped genome (bounded memory)
_COUNT_BLOCK = 1 << 26


@dataclass
class ChunkCounts:
    """What chunking one source gave: windows cut, kept, and skipped for each reason."""

    source: str
    sequences: int
    windows: int
    kept: int
    skipped_n: int
    skipped_short: int
    bases_kept: int

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class ChunkPart:
    """The kept windows of one source: each is `sequence[start : start + real]`, N-filled to the chunk length."""

    name: str
    sequence: np.ndarray
    starts: np.ndarray
    real: np.ndarray
    counts: ChunkCounts


def tile_windows(lengths: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(record of each window, its start within the record, its real bases) of windows tiling records.

    Records of `lengths` bases are cut at 0, length, 2 x length, ...; the last window of a
    record holds what is left (fewer than `length` bases when the length does not divide).
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    per_record = -(-lengths // length)
    record = np.repeat(np.arange(lengths.size, dtype=np.int64), per_record)
    first = np.cumsum(per_record) - per_record
    within = (np.arange(record.size, dtype=np.int64) - first[record]) * length
    real = np.minimum(lengths[record] - within, length)
    return record, within, real


def _n_counts(sequence: np.ndarray, starts: np.ndarray, real: np.ndarray) -> np.ndarray:
    """N bases of each window `sequence[start : start + real]`; windows are sorted and back to back.

    Read block by block, so a memory-mapped genome costs no more memory than one block.
    """
    out = np.zeros(starts.size, dtype=np.int64)
    ends = starts + real
    first = 0
    while first < starts.size:
        lo = int(starts[first])
        last = int(np.searchsorted(ends, lo + _COUNT_BLOCK, side="right"))
        last = max(last, first + 1)
        hi = int(ends[last - 1])
        is_n = np.asarray(sequence[lo:hi]) == N
        out[first:last] = np.add.reduceat(is_n, starts[first:last] - lo, dtype=np.int64)
        first = last
    return out


def _keep(
    name: str, sequence: np.ndarray, starts: np.ndarray, real: np.ndarray, sequences: int,
    max_n_fraction: float, min_length: int,
) -> ChunkPart:
    """The windows that pass the length and N filters, with the counts of those that do not."""
    long_enough = real >= min_length
    n_count = _n_counts(sequence, starts, real) if starts.size else np.zeros(0, np.int64)
    clean = n_count <= max_n_fraction * real
    keep = long_enough & clean
    counts = ChunkCounts(
        source=name, sequences=sequences, windows=int(starts.size), kept=int(keep.sum()),
        skipped_n=int((long_enough & ~clean).sum()), skipped_short=int((~long_enough).sum()),
        bases_kept=int(real[keep].sum()),
    )
    return ChunkPart(name, sequence, starts[keep], real[keep], counts)


def _check_filters(length: int, max_n_fraction: float, min_length: int) -> None:
    if length < 1:
        raise ValueError(f"chunk length must be >= 1, got {length}")
    if not 0.0 <= max_n_fraction <= 1.0:
        raise ValueError(f"max_n_fraction must be in [0, 1], got {max_n_fraction}")
    if not 1 <= min_length <= length:
        raise ValueError(f"min_length must be in [1, length={length}], got {min_length}")


def chunk_genome(genome, length: int = 1024, max_n_fraction: float = 0.1, min_length: int | None = None) -> ChunkPart:
    """Windows of every chromosome of a genome cache (`dnabench.io.genome.Genome`)."""
    min_length = length // 2 if min_length is None else min_length
    _check_filters(length, max_n_fraction, min_length)
    record, within, real = tile_windows(genome.lengths, length)
    starts = genome.offsets[record] + within
    return _keep(str(genome.path), genome.sequence, starts, real, len(genome), max_n_fraction, min_length)


def chunk_sequences(
    name: str, codes: np.ndarray, lengths: np.ndarray, length: int = 1024, max_n_fraction: float = 0.1,
    min_length: int | None = None,
) -> ChunkPart:
    """Windows of in-memory sequences: `codes` is every record's bases back to back, `lengths` their sizes."""
    min_length = length // 2 if min_length is None else min_length
    _check_filters(length, max_n_fraction, min_length)
    lengths = np.asarray(lengths, dtype=np.int64)
    if int(lengths.sum()) != codes.size:
        raise ValueError(f"{name}: record lengths sum to {int(lengths.sum())} but there are {codes.size} bases")
    record, within, real = tile_windows(lengths, length)
    starts = (np.cumsum(lengths) - lengths)[record] + within
    return _keep(name, codes, starts, real, int(lengths.size), max_n_fraction, min_length)


def _is_fasta(path: Path) -> bool:
    with open_binary(path) as f:
        head = f.read(4096).lstrip()
    return head.startswith(b">")


def _read_fasta(path: Path) -> tuple[np.ndarray, np.ndarray]:
    from dnabench.io.fasta import Header, read_fasta_blocks

    blocks: list[np.ndarray] = []
    lengths: list[int] = []
    for item in read_fasta_blocks(path):
        if isinstance(item, Header):
            lengths.append(0)
        else:
            blocks.append(item.codes)
            lengths[-1] += item.codes.size
    codes = np.concatenate(blocks) if blocks else np.zeros(0, np.uint8)
    return codes, np.array(lengths, dtype=np.int64)


def _table_rows(path: Path, frame, splits: tuple[str, ...], seed: int) -> np.ndarray:
    """Rows of a table in `splits`: by its split column, or by the seeded 80/10/10 split that
    `dnabench train` draws for a table without one (the same rows for the same seed)."""
    columns = {c.lower(): c for c in frame.columns}
    if "split" in columns:
        uniques, inverse = np.unique(frame[columns["split"]].astype(str).to_numpy(), return_inverse=True)
        values = np.array([_split_name(path, u) for u in uniques], dtype=object)[inverse.reshape(-1)]
    else:
        values = random_split(len(frame), (0.8, 0.1, 0.1), seed).astype(str)
    return np.flatnonzero(np.isin(values, splits))


def _split_name(path: Path, value: str) -> str:
    try:
        return normalise_split(value)
    except KeyError as err:
        raise InputError(path, str(err.args[0])) from None


def read_sequences(
    path: str | os.PathLike, splits: tuple[str, ...] | list[str] | None = None, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Unlabeled sequences of a FASTA file or a table with a `sequence` column, back to back.

    Returns (codes of every record concatenated, record lengths, a description). `splits`
    keeps only a table's rows of those splits (its `split` column, or the seeded split of
    `dnabench train`), so that pretraining can leave out the rows a later score is computed
    on; a FASTA file has no splits and is read whole.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    wanted = tuple(normalise_split(s) for s in splits) if splits else None
    if _is_fasta(path):
        codes, lengths = _read_fasta(path)
        return codes, lengths, {"path": str(path), "format": "fasta", "records": int(lengths.size), "splits": "all records (FASTA has no splits)"}
    frame = read_table(path)
    columns = {c.lower(): c for c in frame.columns}
    if "sequence" not in columns:
        raise InputError(path, f"no 'sequence' column (columns: {', '.join(map(str, frame.columns))}) and not a FASTA file")
    rows = np.arange(len(frame)) if wanted is None else _table_rows(path, frame, wanted, seed)
    described = {"path": str(path), "format": "table", "rows": int(len(frame)), "rows_used": int(rows.size),
                 "splits": list(wanted) if wanted else list(SPLITS), "seed": seed}
    if rows.size == 0:
        return np.zeros(0, np.uint8), np.zeros(0, np.int64), described
    padded, lengths = encode_sequences(frame[columns["sequence"]].iloc[rows].reset_index(drop=True), str(path))
    real = np.arange(padded.shape[1])[None, :] < lengths[:, None]
    return padded[real], lengths.astype(np.int64), described


class ChunkSource(BatchSource):
    """Batches of chunks of one or more sources; sample `i` is window `i // 2` on strand `+` / `-`.

    Codes are gathered per batch with one fancy-indexing call per source part (a memory-mapped
    genome is read only where the batch's windows are). There are no labels (`[B, 0]`).
    """

    def __init__(self, parts: list[ChunkPart], length: int) -> None:
        self.parts = [p for p in parts if p.starts.size]
        self.length = int(length)
        sizes = np.array([p.starts.size for p in self.parts], dtype=np.int64)
        self.bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.counts = [p.counts for p in parts]

    @property
    def num_windows(self) -> int:
        return int(self.bounds[-1])

    def __len__(self) -> int:
        return 2 * self.num_windows

    def windows(self, windows: np.ndarray) -> np.ndarray:
        """Codes [B, length] of windows on the + strand, N-filled past each window's real bases."""
        windows = np.asarray(windows, dtype=np.int64)
        out = np.full((windows.size, self.length), N, dtype=np.uint8)
        part_of = np.searchsorted(self.bounds, windows, side="right") - 1
        offsets = np.arange(self.length, dtype=np.int64)
        for p in np.unique(part_of):
            rows = np.flatnonzero(part_of == p)
            part = self.parts[p]
            local = windows[rows] - self.bounds[p]
            starts, real = part.starts[local], part.real[local]
            inside = offsets[None, :] < real[:, None]
            index = np.where(inside, starts[:, None] + offsets[None, :], 0)
            out[rows] = np.where(inside, part.sequence[index], N)
        return out

    def codes(self, indices: np.ndarray, shifts: np.ndarray | None = None, flips: np.ndarray | None = None) -> np.ndarray:
        indices = np.asarray(indices, dtype=np.int64)
        if indices.size and (indices.min() < 0 or indices.max() >= len(self)):
            raise IndexError(f"chunk sample out of range 0..{len(self) - 1}")
        out = self.windows(indices // 2)
        if shifts is not None and np.any(shifts):
            out = shift_codes(out, shifts)
        minus = (indices % 2) == 1
        if flips is not None:
            minus = minus ^ np.asarray(flips, dtype=bool)
        if minus.any():
            out[minus] = reverse_complement(out[minus])
        return out

    def labels(self, indices: np.ndarray) -> np.ndarray:
        return np.zeros((len(indices), 0), dtype=np.float32)

    def split(self, val_fraction: float, seed: int = 0) -> dict[str, np.ndarray]:
        """Sample indices of "train" and "val": a seeded `val_fraction` of windows, both strands each."""
        if not 0.0 < val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
        n = self.num_windows
        if n < 2:
            raise ValueError(f"{n} chunk(s) after filtering: need at least 2 for a training and a validation set")
        n_val = min(max(1, int(round(val_fraction * n))), n - 1)
        order = np.random.default_rng((seed, 1024)).permutation(n)
        val = np.zeros(n, dtype=bool)
        val[order[:n_val]] = True

        def both(windows: np.ndarray) -> np.ndarray:
            return np.stack([2 * windows, 2 * windows + 1], axis=1).reshape(-1)

        return {"train": both(np.flatnonzero(~val)), "val": both(np.flatnonzero(val))}
