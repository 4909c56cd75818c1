"""Nucleotide codes shared by the genome cache, the tokenizers and the models.

Every sequence inside dnabench is a uint8 array of codes A=0, C=1, G=2, T=3, N=4: one byte
a base, cheap to gather from a memory map and to move to a GPU. The complement of code c
(c < 4) is 3 - c, so reverse complement is a flip plus one table lookup.
"""

from __future__ import annotations

import numpy as np

A, C, G, T, N = 0, 1, 2, 3, 4
BASES = "ACGTN"
NUM_BASES = 4
INVALID = 255

#: code -> ASCII letter (uppercase), for codes 0..4.
CODE_TO_ASCII = np.frombuffer(BASES.encode(), dtype=np.uint8).copy()

#: code -> complementary code.
COMPLEMENT = np.array([T, G, C, A, N], dtype=np.uint8)

IUPAC_AMBIGUOUS = "RYSWKMBDHVN"


def _ascii_table() -> np.ndarray:
    table = np.full(256, INVALID, dtype=np.uint8)
    for code, letter in enumerate("ACGT"):
        table[ord(letter)] = code
        table[ord(letter.lower())] = code
    for letter in IUPAC_AMBIGUOUS:
        table[ord(letter)] = N
        table[ord(letter.lower())] = N
    # U is read as T so that RNA-style inputs still encode.
    table[ord("U")] = T
    table[ord("u")] = T
    return table


#: ASCII byte -> code; IUPAC ambiguity letters -> N; anything else -> INVALID (255).
ASCII_TO_CODE = _ascii_table()

#: ASCII byte -> 1 where the letter is lowercase (soft-masked), else 0.
ASCII_IS_LOWER = np.zeros(256, dtype=np.uint8)
ASCII_IS_LOWER[np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", dtype=np.uint8)] = 1


def encode(seq: str | bytes) -> np.ndarray:
    """Turn a DNA string into codes; raise ValueError naming the first bad letter."""
    raw = np.frombuffer(seq.encode() if isinstance(seq, str) else seq, dtype=np.uint8)
    codes = ASCII_TO_CODE[raw]
    bad = np.flatnonzero(codes == INVALID)
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"invalid nucleotide {chr(raw[i])!r} at position {i}: expected ACGTN or an IUPAC code")
    return codes


def decode(codes: np.ndarray) -> str:
    """Turn codes back into an uppercase string."""
    return CODE_TO_ASCII[np.asarray(codes, dtype=np.uint8)].tobytes().decode()


def complement(codes: np.ndarray) -> np.ndarray:
    """Complement of codes, by arithmetic rather than a table lookup (several times faster in NumPy).

    For c < 4, c ^ 3 swaps A<->T and C<->G; for N (4) the xor mask is 0.
    """
    codes = np.asarray(codes, dtype=np.uint8)
    return codes ^ (3 - (codes >> 2) * 3).astype(np.uint8)


def reverse_complement(codes: np.ndarray) -> np.ndarray:
    """Reverse complement along the last axis (works on one sequence or a batch)."""
    return complement(np.asarray(codes)[..., ::-1])


def shift_and_flip(
    codes: np.ndarray, shifts: np.ndarray | None = None, flips: np.ndarray | None = None
) -> np.ndarray:
    """Rows of a freshly gathered ``[B, L]`` batch shifted (``shift_codes``), then reverse-complemented
    where ``flips`` is True. Writes into ``codes`` (gathers with an index array return copies)."""
    if shifts is not None and np.any(shifts):
        codes = shift_codes(codes, shifts)
    if flips is not None and np.any(flips):
        codes[flips] = reverse_complement(codes[flips])
    return codes


def one_hot(codes: np.ndarray, dtype: type = np.float32) -> np.ndarray:
    """[..., L] codes -> [..., L, 4] one-hot; N (and anything >= 4) is all zeros."""
    eye = np.vstack([np.eye(NUM_BASES, dtype=dtype), np.zeros((256 - NUM_BASES, NUM_BASES), dtype=dtype)])
    return eye[np.asarray(codes, dtype=np.uint8)]


def shift_codes(codes: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Each row i moved by shifts[i] bases (out[i, j] = codes[i, j + shift]), N where that leaves the row.

    For sequences held without their genome (tables, DeepSEA's files), where a shifted window
    has no real flank to show.
    """
    length = codes.shape[1]
    src = np.arange(length, dtype=np.int64)[None, :] + np.asarray(shifts, dtype=np.int64)[:, None]
    inside = (src >= 0) & (src < length)
    out = np.take_along_axis(codes, np.clip(src, 0, length - 1), axis=1)
    out[~inside] = N
    return out
