"""Shared contract of the tokenizers: special ids, the batch type, validation, save/load.

Every tokenizer reserves the same four special ids (PAD=0, CLS=1, MASK=2, UNK=3) so that
models, masking and collation code never need to ask which tokenizer produced a batch.
Regular tokens start at ``NUM_SPECIAL``.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Union

import numpy as np
import torch

from dnabench.alphabet import N

from dnabench.tokenize.kinds import TOKENIZERS, TokenizerKind  # noqa: F401  (re-exported)

PAD, CLS, MASK, UNK = 0, 1, 2, 3
NUM_SPECIAL = 4
SPECIAL_TOKENS = ("[PAD]", "[CLS]", "[MASK]", "[UNK]")
CONFIG_FILE = "tokenizer_config.json"

Array = Union[np.ndarray, torch.Tensor]

#: type name -> Tokenizer subclass; filled by :func:`register`.
_REGISTRY: dict[str, type["Tokenizer"]] = {}


@dataclass
class TokenBatch:
    """Token ids ``[B, T]`` int64 and ``attention_mask`` ``[B, T]`` bool (True = real token, CLS included).

    Numpy input gives numpy arrays; torch input gives tensors on the input's device.
    """

    ids: Array
    attention_mask: Array


def register(cls: type["Tokenizer"]) -> type["Tokenizer"]:
    """Class decorator: make ``cls`` reachable by its ``name`` from get_tokenizer / load."""
    _REGISTRY[cls.name] = cls
    return cls


def as_code_batch(codes: Any) -> tuple[torch.Tensor, bool]:
    """Validate codes and return them as a ``[B, L]`` uint8 tensor plus ``True`` when the input was numpy.

    A 1-D ``[L]`` input is a batch of one. Read-only or strided numpy arrays (memory maps,
    reverse complements) are copied so that ``torch.from_numpy`` can share them safely.
    """
    if isinstance(codes, torch.Tensor):
        is_numpy, t = False, codes
        dtype_ok = codes.dtype == torch.uint8
    else:
        if isinstance(codes, (str, bytes)):
            raise ValueError(
                f"expected uint8 codes, got a {type(codes).__name__}; use dnabench.alphabet.encode first"
            )
        arr = np.asarray(codes)
        dtype_ok = arr.dtype == np.uint8
        is_numpy = True
        if dtype_ok:
            if not arr.flags.c_contiguous or not arr.flags.writeable:
                arr = np.array(arr, order="C", copy=True)
            t = torch.from_numpy(arr)
        else:
            t = arr  # only used for the error below
    if not dtype_ok:
        raise ValueError(f"expected uint8 nucleotide codes (A=0 C=1 G=2 T=3 N=4), got dtype {t.dtype}")
    if t.ndim == 1:
        t = t.unsqueeze(0)
    if t.ndim != 2:
        raise ValueError(f"expected codes of shape [B, L] or [L], got {t.ndim}-D shape {tuple(t.shape)}")
    if t.device.type == "cuda":
        # a host-side check would wait for the GPU once a training step; the assert runs on the
        # device and stops the program there instead (codes from the host are checked before the copy)
        if t.numel():
            torch._assert_async((t <= N).all(), "invalid nucleotide code: codes must be 0..4 (A C G T N)")
    else:
        check_codes(t)
    return t, is_numpy


def check_codes(codes: torch.Tensor) -> None:
    """A clear error for a code above N (A C G T N = 0..4); reads the maximum on the host."""
    if codes.numel():
        top = int(codes.max())
        if top > N:
            raise ValueError(f"invalid nucleotide code {top}: codes must be 0..4 (A C G T N)")


def finish_batch(ids: torch.Tensor, mask: torch.Tensor, add_cls: bool, is_numpy: bool) -> TokenBatch:
    """Optionally prepend CLS at position 0 and convert back to the caller's array kind."""
    if add_cls:
        cls_col = torch.full((ids.shape[0], 1), CLS, dtype=torch.int64, device=ids.device)
        ids = torch.cat([cls_col, ids], dim=1)
        mask = torch.cat([torch.ones_like(cls_col, dtype=torch.bool), mask], dim=1)
    ids, mask = ids.to(torch.int64), mask.to(torch.bool)
    if is_numpy:
        return TokenBatch(ids.cpu().numpy(), mask.cpu().numpy())
    return TokenBatch(ids, mask)


def as_id_batch(ids: Any, attention_mask: Any, vocab_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate ids (+ optional mask) for decode; return ``[B, T]`` int64 ids and bool mask tensors."""
    t = ids if isinstance(ids, torch.Tensor) else torch.as_tensor(np.asarray(ids))
    if t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool:
        raise ValueError(f"expected integer token ids, got dtype {t.dtype}")
    t = t.to(torch.int64)
    if t.ndim == 1:
        t = t.unsqueeze(0)
    if t.ndim != 2:
        raise ValueError(f"expected token ids of shape [B, T] or [T], got {t.ndim}-D shape {tuple(t.shape)}")
    if t.numel():
        lo, hi = int(t.min()), int(t.max())
        if lo < 0 or hi >= vocab_size:
            bad = lo if lo < 0 else hi
            raise ValueError(f"token id {bad} out of range for a vocabulary of {vocab_size}")
    if attention_mask is None:
        m = torch.ones_like(t, dtype=torch.bool)
    else:
        m = attention_mask if isinstance(attention_mask, torch.Tensor) else torch.as_tensor(np.asarray(attention_mask))
        m = m.to(device=t.device, dtype=torch.bool)
        if m.ndim == 1:
            m = m.unsqueeze(0)
        if m.shape != t.shape:
            raise ValueError(f"attention_mask shape {tuple(m.shape)} does not match ids shape {tuple(t.shape)}")
    return t, m


def split_rows(flat: torch.Tensor, counts: torch.Tensor) -> list[np.ndarray]:
    """Cut a flat code tensor into one uint8 numpy array per row (counts = items per row)."""
    flat_np = flat.to(torch.uint8).cpu().numpy()
    bounds = np.cumsum(counts.cpu().numpy())[:-1]
    return [np.ascontiguousarray(part) for part in np.split(flat_np, bounds)]


def check_k(k: Any, low: int = 1, high: int = 12) -> int:
    """k must be an int in [low, high]: the vocabulary grows as 4**k or 5**k."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not low <= int(k) <= high:
        raise ValueError(f"k must be an integer in [{low}, {high}], got {k!r}")
    return int(k)


def check_length(length: Any) -> int:
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or int(length) < 0:
        raise ValueError(f"length must be a non-negative integer, got {length!r}")
    return int(length)


class Tokenizer(ABC):
    """Maps ``[B, L]`` uint8 codes to ``[B, T]`` token ids and back; special ids are shared."""

    name: ClassVar[str] = ""

    @property
    @abstractmethod
    def vocab_size(self) -> int:
        """Number of ids, specials included (embedding table size)."""

    @abstractmethod
    def encode(self, codes: Array, add_cls: bool = True) -> TokenBatch:
        """Tokenize ``[B, L]`` (or ``[L]``) uint8 codes; CLS, when added, sits at position 0."""

    @abstractmethod
    def decode(self, ids: Array, attention_mask: Array | None = None) -> list[np.ndarray]:
        """One uint8 code array per row; PAD/CLS/MASK and masked-out positions are dropped."""

    @abstractmethod
    def num_tokens(self, length: int) -> int:
        """Tokens produced for a sequence of ``length`` bases, CLS excluded."""

    def config(self) -> dict[str, Any]:
        """JSON-able description; ``type`` selects the class on load, the rest are constructor args."""
        return {"type": self.name}

    def save(self, directory: str | Path) -> Path:
        """Write ``tokenizer_config.json`` (and any model files) into ``directory``; return it."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / CONFIG_FILE).write_text(json.dumps(self.config(), indent=2) + "\n")
        return directory

    @classmethod
    def from_config(cls, config: dict[str, Any], directory: Path) -> "Tokenizer":
        """Rebuild from a saved config; subclasses with model files override this."""
        params = {key: value for key, value in config.items() if key != "type"}
        return cls(**params)

    @staticmethod
    def load(directory: str | Path) -> "Tokenizer":
        """Read a directory written by :meth:`save`, whatever the tokenizer type."""
        directory = Path(directory)
        path = directory / CONFIG_FILE
        if not path.is_file():
            raise FileNotFoundError(f"no {CONFIG_FILE} in {directory}")
        config = json.loads(path.read_text())
        kind = config.get("type")
        if kind not in _REGISTRY:
            from dnabench.tokenize import _registry

            _registry()  # the kinds register when their modules load
        if kind not in _REGISTRY:
            raise ValueError(f"unknown tokenizer type {kind!r} in {path}; known: {sorted(_REGISTRY)}")
        return _REGISTRY[kind].from_config(config, directory)

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "type")
        return f"{type(self).__name__}({params})"
