"""MATLAB v5 MAT-files (the format of v5 to v7), indexed element by element, read lazily.

`scipy.io.loadmat` inflates and loads a whole variable at once; DeepSEA's test.mat holds 2.2 GB.
Here the file is indexed once (names, classes, shapes, where the data lies) and a variable is
memory-mapped: in place when it is stored uncompressed, or, when it is compressed (MATLAB's
default since v7), after inflating it once, as a stream, into a scratch file. Memory stays at a
few MB whatever the variable's size; disk use is its inflated size, until `close`.

Only real numeric and logical arrays are read; cells, structs, chars, sparse and complex arrays
are listed but raise InputError on `array`. Arrays keep MATLAB's shape (column-major order).
Format: MathWorks, "MAT-File Format" (matfile_format.pdf), chapter 1.
"""

from __future__ import annotations

import os
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from dnabench.io.files import InputError

__all__ = ["Mat5File", "VarInfo"]

_MI_DTYPES = {1: "i1", 2: "u1", 3: "i2", 4: "u2", 5: "i4", 6: "u4", 7: "f4", 9: "f8", 12: "i8", 13: "u8"}
_MI_MATRIX, _MI_COMPRESSED = 14, 15
_CLASSES = {1: "cell", 2: "struct", 3: "object", 4: "char", 5: "sparse", 6: "double", 7: "single", 8: "int8",
            9: "uint8", 10: "int16", 11: "uint16", 12: "int32", 13: "uint32", 14: "int64", 15: "uint64"}
_NUMERIC = set(range(6, 16))
_COMPLEX, _LOGICAL = 0x08, 0x02
_BLOCK = 1 << 22  # compressed bytes read at a time


@dataclass(frozen=True)
class VarInfo:
    """What a variable is, read from its header alone."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    matlab_class: str
    axes_reversed: bool  # True where the shape is MATLAB's reversed (HDF5 through h5py)


@dataclass
class _V5Var:
    info: VarInfo
    element: int  # file offset of the element's payload (after its tag)
    element_bytes: int
    compressed: bool
    data_offset: int  # uncompressed: file offset of the data; compressed: offset inside the inflated stream
    data_bytes: int
    small: bytes | None  # data of a small data element (4 bytes or fewer), held in the tag
    supported: bool


class _FileStream:
    """Sequential reads from a shared file handle, at its own position."""

    def __init__(self, f: BinaryIO, pos: int) -> None:
        self.f, self.pos = f, pos

    def read(self, n: int) -> bytes:
        self.f.seek(self.pos)
        data = self.f.read(n)
        self.pos += len(data)
        return data


class _InflateStream:
    """Sequential reads of a zlib-compressed element, inflated a block at a time."""

    def __init__(self, f: BinaryIO, pos: int, nbytes: int) -> None:
        self.f, self.pos, self.left = f, pos, nbytes
        self.z = zlib.decompressobj()
        self.buf = bytearray()
        self.tail = b""
        self.pos_out = 0  # bytes handed out so far

    def _more(self, want: int) -> bool:
        if not self.tail and self.left:
            self.f.seek(self.pos)
            self.tail = self.f.read(min(_BLOCK, self.left))
            if not self.tail:
                return False
            self.pos += len(self.tail)
            self.left -= len(self.tail)
        if not self.tail:
            if self.z.eof:
                return False
            rest = self.z.flush()
            self.buf += rest
            return bool(rest)
        out = self.z.decompress(self.tail, max(want, 1 << 20))
        self.tail = self.z.unconsumed_tail
        self.buf += out
        return True

    def read(self, n: int) -> bytes:
        while len(self.buf) < n and self._more(n - len(self.buf)):
            pass
        out = bytes(self.buf[:n])
        del self.buf[:n]
        self.pos_out += len(out)
        return out

    def copy_to(self, out: BinaryIO, n: int) -> int:
        """Write the next n inflated bytes to `out` without holding them all; returns bytes written."""
        done = 0
        while done < n:
            if not self.buf and not self._more(min(n - done, 1 << 24)):
                break
            take = min(len(self.buf), n - done)
            out.write(self.buf[:take])
            del self.buf[:take]
            done += take
        self.pos_out += done
        return done


def _tag(src: Any, endian: str) -> tuple[int, int, bytes | None]:
    """(type, nbytes, small data or None); the small format keeps up to 4 bytes inside the tag."""
    raw = src.read(8)
    if len(raw) < 8:
        raise EOFError("truncated element tag")
    first = int.from_bytes(raw[:4], endian)
    if first >> 16:
        size = first >> 16
        return first & 0xFFFF, size, raw[4 : 4 + size]
    return first, int.from_bytes(raw[4:], endian), None


def _payload(src: Any, nbytes: int, small: bytes | None) -> bytes:
    if small is not None:
        return small
    data = src.read(nbytes)
    src.read((-nbytes) % 8)  # sub-elements are padded to 8 bytes
    return data


class Mat5File:
    """The variables of one v5 MAT-file; `array(name)` is a read-only np.memmap in MATLAB's shape.

    `scratch` is the folder where compressed variables are inflated (default: a temporary folder).
    """

    def __init__(self, path: str | os.PathLike, scratch: str | os.PathLike | None = None) -> None:
        self.path = Path(path)
        self.scratch = Path(scratch) if scratch is not None else None
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._inflated: list[Path] = []
        self._vars: dict[str, _V5Var] = {}
        self._f: BinaryIO | None = open(self.path, "rb")
        try:
            self._index_v5()
        except EOFError as err:
            self.close()
            raise InputError(self.path, f"truncated MATLAB v5 file ({err})") from err
        except zlib.error as err:
            self.close()
            raise InputError(self.path, f"corrupt compressed variable ({err})") from err

    def _index_v5(self) -> None:
        assert self._f is not None
        f = self._f
        f.seek(0)
        head = f.read(128)
        self._endian = "little" if head[126:128] == b"IM" else "big"
        size = self.path.stat().st_size
        pos = 128
        while pos + 8 <= size:
            mtype, nbytes, _ = _tag(_FileStream(f, pos), self._endian)
            start = pos + 8
            if mtype == _MI_COMPRESSED:
                src: Any = _InflateStream(f, start, nbytes)
                inner, _, _ = _tag(src, self._endian)
                if inner == _MI_MATRIX:
                    self._read_matrix_header(src, start, nbytes, compressed=True)
            elif mtype == _MI_MATRIX:
                self._read_matrix_header(_FileStream(f, start), start, nbytes, compressed=False)
            pos = start + nbytes + (0 if mtype in (_MI_MATRIX, _MI_COMPRESSED) else (-nbytes) % 8)

    def _read_matrix_header(self, src: Any, element: int, element_bytes: int, compressed: bool) -> None:
        e = self._endian
        _, n, small = _tag(src, e)
        flags = _payload(src, n, small)
        word = int.from_bytes(flags[:4], e)
        cls, bits = word & 0xFF, (word >> 8) & 0xFF
        _, n, small = _tag(src, e)
        dims_raw = _payload(src, n, small)
        dims = tuple(int(d) for d in np.frombuffer(dims_raw, dtype=np.dtype("i4").newbyteorder("<" if e == "little" else ">")))
        _, n, small = _tag(src, e)
        name = _payload(src, n, small).decode("latin-1")
        supported = cls in _NUMERIC and not bits & _COMPLEX
        dtype, data_offset, data_bytes, data_small = np.dtype("u1"), 0, 0, None
        if supported:
            dtype_code, data_bytes, data_small = _tag(src, e)
            if dtype_code not in _MI_DTYPES:
                supported = False
            else:
                dtype = np.dtype(_MI_DTYPES[dtype_code]).newbyteorder("<" if e == "little" else ">")
                data_offset = src.pos_out if compressed else src.pos
        label = "logical" if bits & _LOGICAL else _CLASSES.get(cls, f"class {cls}")
        if bits & _COMPLEX:
            label = f"complex {label}"
        info = VarInfo(name, dims, dtype, label, axes_reversed=False)
        self._vars[name] = _V5Var(info, element, element_bytes, compressed, data_offset, data_bytes, data_small, supported)

    def _array(self, var: _V5Var) -> np.ndarray:
        info = var.info
        if not var.supported:
            raise InputError(self.path, f"variable {info.name} is a MATLAB {info.matlab_class} array; expected a real numeric array")
        count = int(np.prod(info.shape, dtype=np.int64))
        if count * info.dtype.itemsize != var.data_bytes:
            raise InputError(self.path, f"variable {info.name}: {var.data_bytes} data bytes for shape {info.shape} of {info.dtype}")
        if count == 0:
            return np.zeros(info.shape, dtype=info.dtype)
        if var.small is not None:
            return np.frombuffer(var.small[: var.data_bytes], dtype=info.dtype).reshape(info.shape, order="F")
        if not var.compressed:
            return np.memmap(self.path, dtype=info.dtype, mode="r", offset=var.data_offset, shape=info.shape, order="F")
        target = self._scratch_dir() / f"{self.path.stem}.{info.name}.{len(self._inflated)}.raw"
        self._inflated.append(target)
        assert self._f is not None
        src = _InflateStream(self._f, var.element, var.element_bytes)
        src.read(var.data_offset)  # the headers, already parsed
        try:
            with open(target, "wb") as out:
                got = src.copy_to(out, var.data_bytes)
        except zlib.error as err:
            raise InputError(self.path, f"variable {info.name}: corrupt compressed data ({err})") from err
        if got != var.data_bytes:
            raise InputError(self.path, f"variable {info.name}: truncated, {got} of {var.data_bytes} data bytes")
        return np.memmap(target, dtype=info.dtype, mode="r", shape=info.shape, order="F")

    def _scratch_dir(self) -> Path:
        if self.scratch is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="dnabench-mat-")
            self.scratch = Path(self._tmp.name)
        self.scratch.mkdir(parents=True, exist_ok=True)
        return self.scratch

    @property
    def names(self) -> list[str]:
        return list(self._vars)

    def info(self, name: str) -> VarInfo:
        """Shape, storage dtype and MATLAB class, from the variable's header."""
        return self._vars[name].info

    def array(self, name: str) -> np.ndarray:
        """The variable as a read-only array, memory-mapped where it is big."""
        return self._array(self._vars[name])

    def close(self) -> None:
        """Close the file and delete the inflated copies (arrays from them are invalid after)."""
        if self._f is not None:
            self._f.close()
            self._f = None
        for path in self._inflated:
            path.unlink(missing_ok=True)
        self._inflated = []
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
