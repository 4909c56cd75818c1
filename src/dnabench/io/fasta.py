"""Streaming FASTA reader: records as blocks of nucleotide codes, in bounded memory.

A genome FASTA is read in large blocks, so a chromosome written on one line costs no more
memory than one written in 60-column lines, and no Python code runs per line or per base:
newlines are deleted and letters are mapped to codes with one table lookup per block.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from dnabench.alphabet import ASCII_IS_LOWER, ASCII_TO_CODE, INVALID
from dnabench.io.files import UTF8_BOM, InputError, read_chunks_with_position

_WHITESPACE = b" \t\r\n"


@dataclass
class Header:
    """Start of a record: its name (first word after '>') and its 1-based line."""

    name: str
    line: int


@dataclass
class SequenceBlock:
    """Codes of a run of sequence lines, with the soft-mask flag of each base (1 = lowercase)."""

    codes: np.ndarray
    lowercase: np.ndarray


def read_fasta_blocks(
    path: str | os.PathLike,
    block_size: int = 1 << 24,
    on_progress: Callable[[int], None] | None = None,
) -> Iterator[Header | SequenceBlock]:
    """Yield Header and SequenceBlock items in file order.

    Letters outside ACGTN and the IUPAC codes raise InputError naming the file, line and letter;
    so does a record without sequence. A UTF-8 byte order mark at the start is skipped.
    `on_progress` is called with the number of file bytes consumed so far.
    """
    line = 1
    carry = b""  # a header line cut by the block border
    at_line_start = True
    seen_header = False
    empty: Header | None = None  # the last header, until a base of its record is seen
    first = True
    for raw, consumed in read_chunks_with_position(path, block_size):
        if first:
            first = False
            if raw.startswith(UTF8_BOM):
                raw = raw[len(UTF8_BOM) :]
        buf = carry + raw if carry else raw
        carry = b""
        pos, size = 0, len(buf)
        while pos < size:
            if at_line_start and buf[pos] == 0x3E:  # '>'
                eol = buf.find(b"\n", pos)
                if eol == -1:
                    carry = buf[pos:]
                    break
                if empty is not None:
                    _raise_empty(path, empty)
                empty = _header(path, buf[pos + 1 : eol], line)
                yield empty
                seen_header = True
                line += 1
                pos = eol + 1
                continue
            nxt = buf.find(b"\n>", pos)
            end = size if nxt == -1 else nxt + 1
            segment = buf[pos:end]
            if not seen_header and segment.strip(_WHITESPACE):
                raise InputError(path, "expected a '>' header line before sequence (is this a FASTA file?)", line)
            block = _encode_segment(path, segment, line)
            if block is not None:
                empty = None
                yield block
            line += segment.count(b"\n")
            at_line_start = segment.endswith(b"\n")
            pos = end
        if on_progress is not None:
            on_progress(consumed)
    if carry:
        if empty is not None:
            _raise_empty(path, empty)
        empty = _header(path, carry, line)
        yield empty
        seen_header = True
    if not seen_header:
        raise InputError(path, "no FASTA records (empty file?)")
    if empty is not None:
        _raise_empty(path, empty)


def _raise_empty(path: str | os.PathLike, header: Header) -> None:
    raise InputError(path, f"record {header.name!r} has no sequence (a header followed by another header or the end of the file)", header.line)


def _header(path: str | os.PathLike, text: bytes, line: int) -> Header:
    words = text.strip(_WHITESPACE).split()
    if not words:
        raise InputError(path, "empty record name after '>'", line)
    return Header(words[0].decode("ascii", errors="replace"), line)


def _encode_segment(path: str | os.PathLike, segment: bytes, line: int) -> SequenceBlock | None:
    letters = segment.translate(None, _WHITESPACE)
    if not letters:
        return None
    raw = np.frombuffer(letters, dtype=np.uint8)
    codes = ASCII_TO_CODE[raw]
    if (codes == INVALID).any():
        _raise_bad_letter(path, segment, line)
    return SequenceBlock(codes, ASCII_IS_LOWER[raw])


def _raise_bad_letter(path: str | os.PathLike, segment: bytes, line: int) -> None:
    raw = np.frombuffer(segment, dtype=np.uint8)
    bad = (ASCII_TO_CODE[raw] == INVALID) & ~np.isin(raw, np.frombuffer(_WHITESPACE, dtype=np.uint8))
    first = int(np.flatnonzero(bad)[0])
    where = line + segment.count(b"\n", 0, first)
    letter = chr(raw[first])
    raise InputError(
        path, f"invalid letter {letter!r} in sequence: expected A, C, G, T, N or an IUPAC ambiguity code", where
    )
