"""UCSC .2bit reader: records decoded into nucleotide codes chunk by chunk.

Written by hand on NumPy because the format is small and a table lookup decodes a packed
byte into four codes at memory speed; the C readers on PyPI decode to Python strings.
Layout (kent source, twoBit.h): a header (signature, version, count), an index of names and
offsets, and per record the size, N blocks, soft-mask blocks and 2-bit bases (T C A G).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dnabench.alphabet import A, C, G, N, T
from dnabench.io.files import InputError

SIGNATURE = 0x1A412743
_TWOBIT_TO_CODE = np.array([T, C, A, G], dtype=np.uint8)
#: packed byte -> its four codes, most significant pair first.
_BYTE_TO_CODES = _TWOBIT_TO_CODE[(np.arange(256)[:, None] >> np.array([6, 4, 2, 0])) & 3].astype(np.uint8)


@dataclass
class TwoBitRecord:
    """One sequence of a .2bit file, decoded lazily."""

    name: str
    length: int
    n_blocks: np.ndarray  # [K, 2] start, end
    mask_blocks: np.ndarray  # [K, 2] start, end
    dna_offset: int


def read_twobit_index(path: str | os.PathLike) -> list[TwoBitRecord]:
    """Parse the header, the index and every record header (not the bases)."""
    path = Path(path)
    data = np.memmap(path, dtype=np.uint8, mode="r")
    if data.size < 16:
        raise InputError(path, "too short for a .2bit file")
    sig_le = int(data[:4].view("<u4")[0])
    if sig_le == SIGNATURE:
        endian = "<"
    elif int(data[:4].view(">u4")[0]) == SIGNATURE:
        endian = ">"
    else:
        raise InputError(path, f"not a .2bit file (bad signature 0x{sig_le:08X}, a .2bit starts with 0x{SIGNATURE:08X})")
    version, count = (int(x) for x in data[4:12].view(f"{endian}u4"))
    if version not in (0, 1):
        raise InputError(path, f"unsupported .2bit version {version}")
    offset_type = f"{endian}u8" if version == 1 else f"{endian}u4"
    offset_size = 8 if version == 1 else 4
    u4 = f"{endian}u4"
    records: list[TwoBitRecord] = []
    pos = 16
    try:
        for _ in range(count):
            name_size = int(data[pos])
            name = bytes(data[pos + 1 : pos + 1 + name_size]).decode("ascii")
            pos += 1 + name_size
            rec_offset = int(data[pos : pos + offset_size].view(offset_type)[0])
            pos += offset_size
            records.append(_read_record_header(path, data, rec_offset, name, u4))
    except (IndexError, ValueError) as err:
        raise InputError(path, f"truncated or corrupt .2bit index ({err})") from err
    return records


def _read_record_header(path: Path, data: np.ndarray, pos: int, name: str, u4: str) -> TwoBitRecord:
    def words(start: int, n: int) -> np.ndarray:
        out = data[start : start + 4 * n].view(u4).astype(np.int64)
        if out.size != n:
            raise InputError(path, f"record {name!r} is truncated")
        return out

    length, n_count = (int(x) for x in words(pos, 2))
    pos += 8
    n_starts, n_sizes = words(pos, n_count), words(pos + 4 * n_count, n_count)
    pos += 8 * n_count
    m_count = int(words(pos, 1)[0])
    pos += 4
    m_starts, m_sizes = words(pos, m_count), words(pos + 4 * m_count, m_count)
    pos += 8 * m_count + 4  # + reserved word
    if pos + (length + 3) // 4 > data.size:
        raise InputError(path, f"record {name!r} is truncated: {length} bases announced")
    return TwoBitRecord(
        name,
        length,
        np.stack([n_starts, n_starts + n_sizes], axis=1),
        np.stack([m_starts, m_starts + m_sizes], axis=1),
        pos,
    )


def iter_twobit_chunks(
    path: str | os.PathLike,
    record: TwoBitRecord,
    chunk_bases: int = 1 << 25,
    on_progress: Callable[[int], None] | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (codes, lowercase flags) of one record in chunks of at most `chunk_bases` bases."""
    chunk_bases -= chunk_bases % 4
    data = np.memmap(path, dtype=np.uint8, mode="r")
    for start in range(0, record.length, chunk_bases):
        end = min(start + chunk_bases, record.length)
        packed = data[record.dna_offset + start // 4 : record.dna_offset + (end + 3) // 4]
        codes = _BYTE_TO_CODES[packed].reshape(-1)[: end - start]
        _fill_blocks(codes, record.n_blocks, start, end, N)
        lower = np.zeros(end - start, dtype=np.uint8)
        _fill_blocks(lower, record.mask_blocks, start, end, 1)
        if on_progress is not None:
            on_progress(record.dna_offset + (end + 3) // 4)
        yield codes, lower


def _fill_blocks(out: np.ndarray, blocks: np.ndarray, start: int, end: int, value: int) -> None:
    """Set out[block ∩ [start, end)] = value for every block, vectorised (hg38 has millions of mask blocks)."""
    hit = (blocks[:, 0] < end) & (blocks[:, 1] > start)
    if not hit.any():
        return
    b0 = np.clip(blocks[hit, 0], start, end) - start
    b1 = np.clip(blocks[hit, 1], start, end) - start
    depth = np.zeros(end - start + 1, dtype=np.int32)
    np.add.at(depth, b0, 1)
    np.add.at(depth, b1, -1)
    out[np.cumsum(depth[:-1]) > 0] = value
