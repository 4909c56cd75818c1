"""MATLAB .mat files of one-hot sequences and labels, read a slab of rows at a time.

`scipy.io.loadmat` loads whole variables into memory, and DeepSEA's files are large: train.mat
(v7.3) holds 17.6 GB of one-hot sequence, test.mat (v5) 2.2 GB. Here memory stays at one slab:

- v7.3 files are HDF5; a variable is an h5py Dataset, sliced along the rows (h5py is an optional
  dependency, imported when such a file is met: `pip install 'dnabench[deepsea]'`).
- v5 files are indexed and memory-mapped by `dnabench.io.mat5` (compressed variables are inflated
  once into a scratch file).

Shapes: a v5 array comes with MATLAB's shape, while h5py shows a MATLAB array with its axes
reversed (MATLAB (N, 4, 1000) is h5py (1000, 4, N)). `SequenceMat` therefore finds the axes by
their lengths (4 bases, the label count, the rows both variables share) and uses MATLAB's usual
orientation, rows first, only to break ties.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from dnabench.alphabet import BASES, N
from dnabench.io.files import InputError
from dnabench.io.mat5 import Mat5File, VarInfo

__all__ = ["MatFile", "SequenceMat", "VarInfo", "mat_version", "onehot_to_codes"]

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_HDF5_CACHE = 64 << 20  # h5py chunk cache, so a chunk cut by two slabs is inflated once


def mat_version(path: str | os.PathLike) -> str:
    """The MAT-file version, "7.3" (HDF5) or "5" (v5 to v7); InputError for others (v4 is not read)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    with open(path, "rb") as f:
        head = f.read(128)
        for offset in (0, 512, 1024, 2048):  # HDF5 puts its superblock after a user block (MATLAB: 512 bytes)
            f.seek(offset)
            if f.read(8) == _HDF5_SIGNATURE:
                return "7.3"
    if len(head) == 128 and head[126:128] in (b"IM", b"MI"):
        return "5"
    raise InputError(path, "not a MATLAB v5 or v7.3 .mat file (no MAT-file header, no HDF5 signature)")


class MatFile:
    """The variables of one .mat file (v5 or v7.3), each readable as a lazily sliced array.

    `array(name)` is an h5py Dataset (v7.3) or a read-only np.memmap (v5); `scratch` is the
    folder where compressed v5 variables are inflated (default: a temporary folder).
    """

    def __init__(self, path: str | os.PathLike, scratch: str | os.PathLike | None = None) -> None:
        self.path = Path(path)
        self.version = mat_version(self.path)
        self._h5: Any = None
        self._v5: Mat5File | None = None
        if self.version == "5":
            self._v5 = Mat5File(self.path, scratch)
            return
        try:
            import h5py
        except ImportError as err:
            raise ImportError(f"{self.path} is a MATLAB v7.3 (HDF5) file; reading it needs h5py: pip install 'dnabench[deepsea]'") from err
        try:
            self._h5 = h5py.File(self.path, "r", rdcc_nbytes=_HDF5_CACHE, rdcc_nslots=100_003)
        except OSError as err:
            raise InputError(self.path, f"unreadable HDF5 (MATLAB v7.3) file ({err})") from err

    @property
    def scratch(self) -> Path | None:
        return self._v5.scratch if self._v5 is not None else None

    @scratch.setter
    def scratch(self, folder: str | os.PathLike) -> None:
        if self._v5 is not None:
            self._v5.scratch = Path(folder)

    @property
    def names(self) -> list[str]:
        if self._v5 is not None:
            return self._v5.names
        import h5py

        return [k for k in self._h5.keys() if not k.startswith("#") and isinstance(self._h5[k], h5py.Dataset)]

    def __contains__(self, name: str) -> bool:
        return name in self.names

    def _require(self, name: str) -> None:
        if name not in self:
            raise InputError(self.path, f"no variable {name!r}; variables: {', '.join(self.names) or 'none'}")

    def info(self, name: str) -> VarInfo:
        """Shape, dtype and MATLAB class of a variable, without reading its data."""
        self._require(name)
        if self._v5 is not None:
            return self._v5.info(name)
        ds = self._h5[name]
        cls = ds.attrs.get("MATLAB_class", b"")
        cls = cls.decode() if isinstance(cls, bytes) else str(cls)
        return VarInfo(name, tuple(int(d) for d in ds.shape), ds.dtype, cls or "hdf5", axes_reversed=True)

    def array(self, name: str) -> Any:
        """The variable as a lazily sliced array: h5py Dataset (v7.3) or np.memmap (v5)."""
        self._require(name)
        if self._v5 is not None:
            return self._v5.array(name)
        ds = self._h5[name]
        if ds.dtype.kind not in "biuf":
            raise InputError(self.path, f"variable {name} has dtype {ds.dtype}; expected a real numeric array")
        return ds

    def close(self) -> None:
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None
        if self._v5 is not None:
            self._v5.close()

    def __enter__(self) -> MatFile:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# ----- one-hot sequences + labels ---------------------------------------------------------------


def onehot_to_codes(x: np.ndarray, base_order: str = "ACGT") -> tuple[np.ndarray, np.ndarray]:
    """[n, 4, L] one-hot (0/1 values) -> (uint8 codes [n, L], bases set per column [n, L]).

    Channel i is base `base_order[i]`; an all-zero column is N. Columns with more than one base
    set get code N too; the caller sees them in the second array (> 1) and decides.
    """
    lut = np.full(7, N, dtype=np.uint8)
    for i, base in enumerate(base_order):
        lut[i] = BASES.index(base)
    u = x.view(np.uint8) if x.dtype == bool else x.astype(np.uint8, copy=False)
    count = u[:, 0] + u[:, 1] + u[:, 2] + u[:, 3]
    which = u[:, 1] + u[:, 2] * np.uint8(2) + u[:, 3] * np.uint8(3)
    codes = lut[which]
    codes[count != 1] = N
    return codes, count


def _first_bad(bad: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), bad.shape))


def _check_binary(a: np.ndarray) -> np.ndarray | None:
    """Boolean mask of values other than 0 and 1, or None when every value is 0 or 1."""
    if a.dtype == bool:
        return None
    if a.dtype.kind in "iu":
        if a.size == 0 or (a.min() >= 0 and a.max() <= 1):
            return None
        return (a < 0) | (a > 1)
    bad = (a != 0) & (a != 1)  # NaN counts as bad
    return bad if bad.any() else None


class SequenceMat:
    """One .mat file holding one-hot sequences (x) and binary labels (y) for the same rows.

    Axes are found by length: y has one axis of `n_labels` (the other counts the rows), x has
    one axis of 4 (bases), one of the row count and one of `length`. Raises InputError naming
    the file and variable when the shapes cannot be read that way.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        x_name: str,
        y_name: str,
        *,
        length: int | None = None,
        n_labels: int | None = None,
        base_order: str = "ACGT",
        scratch: str | os.PathLike | None = None,
    ) -> None:
        if sorted(base_order) != sorted("ACGT"):
            raise ValueError(f"base_order must be a permutation of ACGT, got {base_order!r}")
        self.path = Path(path)
        self.x_name, self.y_name, self.base_order = x_name, y_name, base_order
        self.mat = MatFile(self.path, scratch=scratch)
        try:
            self.x_info, self.y_info = self.mat.info(x_name), self.mat.info(y_name)
            self._layout(length, n_labels)
        except BaseException:
            self.mat.close()
            raise

    def _bad_shape(self, info: VarInfo, why: str) -> InputError:
        order = "h5py order, MATLAB's reversed" if info.axes_reversed else "MATLAB order"
        return InputError(self.path, f"variable {info.name}: shape {list(info.shape)} ({order}) {why}")

    def _layout(self, length: int | None, n_labels: int | None) -> None:
        xs, ys, rev = self.x_info.shape, self.y_info.shape, self.x_info.axes_reversed
        if len(ys) != 2:
            raise self._bad_shape(self.y_info, "is not 2-D [rows, labels]")
        label_axes = [k for k in (0, 1) if n_labels is None or ys[k] == n_labels]
        if not label_axes:
            raise self._bad_shape(self.y_info, f"has no axis of {n_labels} labels")
        preferred = 0 if rev else 1  # MATLAB stores [rows, labels]
        label_axis = preferred if preferred in label_axes else label_axes[0]
        self.y_sample_axis = 1 - label_axis
        self.n_rows, self.n_labels = int(ys[self.y_sample_axis]), int(ys[label_axis])
        if len(xs) != 3:
            raise self._bad_shape(self.x_info, "is not 3-D [rows, 4 bases, positions]")
        fits = [
            p for p in itertools.permutations(range(3))
            if xs[p[0]] == self.n_rows and xs[p[1]] == 4 and (length is None or xs[p[2]] == length)
        ]
        if not fits:
            want = f"{length} positions" if length is not None else "positions"
            raise self._bad_shape(self.x_info, f"does not hold {self.n_rows} rows (as {self.y_name}) x 4 bases x {want}")
        natural = (2, 1, 0) if rev else (0, 1, 2)  # MATLAB stores [rows, 4, positions]
        if natural in fits:
            self.x_axes = natural
        elif len(fits) == 1:
            self.x_axes = fits[0]
        else:
            raise self._bad_shape(self.x_info, "is ambiguous: more than one axis could be the rows or the positions")
        self.length = int(xs[self.x_axes[2]])

    @property
    def layout(self) -> dict:
        """How the file was read, for a store card."""
        s, a, p = self.x_axes
        return {
            "file": self.path.name,
            "format": "MATLAB v7.3 (HDF5)" if self.mat.version == "7.3" else "MATLAB v5",
            "shape_order": "h5py (MATLAB's reversed)" if self.x_info.axes_reversed else "MATLAB",
            "x": {"name": self.x_name, "shape": list(self.x_info.shape), "dtype": str(self.x_info.dtype),
                  "matlab_class": self.x_info.matlab_class, "axes": {"rows": s, "bases": a, "positions": p}},
            "y": {"name": self.y_name, "shape": list(self.y_info.shape), "dtype": str(self.y_info.dtype),
                  "matlab_class": self.y_info.matlab_class, "axes": {"rows": self.y_sample_axis, "labels": 1 - self.y_sample_axis}},
            "base_order": self.base_order,
            "rows": self.n_rows,
        }

    def chunks(self, chunk_rows: int = 8192) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(codes uint8 [n, length], labels uint8 [n, n_labels]) for consecutive slabs of rows.

        An HDF5 slab is rounded to whole HDF5 chunks along the rows where they are not much
        bigger than a slab, so a chunk is not inflated once per slab that cuts it.
        """
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
        x, y = self.mat.array(self.x_name), self.mat.array(self.y_name)
        s, a, p = self.x_axes
        step = int(chunk_rows)
        hdf5_chunks = getattr(x, "chunks", None)
        if hdf5_chunks:
            c = int(hdf5_chunks[s])
            if c <= step:
                step = -(-step // c) * c
            elif c <= 8 * step:
                step = c
        for start in range(0, self.n_rows, step):
            stop = min(start + step, self.n_rows)
            sel: list[Any] = [slice(None)] * 3
            sel[s] = slice(start, stop)
            xb = np.ascontiguousarray(np.transpose(np.asarray(x[tuple(sel)]), (s, a, p)))  # [n, 4, L]
            ysel: list[Any] = [slice(None)] * 2
            ysel[self.y_sample_axis] = slice(start, stop)
            yb = np.asarray(y[tuple(ysel)])
            if self.y_sample_axis == 1:
                yb = yb.T
            yield self._codes(xb, start), self._labels(yb, start)

    def _codes(self, xb: np.ndarray, start: int) -> np.ndarray:
        bad = _check_binary(xb)
        if bad is not None:
            r, b, q = _first_bad(bad)
            raise InputError(self.path, f"variable {self.x_name}: one-hot values must be 0 or 1, found {xb[r, b, q].item()!r} at row {start + r}, base channel {b}, position {q}")
        codes, count = onehot_to_codes(xb, self.base_order)
        if (count > 1).any():
            r, q = _first_bad(count > 1)
            raise InputError(self.path, f"variable {self.x_name}: row {start + r}, position {q} has {int(count[r, q])} bases set")
        return codes

    def _labels(self, yb: np.ndarray, start: int) -> np.ndarray:
        bad = _check_binary(yb)
        if bad is not None:
            r, j = _first_bad(bad)
            raise InputError(self.path, f"variable {self.y_name}: label values must be 0 or 1, found {yb[r, j].item()!r} at row {start + r}, label {j}")
        return yb.view(np.uint8) if yb.dtype == bool else yb.astype(np.uint8)

    def close(self) -> None:
        self.mat.close()

    def __enter__(self) -> SequenceMat:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
