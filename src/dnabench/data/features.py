"""Features folders: backbone representations of a store's rows, written once, read as a batch source.

GeneExp, CausalSNP and MPRAProm train their upper models on what a Track7878 backbone makes of
each row (paper 5.4, appendix A.4-A.6). Running the backbone once and keeping the result makes
every later epoch and tree fit a memory-mapped read instead of 200 forward passes a gene.

A features folder holds two files:

- ``features.json``: ``format`` ("dnabench-features"), ``version`` (1), ``kind`` (window / pair /
  segmented), ``shape``, ``dtype`` (float16 / float32), ``store`` (absolute path),
  ``store_card_sha256`` (the store's dataset.json when the features were made), ``backbone``
  (absolute path of the model folder), ``backbone_sha256`` (its model.safetensors),
  ``backbone_model``, ``input_length`` (bases the backbone read), ``pair`` (concat / diff, pairs
  only), ``reverse_complement``, ``rows``, and how it was computed (``precision``,
  ``representation_size``, ``segments``).
- ``features.npy``: ``[N, d]`` for windows, ``[N, 2d]`` for pairs (``[ref; alt]``) or ``[N, d]``
  (``alt - ref``), ``[N, S, d]`` for segmented windows. Row i is store row i.

Writing is resumable: chunks go into a hidden ``.NAME.partial`` folder beside the target with a
progress record (``progress.json``) updated after each chunk, so a killed extraction continues
from its last complete chunk; the folder is renamed to NAME only once every row is written.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dnabench.data.dataset import StoreSource
from dnabench.data.loader import BatchSource
from dnabench.data.store import CARD_FILE, Store, open_store, row_indices
from dnabench.io.files import check_target, sha256_file, write_json

__all__ = [
    "FORMAT",
    "VERSION",
    "META_FILE",
    "ARRAY_FILE",
    "PROGRESS_FILE",
    "KINDS",
    "DTYPES",
    "PAIR_MODES",
    "MATCH_KEYS",
    "FeatureError",
    "FeatureSet",
    "FeatureSource",
    "FeatureWriter",
    "is_features_folder",
    "open_features",
    "partial_path",
    "start_features",
    "store_card_sha256",
]

FORMAT = "dnabench-features"
VERSION = 1
META_FILE = "features.json"
ARRAY_FILE = "features.npy"
PROGRESS_FILE = "progress.json"
KINDS: tuple[str, ...] = ("window", "pair", "segmented")
DTYPES: tuple[str, ...] = ("float16", "float32")
PAIR_MODES: tuple[str, ...] = ("concat", "diff")
#: the meta fields that decide the content: a finished or partial folder is reused only when all agree
MATCH_KEYS: tuple[str, ...] = (
    "kind", "shape", "dtype", "store", "store_card_sha256", "backbone", "backbone_sha256", "backbone_model",
    "input_length", "pair", "reverse_complement", "rows", "precision",
)
_REQUIRED = ("kind", "shape", "dtype", "store", "store_card_sha256", "backbone", "backbone_sha256", "input_length", "rows")


class FeatureError(ValueError):
    """A features folder that cannot be used as it is; the message names the file."""


def store_card_sha256(store_path: str | os.PathLike) -> str:
    """sha256 of a store's card: it lists the sha256 of every store file, so it changes with any of them."""
    return sha256_file(Path(store_path) / CARD_FILE)


def partial_path(out: str | os.PathLike) -> Path:
    """The hidden folder an unfinished extraction of `out` writes into."""
    out = Path(out)
    return out.parent / f".{out.name}.partial"


def _read_meta(path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise FeatureError(f"{path}: damaged, not valid JSON ({err}); extract the features again with --overwrite") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise FeatureError(f"{path}: not a {FORMAT} file (format {meta.get('format') if isinstance(meta, dict) else None!r})")
    version = meta.get("version")
    if version != VERSION:
        newer = isinstance(version, int) and version > VERSION
        hint = "written by a newer dnabench: upgrade" if newer else "extract the features again"
        raise FeatureError(f"{path}: features format version {version!r}, this dnabench reads version {VERSION} ({hint})")
    missing = [key for key in _REQUIRED if key not in meta]
    if missing:
        raise FeatureError(f"{path}: damaged, no {', '.join(map(repr, missing))} field(s); extract the features again with --overwrite")
    if meta["kind"] not in KINDS or meta["dtype"] not in DTYPES:
        raise FeatureError(f"{path}: kind {meta['kind']!r} / dtype {meta['dtype']!r} unknown (kinds {', '.join(KINDS)}; dtypes {', '.join(DTYPES)})")
    return meta


def is_features_folder(path: str | os.PathLike) -> bool:
    """True for a folder holding features.json (finished or damaged: `open_features` says which)."""
    return (Path(path) / META_FILE).is_file()


@dataclass
class FeatureSet:
    """An opened features folder: its meta and its array, memory-mapped read-only."""

    path: Path
    meta: dict[str, Any]
    array: np.ndarray

    @property
    def store_path(self) -> Path:
        return Path(self.meta["store"])

    @property
    def kind(self) -> str:
        return str(self.meta["kind"])

    @property
    def rows(self) -> int:
        return int(self.meta["rows"])

    @property
    def input_size(self) -> int:
        """Floats per row position: d, 2d (concatenated pairs), or d per segment."""
        return int(self.array.shape[-1])

    @property
    def segments(self) -> int:
        """Positions per row the upper model sees: S for segmented features, 1 otherwise."""
        return int(self.array.shape[1]) if self.array.ndim == 3 else 1

    def __repr__(self) -> str:
        return f"FeatureSet({str(self.path)!r}, {self.kind}, {list(self.array.shape)} {self.array.dtype})"


def open_features(path: str | os.PathLike, check_store: bool = True) -> FeatureSet:
    """Open and check a features folder; `check_store` also refuses one whose store changed since.

    Raises FileNotFoundError for a missing folder and FeatureError (a ValueError) naming the
    file for a partial, damaged or stale one.
    """
    path = Path(path)
    if not path.is_dir():
        partial = partial_path(path)
        if (partial / PROGRESS_FILE).is_file():
            raise FeatureError(
                f"{path}: the extraction did not finish ({partial} holds its part); run `dnabench features` again "
                "with the same arguments to continue it"
            )
        raise FileNotFoundError(f"{path}: no such features folder")
    meta_path = path / META_FILE
    if not meta_path.is_file():
        raise FeatureError(f"{path}: not a features folder (no {META_FILE}); `dnabench features` makes one")
    meta = _read_meta(meta_path)
    array_path = path / ARRAY_FILE
    if not array_path.is_file():
        raise FeatureError(f"{array_path}: missing; extract the features again with --overwrite")
    try:
        array = np.load(array_path, mmap_mode="r")
    except (ValueError, OSError, EOFError) as err:
        raise FeatureError(f"{array_path}: not a readable .npy file ({err}); extract the features again with --overwrite") from None
    shape = [int(v) for v in meta["shape"]]
    if list(array.shape) != shape or str(array.dtype) != meta["dtype"] or shape[0] != int(meta["rows"]):
        raise FeatureError(
            f"{array_path}: {array.dtype} {list(array.shape)}, but {META_FILE} says {meta['dtype']} {shape} "
            f"({meta['rows']} rows); extract the features again with --overwrite"
        )
    if check_store:
        store = Path(meta["store"])
        if not (store / CARD_FILE).is_file():
            raise FileNotFoundError(f"{meta_path}: its store {store} is gone (no {CARD_FILE}); the labels and splits come from it")
        digest = store_card_sha256(store)
        if digest != meta["store_card_sha256"]:
            raise FeatureError(
                f"{meta_path}: the store {store} changed since these features were extracted (its {CARD_FILE} has sha256 "
                f"{digest}, the features record {meta['store_card_sha256']}); extract them again with --overwrite"
            )
    return FeatureSet(path, meta, array)


class FeatureSource(BatchSource):
    """Features of store rows (float32) with the store's labels: what `dnabench train` reads from a
    features folder. Indices are store rows, as for `StoreSource`; pickles as the folder's path."""

    def __init__(self, features: FeatureSet | str | os.PathLike, store: Store | None = None, label_dtype: str = "auto") -> None:
        if not isinstance(features, FeatureSet):
            features = open_features(features)
        self.features = features
        self.store = store if store is not None else open_store(features.store_path)
        if self.store.n_rows != features.rows:
            raise FeatureError(f"{features.path / META_FILE}: {features.rows} rows, but the store {self.store.path} has {self.store.n_rows}")
        self.label_dtype = label_dtype
        self._labels = StoreSource(self.store, None, label_dtype)
        self.sparse_labels = self._labels.sparse_labels

    def codes(self, indices: Any, shifts: Any = None, flips: Any = None) -> np.ndarray:
        """float32 features of `indices` ([B, D] or [B, S, d]); shifts and flips cannot apply."""
        if shifts is not None and np.any(np.asarray(shifts) != 0):
            raise ValueError(f"{self.features.path}: features cannot be shifted (they were computed once); train without --shift")
        if flips is not None and np.any(np.asarray(flips)):
            raise ValueError(
                f"{self.features.path}: features cannot be reverse-complemented after extraction; train without --rc "
                "(extract with --reverse-complement to average both strands)"
            )
        idx = row_indices(indices, self.features.rows)
        array = self.features.array
        if idx.size > 1 and (np.diff(idx) < 0).any():  # a memmap reads fastest in ascending order
            order = np.argsort(idx, kind="stable")
            out = np.empty((idx.size, *array.shape[1:]), dtype=np.float32)
            out[order] = array[idx[order]]
            return out
        return np.asarray(array[idx], dtype=np.float32)

    def labels(self, indices: Any) -> np.ndarray:
        return self._labels.labels(indices)

    def label_pieces(self, indices: Any) -> tuple[np.ndarray, np.ndarray]:
        return self._labels.label_pieces(indices)

    def __getstate__(self) -> dict:
        return {"features": str(self.features.path), "label_dtype": self.label_dtype}

    def __setstate__(self, state: dict) -> None:
        FeatureSource.__init__(self, state["features"], None, state.get("label_dtype", "auto"))


# ----- writing ---------------------------------------------------------------------------------------


def _differences(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    return [f"{key} {a.get(key)!r} vs {b.get(key)!r}" for key in MATCH_KEYS if a.get(key) != b.get(key)]


def _owned(folder: Path) -> set[str]:
    """What a features folder may hold for --overwrite to replace it; anything else is not ours."""
    if not (folder / META_FILE).is_file():
        raise FileExistsError(f"{folder}: not a dnabench features folder (no {META_FILE}); --overwrite replaces only one, so nothing was changed")
    try:
        _read_meta(folder / META_FILE)
    except FeatureError as err:
        if f"not a {FORMAT} file" in str(err):
            raise FileExistsError(f"{folder}: not a dnabench features folder; --overwrite replaces only one, so nothing was changed") from None
    return {META_FILE, ARRAY_FILE}


class FeatureWriter:
    """Fills a features folder chunk by chunk in its partial folder; `finish` renames it into place.

    `done` is the number of rows already written (a resumed extraction starts there). Rows are
    written in order; each `write` flushes the array before the progress record moves on, so the
    record never claims a row the file does not hold.
    """

    def __init__(self, out: Path, meta: dict[str, Any], array: np.memmap, done: int, replace: bool) -> None:
        self.out = out
        self.partial = partial_path(out)
        self.meta = meta
        self.array = array
        self.done = done
        self.replace = replace

    @property
    def rows(self) -> int:
        return int(self.meta["rows"])

    def write(self, start: int, values: np.ndarray) -> None:
        """Rows `start : start + len(values)`; `start` must be `done` (chunks come in order)."""
        if start != self.done:
            raise ValueError(f"{self.partial}: chunk starts at row {start}, but {self.done} rows are written")
        stop = start + len(values)
        self.array[start:stop] = values
        self.array.flush()
        self.done = stop
        write_json(self.partial / PROGRESS_FILE, {"meta": self.meta, "done": self.done})

    def finish(self) -> Path:
        """Write features.json and move the folder to its name (replacing an approved old one)."""
        if self.done != self.rows:
            raise ValueError(f"{self.partial}: {self.done} of {self.rows} rows written; nothing was renamed")
        self.array.flush()
        del self.array
        write_json(self.partial / META_FILE, self.meta)
        (self.partial / PROGRESS_FILE).unlink()
        out = self.out
        if out.exists() or out.is_symlink():
            if not self.replace:
                raise FileExistsError(f"{out}: appeared while the features were extracted; they stay in {self.partial}")
            extra = sorted(set(os.listdir(out)) - _owned(out))
            if extra:
                raise FileExistsError(f"{out}: also holds {', '.join(extra[:5])}, which dnabench did not write; nothing was replaced "
                                      f"and the new features stay in {self.partial}")
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            out.rename(old)
            self.partial.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            self.partial.rename(out)
        return out


def _reuse(out: Path, meta: dict[str, Any], overwrite: bool) -> FeatureSet | None:
    """The finished folder at `out` when it holds these very features (None: compute them)."""
    if not (out.exists() or out.is_symlink()):
        return None
    if is_features_folder(out) and not out.is_symlink():
        try:
            existing = open_features(out, check_store=False)
        except FeatureError:
            existing = None
        if existing is not None and not _differences(existing.meta, meta) and not overwrite:
            return existing
        if existing is not None and not overwrite:
            raise FileExistsError(
                f"{out}: holds other features ({'; '.join(_differences(existing.meta, meta))}); pass --overwrite to replace "
                "them, or choose another --out"
            )
    check_target(out, overwrite, owned=_owned)
    return None


def start_features(out: str | os.PathLike, meta: dict[str, Any], overwrite: bool = False) -> FeatureSet | FeatureWriter:
    """Begin, continue or skip the extraction described by `meta` (its MATCH_KEYS and `shape`).

    Returns the finished FeatureSet when `out` already holds these features, else a
    FeatureWriter: on the partial folder's rows when an earlier run of the same extraction was
    cut short, on a fresh one otherwise. Other features at `out`, or a partial of another
    extraction, are an error unless `overwrite` (which only replaces what dnabench wrote).
    """
    out = Path(out).absolute()
    meta = {"format": FORMAT, "version": VERSION, **meta}
    if meta["kind"] not in KINDS:
        raise ValueError(f"features kind must be one of {', '.join(KINDS)}, got {meta['kind']!r}")
    if meta["dtype"] not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {meta['dtype']!r}")
    finished = _reuse(out, meta, overwrite)
    if finished is not None:
        return finished
    partial = partial_path(out)
    shape = tuple(int(v) for v in meta["shape"])
    progress = partial / PROGRESS_FILE
    if partial.exists() or partial.is_symlink():
        if partial.is_symlink() or not partial.is_dir() or not progress.is_file():
            raise FileExistsError(f"{partial}: exists and is not a partial extraction of dnabench; move it away first")
        try:
            record = json.loads(progress.read_text())
            before, done = record["meta"], int(record["done"])
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError):
            before, done = None, 0
        differs = ["a damaged progress record"] if before is None else _differences(before, meta)
        if not differs and not overwrite:
            try:
                array = np.load(partial / ARRAY_FILE, mmap_mode="r+")
            except (ValueError, OSError, EOFError):
                array = None
            if array is not None and array.shape == shape and str(array.dtype) == meta["dtype"] and 0 <= done <= shape[0]:
                return FeatureWriter(out, meta, array, done, overwrite)
            differs = [f"{partial / ARRAY_FILE} does not match its progress record"]
        if not overwrite:
            raise FileExistsError(
                f"{partial}: an unfinished extraction with other arguments ({'; '.join(differs)}); run it again with its "
                "arguments to continue it, or pass --overwrite to start afresh"
            )
        extra = sorted(p.name for p in partial.iterdir() if p.name not in (ARRAY_FILE, PROGRESS_FILE, META_FILE, f".{PROGRESS_FILE}.tmp"))
        if extra:
            raise FileExistsError(f"{partial}: holds files dnabench did not write ({', '.join(extra[:5])}); nothing was changed")
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    array = np.lib.format.open_memmap(partial / ARRAY_FILE, mode="w+", dtype=np.dtype(meta["dtype"]), shape=shape)
    write_json(progress, {"meta": meta, "done": 0})
    return FeatureWriter(out, meta, array, 0, overwrite)
