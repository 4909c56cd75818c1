"""Byte-pair encoding over A C G T N with Hugging Face ``tokenizers`` (the paper's 16k BPE).

The Rust library does the merging (and batches in parallel); this module only converts codes
to ASCII, fixes the four special tokens at ids 0..3 and pads rows to a rectangle. There is no
pre-tokenizer: DNA has no spaces, so each sequence is one "word".
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import models, trainers

from dnabench.alphabet import ASCII_TO_CODE, BASES, CODE_TO_ASCII, N
from dnabench.tokenize.base import (
    CLS,
    MASK,
    NUM_SPECIAL,
    PAD,
    SPECIAL_TOKENS,
    UNK,
    Array,
    TokenBatch,
    Tokenizer,
    as_code_batch,
    as_id_batch,
    check_length,
    finish_batch,
    register,
)

BPE_FILE = "bpe.json"
_TRAIN_BATCH = 1024  # strings handed to Rust per iterator step
_LETTERS = frozenset(BASES)


@register
class BPETokenizer(Tokenizer):
    """Wraps a trained HF BPE tokenizer; build one with :func:`train_bpe` or load with ``path=``."""

    name = "bpe"

    def __init__(self, tokenizer: HFTokenizer | None = None, *, path: str | Path | None = None) -> None:
        if (tokenizer is None) == (path is None):
            raise ValueError("BPETokenizer needs exactly one of a trained tokenizers.Tokenizer or path=")
        if path is not None:
            path = Path(path)
            file = path / BPE_FILE if path.is_dir() else path
            if not file.is_file():
                raise FileNotFoundError(f"no BPE model at {file}")
            tokenizer = HFTokenizer.from_file(str(file))
        self._tok = tokenizer
        self._build_tables()

    def _build_tables(self) -> None:
        """Check the special ids and precompute id -> codes so decode is one gather."""
        vocab = self._tok.get_vocab(with_added_tokens=True)
        for want, token in enumerate(SPECIAL_TOKENS):
            if vocab.get(token) != want:
                raise ValueError(f"BPE vocabulary has {token} at id {vocab.get(token)}, expected {want}")
        size = max(vocab.values()) + 1
        strings = [""] * size
        for token, idx in vocab.items():
            strings[idx] = token
        strings[UNK] = "N"
        for special in (PAD, CLS, MASK):
            strings[special] = ""
        bad = next((s for s in strings if not set(s) <= _LETTERS), None)
        if bad is not None:
            raise ValueError(f"BPE vocabulary token {bad!r} is not made of A C G T N")
        codes = ASCII_TO_CODE[np.frombuffer("".join(strings).encode("ascii"), dtype=np.uint8)]
        self._codes = codes
        self._lens = np.array([len(s) for s in strings], dtype=np.int64)
        self._starts = np.concatenate([[0], np.cumsum(self._lens)[:-1]])

    @property
    def hf_tokenizer(self) -> HFTokenizer:
        return self._tok

    @property
    def vocab_size(self) -> int:
        return int(self._lens.size)

    def config(self) -> dict:
        return {"type": self.name, "vocab_size": self.vocab_size, "file": BPE_FILE}

    def num_tokens(self, length: int) -> int:
        """Upper bound only: BPE output length depends on the sequence; at most one token a base."""
        return check_length(length)

    def encode(self, codes: Array, add_cls: bool = True) -> TokenBatch:
        """Rows are padded with PAD to the longest encoding; BPE runs on the CPU for any input."""
        c, is_numpy = as_code_batch(codes)
        device = c.device
        letters = CODE_TO_ASCII[c.cpu().numpy()]
        texts = [row.tobytes().decode("ascii") for row in letters]
        encodings = self._tok.encode_batch_fast(texts, add_special_tokens=False)
        rows = [np.asarray(e.ids, dtype=np.int64) for e in encodings]
        lengths = np.array([r.size for r in rows], dtype=np.int64)
        width = int(lengths.max()) if lengths.size else 0
        mask = np.arange(width)[None, :] < lengths[:, None]
        ids = np.full((len(rows), width), PAD, dtype=np.int64)
        if rows:
            ids[mask] = np.concatenate(rows)
        return finish_batch(
            torch.from_numpy(ids).to(device), torch.from_numpy(mask).to(device), add_cls, is_numpy
        )

    def decode(self, ids: Array, attention_mask: Array | None = None) -> list[np.ndarray]:
        """Concatenate the token strings per row; UNK decodes to one N."""
        t, m = as_id_batch(ids, attention_mask, self.vocab_size)
        t, m = t.cpu().numpy(), m.cpu().numpy()
        keep = m & (t != PAD) & (t != CLS) & (t != MASK)
        flat = t[keep]
        lens = self._lens[flat]
        # Position of every output base inside the flat table of token codes.
        offsets = np.repeat(self._starts[flat] - (np.cumsum(lens) - lens), lens)
        codes = self._codes[offsets + np.arange(offsets.size)]
        per_row = np.where(keep, self._lens[t], 0).sum(axis=1)
        return [np.ascontiguousarray(p) for p in np.split(codes, np.cumsum(per_row)[:-1])]

    def save(self, directory: str | Path) -> Path:
        directory = super().save(directory)
        self._tok.save(str(directory / BPE_FILE))
        return directory

    @classmethod
    def from_config(cls, config: dict[str, Any], directory: Path) -> "BPETokenizer":
        return cls(path=directory / config.get("file", BPE_FILE))


def _training_texts(sequences: Iterable[np.ndarray]) -> Iterator[list[str]]:
    """ASCII pieces of each sequence between runs of N, in batches (N never enters a merge)."""
    batch: list[str] = []
    for seq in sequences:
        c, _ = as_code_batch(seq)
        for row in CODE_TO_ASCII[c.numpy()]:
            batch.extend(piece for piece in row.tobytes().decode("ascii").split("N") if piece)
        if len(batch) >= _TRAIN_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def train_bpe(
    sequences: Iterable[np.ndarray],
    vocab_size: int = 16000,
    min_frequency: int = 2,
    show_progress: bool = False,
    max_token_length: int | None = None,
) -> BPETokenizer:
    """Learn BPE merges from uint8 code arrays (e.g. 1-10 kb genome chunks); vocab <= vocab_size.

    Sequences are split at runs of N and the pieces used as training words. The result has
    [PAD] [CLS] [MASK] [UNK] at ids 0..3, then A C G T N, then the merges.
    """
    floor = NUM_SPECIAL + N + 1
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, (int, np.integer)) or vocab_size < floor:
        raise ValueError(f"vocab_size must be an integer >= {floor} (specials + A C G T N), got {vocab_size!r}")
    tok = HFTokenizer(models.BPE(unk_token=SPECIAL_TOKENS[UNK]))
    trainer = trainers.BpeTrainer(
        vocab_size=int(vocab_size),
        min_frequency=int(min_frequency),
        show_progress=show_progress,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=list(BASES),
        max_token_length=max_token_length,
    )
    tok.train_from_iterator(_training_texts(sequences), trainer=trainer)
    return BPETokenizer(tok)
