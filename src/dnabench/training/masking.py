"""Tokenizer-aware masking for masked-language-model pretraining (paper 5.3).

The unit that is hidden and predicted follows the tokenizer:

- ``patch``: patches. ``rate`` of the patches without N are selected; each selected patch
  is a target (its 5**k id).
- ``bpe``: tokens. ``rate`` of the real tokens without N are selected and predicted.
- ``onehot``: bases. ``rate`` of the A/C/G/T bases are selected; each is a target (its base).
- ``kmer``: spans of bases. Overlapping k-mers leak: a k-mer token that is left unmasked
  shows every base it covers, so masking one token (as BERT would) hides nothing: its
  neighbours spell its bases. Here ``round(rate * L / span)`` spans of ``span`` bases
  (default k) are chosen, at least ``k + stride - 1`` bases apart and from the ends, and
  *every* k-mer token that overlaps a masked base is corrupted and predicted (its original
  k-mer id). No token left as it was covers a masked base, and (stride 1) every other base is
  still covered by some unmasked k-mer, so ``rate`` is exactly the fraction of bases that the
  input hides. The fraction of *tokens* corrupted is ``rate * (span + k - 1) / span`` (0.54
  for rate 0.3, k = span = 5). Spans kept apart cap the rate at about
  ``span / (span + k + stride - 1)`` (0.5 for k = span = 5): longer spans allow more.
  DNABERT's 15 % of 6-mer tokens in runs of 6 hides 1 base per run: 2.5 % of the bases.

Selected units are replaced as in BERT: ``mask_fraction`` (0.8) by MASK, ``random_fraction``
(0.1) by a random unit, the rest left unchanged; all of them are targets. For k-mers the
choice is made per span, and a random span gets random bases, re-tokenized, so its k-mers
stay consistent with each other.

The number of selected units per row is fixed for a given width (``round(rate * units)``),
so positions and targets have a static shape ``[B, n]`` (``torch.compile`` traces one graph);
slots left over where a row has N (or BPE padding) are targets ``IGNORE``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Optional

import torch

from dnabench.alphabet import N
from dnabench.tokenize.base import MASK, NUM_SPECIAL, UNK, Tokenizer

__all__ = ["IGNORE", "MaskedBatch", "Masker", "MaskingConfig", "num_classes", "select_units"]

#: target of a slot that is not predicted (torch's cross-entropy ignore_index)
IGNORE = -100


@dataclass(frozen=True)
class MaskingConfig:
    """Mask rate (fraction of units hidden), BERT's 80/10/10 replacement, and the k-mer span."""

    rate: float = 0.3
    mask_fraction: float = 0.8
    random_fraction: float = 0.1
    #: k-mer tokenizer: bases per masked span (None: k)
    span: Optional[int] = None

    def __post_init__(self) -> None:
        if not 0.0 < self.rate < 1.0:
            raise ValueError(f"mask rate must be in (0, 1), got {self.rate}")
        for name in ("mask_fraction", "random_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if self.mask_fraction + self.random_fraction > 1.0 + 1e-9:
            raise ValueError(f"mask_fraction + random_fraction must be <= 1, got {self.mask_fraction} + {self.random_fraction}")
        if self.span is not None and (isinstance(self.span, bool) or int(self.span) != self.span or self.span < 1):
            raise ValueError(f"span must be an integer >= 1, got {self.span!r}")


@dataclass
class MaskedBatch:
    """Inputs and targets of one MLM step.

    ``ids`` [B, 1 + T]: the corrupted token ids, CLS first; ``attention_mask`` [B, 1 + T] or
    None (nothing padded). ``positions`` [B, n]: the prediction units (token index after CLS;
    base index for one-hot); ``targets`` [B, n]: their classes (token id; base code 0..3 for
    one-hot) or IGNORE. ``masked_bases`` [B, L]: the bases hidden from the input (None for
    BPE), computed when first asked for (training never asks: a few kernels less a step).
    """

    ids: torch.Tensor
    attention_mask: Optional[torch.Tensor]
    positions: torch.Tensor
    targets: torch.Tensor
    bases: Optional[Callable[[], torch.Tensor]] = field(default=None, repr=False)

    @property
    def active(self) -> torch.Tensor:
        return self.targets != IGNORE

    @property
    def masked_bases(self) -> Optional[torch.Tensor]:
        return self.bases() if self.bases is not None else None


def num_classes(tokenizer: Tokenizer) -> int:
    """Classes an MLM head predicts: the vocabulary, or the four bases for one-hot."""
    return 4 if tokenizer.name == "onehot" else int(tokenizer.vocab_size)


def select_units(valid: torch.Tensor, rate: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``round(rate * valid units)`` units of each row at random: (positions [B, n], active [B, n]).

    ``n = round(rate * width)`` for every row (a static shape); a row with fewer valid units
    fills its last slots with inactive ones.
    """
    batch, width = valid.shape
    n = min(max(1, int(math.floor(rate * width + 0.5))), width)
    keys = torch.rand(batch, width, generator=generator, device=valid.device)
    keys = keys.masked_fill(~valid, 2.0)
    positions = torch.topk(keys, n, dim=1, largest=False, sorted=True).indices
    wanted = torch.floor(rate * valid.sum(dim=1).to(torch.float32) + 0.5).long()
    active = torch.arange(n, device=valid.device)[None, :] < wanted[:, None]
    return positions, active


def _cover(starts: torch.Tensor, ends: torch.Tensor, weight: torch.Tensor, width: int) -> torch.Tensor:
    """bool [B, width]: positions inside any interval [start, end) whose weight is True."""
    diff = torch.zeros(starts.shape[0], width + 1, dtype=torch.int32, device=starts.device)
    w = weight.to(torch.int32)
    diff.scatter_add_(1, starts.clamp(0, width), w)
    diff.scatter_add_(1, ends.clamp(0, width), -w)
    return diff.cumsum(dim=1)[:, :width] > 0


class Masker:
    """Masks batches of codes for one tokenizer: ``masker(codes, generator) -> MaskedBatch``.

    Tables (which ids may be targets, which may replace a unit) are built once per device.
    """

    def __init__(self, tokenizer: Tokenizer, config: MaskingConfig | None = None) -> None:
        self.tokenizer = tokenizer
        self.config = config or MaskingConfig()
        self.kind = tokenizer.name
        if self.kind not in ("kmer", "patch", "bpe", "onehot"):
            raise ValueError(f"no masking for tokenizer {self.kind!r}")
        if self.kind == "kmer":
            self.span = int(self.config.span or tokenizer.k)  # type: ignore[attr-defined]
        elif self.config.span is not None:
            raise ValueError(f"span applies to the kmer tokenizer only, not {self.kind!r}")
        self._maskable = self._maskable_ids()
        self._tables: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}

    @property
    def unit(self) -> str:
        return {"kmer": "base span", "patch": "patch", "bpe": "token", "onehot": "base"}[self.kind]

    def _maskable_ids(self) -> torch.Tensor:
        """bool [vocab]: regular ids whose bases hold no N (the ones that may be targets)."""
        vocab = int(self.tokenizer.vocab_size)
        ok = torch.zeros(vocab, dtype=torch.bool)
        if self.kind == "kmer":
            ok[NUM_SPECIAL:] = True
        elif self.kind == "onehot":
            ok[NUM_SPECIAL : NUM_SPECIAL + 4] = True
        elif self.kind == "patch":
            value = torch.arange(vocab - NUM_SPECIAL)
            has_n = torch.zeros_like(value, dtype=torch.bool)
            for j in range(self.tokenizer.k):  # type: ignore[attr-defined]
                has_n |= torch.div(value, (N + 1) ** j, rounding_mode="floor") % (N + 1) == N
            ok[NUM_SPECIAL:] = ~has_n
        else:
            pieces = self.tokenizer.decode(torch.arange(vocab)[:, None])
            ok = torch.tensor([p.size > 0 and not (p == N).any() for p in pieces], dtype=torch.bool)
            ok[:NUM_SPECIAL] = False
        return ok

    def tables(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """(maskable bool [vocab], replacement ids [R]) on `device`."""
        if device not in self._tables:
            maskable = self._maskable.to(device)
            self._tables[device] = (maskable, maskable.nonzero().flatten())
        return self._tables[device]

    def __call__(self, codes: torch.Tensor, generator: torch.Generator) -> MaskedBatch:
        """Mask uint8 codes [B, L] (on the generator's device)."""
        if codes.ndim != 2 or codes.dtype != torch.uint8:
            raise ValueError(f"expected uint8 codes [B, L], got {codes.dtype} {tuple(codes.shape)}")
        if self.kind == "kmer":
            return self._mask_kmer(codes, generator)
        return self._mask_tokens(codes, generator)

    def _replace(self, original: torch.Tensor, active: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """80/10/10: MASK, a random id, or the original, for the active slots."""
        _, replacements = self.tables(original.device)
        u = torch.rand(original.shape, generator=generator, device=original.device)
        pick = torch.randint(0, replacements.numel(), original.shape, generator=generator, device=original.device)
        cfg = self.config
        to_mask = active & (u < cfg.mask_fraction)
        to_random = active & (u >= cfg.mask_fraction) & (u < cfg.mask_fraction + cfg.random_fraction)
        out = torch.where(to_random, replacements[pick], original)
        return torch.where(to_mask, torch.full_like(original, MASK), out)

    def _mask_tokens(self, codes: torch.Tensor, generator: torch.Generator) -> MaskedBatch:
        batch = self.tokenizer.encode(codes)
        ids = batch.ids.to(codes.device)
        real = batch.attention_mask.to(codes.device)
        body = ids[:, 1:]
        maskable, _ = self.tables(codes.device)
        valid = maskable[body] & real[:, 1:] if self.kind == "bpe" else maskable[body]
        positions, active = select_units(valid, self.config.rate, generator)
        original = body.gather(1, positions)
        new_body = body.scatter(1, positions, self._replace(original, active, generator))
        classes = original - NUM_SPECIAL if self.kind == "onehot" else original
        targets = torch.where(active, classes, torch.full_like(classes, IGNORE))
        bases = None
        if self.kind in ("onehot", "patch"):
            per_unit = 1 if self.kind == "onehot" else self.tokenizer.k  # type: ignore[attr-defined]

            def bases() -> torch.Tensor:
                hidden = torch.zeros_like(body, dtype=torch.bool).scatter(1, positions, active)
                return hidden.repeat_interleave(per_unit, dim=1)[:, : codes.shape[1]]

        mask = real if self.kind == "bpe" else None  # the fixed-length tokenizers never pad
        return MaskedBatch(torch.cat([ids[:, :1], new_body], dim=1), mask, positions, targets, bases)

    def _mask_kmer(self, codes: torch.Tensor, generator: torch.Generator) -> MaskedBatch:
        tok = self.tokenizer
        k, stride, span = tok.k, tok.stride, self.span  # type: ignore[attr-defined]
        batch, length = codes.shape
        tokens = tok.num_tokens(length)
        device = codes.device
        gap = k + stride - 1  # a gap this wide holds whole k-mers, so its bases stay readable
        m = max(1, int(math.floor(self.config.rate * length / span + 0.5)))
        most = max((length - gap) // (span + gap), 0)
        if m > most:
            raise ValueError(
                f"mask rate {self.config.rate} needs {m} spans of {span} bases in {length} bases, but at most {most} fit "
                f"{gap} bases apart (k={k}, stride {stride}); use a longer --kmer-span or a lower rate"
            )
        # m spans, uniformly among placements that keep them `gap` apart and `gap` from the ends:
        # m sorted slots of `free`, spread apart by span + gap - 1
        free = length - 2 * gap - span + 1 - (m - 1) * (span + gap - 1)
        keys = torch.rand(batch, free, generator=generator, device=device)
        slots = torch.topk(keys, m, dim=1, largest=False).indices.sort(dim=1).values
        starts = gap + slots + torch.arange(m, device=device)[None, :] * (span + gap - 1)
        ends = starts + span
        cfg = self.config
        u = torch.rand(batch, m, generator=generator, device=device)
        is_mask = u < cfg.mask_fraction
        is_random = (u >= cfg.mask_fraction) & (u < cfg.mask_fraction + cfg.random_fraction)
        random_bases = torch.randint(0, 4, (batch, length), generator=generator, device=device, dtype=torch.uint8)
        every = torch.ones_like(is_mask)
        corrupted = torch.where(_cover(starts, ends, is_random, length), random_bases, codes)
        original = tok.encode(codes).ids.to(device)
        ids = tok.encode(corrupted).ids.to(device)
        # token j covers bases [j*stride, j*stride + k): it overlaps [a, b) when j*stride < b and j*stride + k > a
        first = torch.div(starts - k + stride, stride, rounding_mode="floor").clamp(min=0)  # ceil((a - k + 1) / stride)
        last = torch.div(ends - 1, stride, rounding_mode="floor") + 1
        hit = _cover(first, last, every, tokens)
        masked_tokens = _cover(first, last, is_mask, tokens)
        body = ids[:, 1:].masked_fill(masked_tokens, MASK)
        target = hit & (original[:, 1:] != UNK)
        n = min(tokens, m * (-(-(span + k - 1) // stride) + 1))
        order = torch.argsort((~target).to(torch.int8), dim=1, stable=True)[:, :n]
        active = torch.arange(n, device=device)[None, :] < target.sum(dim=1, keepdim=True)
        classes = original[:, 1:].gather(1, order)
        targets = torch.where(active, classes, torch.full_like(classes, IGNORE))
        return MaskedBatch(torch.cat([ids[:, :1], body], dim=1), None, order, targets, lambda: _cover(starts, ends, every, length))
