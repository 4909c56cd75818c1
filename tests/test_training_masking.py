"""Tokenizer-aware MLM masking: the unit per tokenizer, no k-mer leak, BERT's 80/10/10, N never a target."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dnabench.alphabet import N
from dnabench.tokenize import MASK, NUM_SPECIAL, UNK, get_tokenizer, train_bpe
from dnabench.training.masking import IGNORE, Masker, MaskingConfig, num_classes, select_units


def random_codes(batch: int, length: int, seed: int = 0, n_runs: bool = True) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    codes = torch.randint(0, 4, (batch, length), generator=g, dtype=torch.uint8)
    if n_runs:
        codes[0, 30:45] = N
        codes[1, length - 7 :] = N
    return codes


def half_up(x: float) -> int:
    """The masker's rounding of unit counts (Python's round() rounds halves to even)."""
    return int(np.floor(x + 0.5))


def gen(seed: int = 1) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def kmer_cover(masked_bases: torch.Tensor, k: int, stride: int) -> torch.Tensor:
    """bool [B, T]: the k-mer tokens that cover a masked base."""
    return masked_bases.unfold(1, k, stride).any(dim=-1)


@pytest.mark.parametrize(("k", "stride", "span", "rate"), [(5, 1, None, 0.3), (3, 1, 2, 0.2), (6, 2, 4, 0.2), (5, 1, 1, 0.1)])
def test_kmer_masked_bases_cannot_be_read_from_unmasked_tokens(k, stride, span, rate):
    tok = get_tokenizer("kmer", k=k, stride=stride)
    masker = Masker(tok, MaskingConfig(rate=rate, span=span))
    codes = random_codes(16, 203)
    out = masker(codes, gen())
    hidden = out.masked_bases
    tokens = tok.num_tokens(codes.shape[1])
    covered = kmer_cover(hidden[:, : (tokens - 1) * stride + k], k, stride)
    target = torch.zeros_like(covered).scatter(1, out.positions, out.active)
    body = out.ids[:, 1:]
    original = tok.encode(codes).ids[:, 1:]
    # every token that covers a masked base is corrupted and predicted (or holds N: UNK, never a target)
    assert torch.equal(target, covered & (original != UNK))
    # every other token is exactly the original k-mer
    assert torch.equal(body[~covered], original[~covered])
    # and its ids do not depend on the masked bases at all: change them, mask again with the same seed
    changed = codes.clone()
    changed[hidden & (codes < 4)] = (codes[hidden & (codes < 4)] + 1) % 4
    again = masker(changed, gen())
    assert torch.equal(again.masked_bases, hidden) and torch.equal(again.positions, out.positions)
    assert torch.equal(again.ids[:, 1:][~target], body[~target])
    # targets are the original k-mers of the corrupted tokens
    assert torch.equal(out.targets[out.active], original.gather(1, out.positions)[out.active])
    # the mask rate is the fraction of bases hidden
    spans = half_up(rate * codes.shape[1] / (span or k))
    assert hidden.sum(dim=1).tolist() == [spans * (span or k)] * codes.shape[0]


def test_kmer_masking_one_token_leaks_and_span_masking_does_not():
    """BERT's unit (one 5-mer) hides nothing: its neighbours spell its bases. Masking every k-mer
    that overlaps a masked base leaves exactly the masked bases unreadable."""
    tok = get_tokenizer("kmer", k=5)
    codes = random_codes(4, 120, n_runs=False)
    ids = tok.encode(codes).ids
    one = ids.clone()
    one[:, 1 + 50] = MASK
    assert all(np.array_equal(row, c.numpy()) for row, c in zip(tok.decode(one), codes))
    out = Masker(tok, MaskingConfig(rate=0.2, mask_fraction=1.0, random_fraction=0.0))(codes, gen(3))
    decoded = torch.from_numpy(np.stack(tok.decode(out.ids)))
    assert torch.equal(decoded == N, out.masked_bases)
    assert torch.equal(decoded[~out.masked_bases], codes[~out.masked_bases])


def test_patch_masks_and_predicts_whole_patches():
    tok = get_tokenizer("patch", k=4)
    codes = random_codes(8, 1024)
    out = Masker(tok)(codes, gen())
    original = tok.encode(codes).ids[:, 1:]
    assert out.positions.shape == (8, round(0.3 * 256))
    # targets are the 5**k ids of the selected patches
    assert torch.equal(out.targets[out.active], original.gather(1, out.positions)[out.active])
    # the hidden bases are whole patches: 4 at a time, aligned
    per_patch = out.masked_bases.view(8, 256, 4)
    assert (per_patch.all(dim=-1) | ~per_patch.any(dim=-1)).all()
    # rows without N: exactly 30 % of the patches; row 0 has 4 patches with N, none of them a target
    assert out.active[2:].sum(dim=1).tolist() == [77] * 6
    n_patches = (codes[0].view(256, 4) == N).any(dim=-1)
    assert not n_patches[out.positions[0][out.active[0]]].any()
    assert out.active[0].sum() == half_up(0.3 * int((~n_patches).sum()))
    assert out.attention_mask is None and num_classes(tok) == tok.vocab_size


def test_onehot_masks_and_predicts_bases():
    tok = get_tokenizer("onehot")
    codes = random_codes(4, 300)
    out = Masker(tok)(codes, gen())
    picked = codes.long().gather(1, out.positions)
    assert torch.equal(out.targets[out.active], picked[out.active])
    assert set(out.targets[out.active].unique().tolist()) <= {0, 1, 2, 3}
    assert not (picked[out.active] == N).any()
    assert num_classes(tok) == 4
    assert torch.equal(out.masked_bases, torch.zeros_like(codes, dtype=torch.bool).scatter(1, out.positions, out.active))


def test_bpe_masks_and_predicts_tokens():
    rng = np.random.default_rng(0)
    pool = [rng.integers(0, 4, size=rng.integers(4, 12), dtype=np.uint8) for _ in range(20)]
    corpus = [np.concatenate([pool[i] for i in rng.integers(0, 20, size=60)]) for _ in range(30)]
    tok = train_bpe(corpus, vocab_size=120)
    codes = torch.from_numpy(np.stack([c[:200] for c in corpus[:6]]))
    codes[0, 50:60] = N
    encoded = tok.encode(codes)
    out = Masker(tok)(codes, gen())
    real = encoded.attention_mask[:, 1:]
    assert out.attention_mask is not None and torch.equal(out.attention_mask, encoded.attention_mask)
    assert torch.equal(out.targets[out.active], encoded.ids[:, 1:].gather(1, out.positions)[out.active])
    assert real.gather(1, out.positions)[out.active].all()  # never padding
    n_ids = {i for i, piece in enumerate(tok.decode(torch.arange(tok.vocab_size)[:, None])) if (piece == N).any()}
    assert not set(out.targets[out.active].tolist()) & n_ids
    # per row: 30 % of its real tokens without N
    assert out.active.sum(dim=1).tolist() == [
        half_up(0.3 * int((r & ~torch.isin(ids, torch.tensor(sorted(n_ids)))).sum())) for r, ids in zip(real, encoded.ids[:, 1:])
    ]


@pytest.mark.parametrize(("kind", "chance_same"), [("patch", 1 / 256), ("onehot", 1 / 4)])
def test_80_10_10_replacement(kind, chance_same):
    tok = get_tokenizer(kind)
    codes = random_codes(128, 1024, n_runs=False)
    out = Masker(tok)(codes, gen(7))
    original = tok.encode(codes).ids[:, 1:].gather(1, out.positions)[out.active]
    now = out.ids[:, 1:].gather(1, out.positions)[out.active]
    total = now.numel()
    masked = (now == MASK).float().sum() / total
    random_changed = ((now != MASK) & (now != original)).float().sum() / total
    unchanged = (now == original).float().sum() / total
    assert masked == pytest.approx(0.8, abs=0.01)
    assert random_changed == pytest.approx(0.1 * (1 - chance_same), abs=0.01)
    assert unchanged == pytest.approx(0.1 + 0.1 * chance_same, abs=0.01)
    assert (now[now != MASK] >= NUM_SPECIAL).all()  # replacements are real units
    # only the selected units change
    selected = torch.zeros_like(out.ids[:, 1:], dtype=torch.bool).scatter(1, out.positions, out.active)
    assert torch.equal(out.ids[:, 1:][~selected], tok.encode(codes).ids[:, 1:][~selected])


def test_kmer_replacement_is_decided_per_span():
    tok = get_tokenizer("kmer", k=5)
    codes = random_codes(256, 512, n_runs=False)
    out = Masker(tok, MaskingConfig(span=5))(codes, gen(9))
    original = tok.encode(codes).ids[:, 1:]
    body = out.ids[:, 1:]
    corrupted = torch.zeros_like(body, dtype=torch.bool).scatter(1, out.positions, out.active)
    # a span's 9 tokens are all MASK, all re-tokenized random bases, or all unchanged: count spans by their middle token
    hidden = out.masked_bases
    starts = hidden & ~torch.nn.functional.pad(hidden, (1, 0))[:, :-1]
    middle = torch.nonzero(starts)
    sel = body[middle[:, 0], middle[:, 1]]
    orig = original[middle[:, 0], middle[:, 1]]
    masked = (sel == MASK).float().mean()
    assert masked == pytest.approx(0.8, abs=0.02)
    assert ((sel != MASK) & (sel != orig)).float().mean() == pytest.approx(0.1 * (1 - 1 / 1024), abs=0.02)
    assert corrupted.sum(dim=1).tolist() == [31 * 9] * 256  # 31 spans of 5 bases, 9 tokens each: 0.3 * 9 / 5 of the bases


def test_masks_are_a_function_of_the_generator_seed():
    tok = get_tokenizer("patch")
    codes = random_codes(4, 256)
    a, b, c = (Masker(tok)(codes, gen(s)) for s in (5, 5, 6))
    assert torch.equal(a.ids, b.ids) and torch.equal(a.positions, b.positions) and torch.equal(a.targets, b.targets)
    assert not torch.equal(a.ids, c.ids)


def test_select_units_counts_and_static_shape():
    valid = torch.ones(3, 50, dtype=torch.bool)
    valid[1, 10:] = False
    positions, active = select_units(valid, 0.3, gen())
    assert positions.shape == (3, 15)
    assert active.sum(dim=1).tolist() == [15, 3, 15]
    assert valid.gather(1, positions)[active].all()
    assert all(len(set(row.tolist())) == 15 for row in positions)


def test_bad_masking_options_are_refused():
    with pytest.raises(ValueError, match="mask rate must be in"):
        MaskingConfig(rate=0.0)
    with pytest.raises(ValueError, match="mask_fraction \\+ random_fraction"):
        MaskingConfig(mask_fraction=0.9, random_fraction=0.2)
    with pytest.raises(ValueError, match="at most 50 fit 5 bases apart .* use a longer --kmer-span"):
        Masker(get_tokenizer("kmer", k=5), MaskingConfig(rate=0.6))(random_codes(2, 512), gen())
    Masker(get_tokenizer("kmer", k=5), MaskingConfig(rate=0.6, span=10))(random_codes(2, 512), gen())
    with pytest.raises(ValueError, match="span applies to the kmer tokenizer only"):
        Masker(get_tokenizer("patch"), MaskingConfig(span=3))
