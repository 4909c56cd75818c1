"""Positions and padding: rotary is relative, the relative bias is exact, padding changes nothing."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dnabench.models import build_model
from dnabench.models.attention import MultiHeadAttention
from dnabench.models.positions import (
    RelativePositionBias,
    RotaryEmbedding,
    apply_rotary,
    relative_bias_matrix,
    relative_bucket,
    rotary_cos_sin,
)
from dnabench.tokenize import PAD, train_bpe

TINY = dict(hidden_size=32, num_layers=2, num_heads=4, ffn_size=48, max_positions=1024)


@functools.lru_cache(maxsize=1)
def tiny_bpe():
    rng = np.random.default_rng(0)
    return train_bpe([rng.integers(0, 4, (64, 1000), dtype=np.uint8)], vocab_size=128)


def test_rotary_scores_depend_only_on_offsets():
    torch.manual_seed(0)
    length, dim = 12, 16
    q = torch.randn(2, 3, length, dim, dtype=torch.float64)
    k = torch.randn(2, 3, length, dim, dtype=torch.float64)

    def scores(shift: int) -> torch.Tensor:
        cos, sin = rotary_cos_sin(torch.arange(length) + shift, dim)
        cos, sin = cos.double(), sin.double()
        return apply_rotary(q, cos, sin) @ apply_rotary(k, cos, sin).transpose(-1, -2)

    base = scores(0)
    for shift in (1, 7, 300):
        torch.testing.assert_close(scores(shift), base, rtol=1e-5, atol=1e-5)
    # Rotation keeps norms and really depends on position (not a no-op).
    cos, sin = rotary_cos_sin(torch.arange(length), dim)
    rotated = apply_rotary(q.float(), cos, sin)
    torch.testing.assert_close(rotated.norm(dim=-1), q.float().norm(dim=-1))
    assert not torch.allclose(rotated[..., 1:, :], q.float()[..., 1:, :])


def test_rotary_cache_matches_fresh_tables():
    rope = RotaryEmbedding(16, max_positions=8)
    cos_short, _ = rope(5)
    cos_long, sin_long = rope(20)  # longer than the cache: computed on the fly
    fresh_cos, fresh_sin = rotary_cos_sin(torch.arange(20), 16)
    torch.testing.assert_close(cos_long, fresh_cos)
    torch.testing.assert_close(sin_long, fresh_sin)
    torch.testing.assert_close(cos_short, fresh_cos[:5])


def test_relative_buckets_t5():
    rel = torch.arange(-300, 301)
    buckets = relative_bucket(rel, 32, 128)
    assert buckets.min() == 0 and buckets.max() == 31
    # Exact buckets for small offsets, one direction per half.
    assert buckets[300 + 0] == 0 and buckets[300 + 3] == 16 + 3 and buckets[300 - 3] == 3
    # Far offsets saturate.
    assert buckets[300 + 200] == buckets[300 + 128] == 31 and buckets[0] == 15


def test_relative_bias_sdpa_matches_explicit_attention():
    torch.manual_seed(0)
    rel = RelativePositionBias(num_heads=4, num_buckets=16, max_distance=32, max_positions=16)
    torch.nn.init.normal_(rel.bias.weight)
    length = 10
    per_offset = rel(length)
    matrix = relative_bias_matrix(per_offset, length)
    for i in range(length):
        for j in range(length):
            bucket = relative_bucket(torch.tensor(j - i), 16, 32)
            torch.testing.assert_close(matrix[:, i, j], rel.bias.weight[bucket])
    q, k, v = (torch.randn(2, 4, length, 8) for _ in range(3))
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=matrix[None])
    manual = torch.softmax(q @ k.transpose(-1, -2) / 8**0.5 + matrix, dim=-1) @ v
    torch.testing.assert_close(out, manual, rtol=1e-5, atol=1e-5)


def test_attention_padding_mask():
    """A padded key changes nothing for the real queries."""
    torch.manual_seed(0)
    attn = MultiHeadAttention(32, 4).eval()
    x = torch.randn(1, 6, 32)
    padded = torch.cat([x, torch.randn(1, 3, 32)], dim=1)
    mask = torch.tensor([[True] * 6 + [False] * 3])
    alone = attn(x)
    with_pad = attn(padded, attn_mask=mask[:, None, None, :])
    torch.testing.assert_close(with_pad[:, :6], alone, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("positions", ["rotary", "relative", "absolute"])
def test_bpe_padding_does_not_change_outputs(positions):
    tok = tiny_bpe()
    torch.manual_seed(0)
    model = build_model("transformer", tokenizer=tok, positions=positions, num_outputs=3, **TINY).eval()
    rng = np.random.default_rng(1)
    rows = rng.integers(0, 4, (8, 300), dtype=np.uint8)
    lengths = tok.encode(rows).attention_mask.sum(axis=1)
    short, long = int(np.argmin(lengths)), int(np.argmax(lengths))
    assert lengths[short] < lengths[long]
    pair = torch.from_numpy(rows[[short, long]])
    batch = model.encode(pair)
    assert not batch.attention_mask[0].all()  # the short row is padded
    alone = model.encode(pair[:1])
    with torch.no_grad():
        out_batch = model(batch.ids, batch.attention_mask)
        out_alone = model(alone.ids, alone.attention_mask)
        rep_batch = model.embed(batch.ids, batch.attention_mask)
        rep_alone = model.embed(alone.ids, alone.attention_mask)
    torch.testing.assert_close(out_batch[:1], out_alone, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(rep_batch[:1], rep_alone, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind, length", [("patch", 1000), ("onehot", 998), ("kmer", 500)])
@pytest.mark.parametrize("positions", ["rotary", "relative"])
def test_conv_frontends_carry_the_mask(kind, length, positions):
    """Right-padding ids (PAD, mask False) gives the row's own outputs: conv and pooling respect the mask."""
    torch.manual_seed(0)
    model = build_model("transformer", tokenizer=kind, positions=positions, num_outputs=2, **TINY).eval()
    codes = torch.randint(0, 5, (1, length), dtype=torch.uint8)
    batch = model.encode(codes)
    extra = 7
    ids = torch.cat([batch.ids, torch.full((1, extra), PAD)], dim=1)
    mask = torch.cat([batch.attention_mask, torch.zeros(1, extra, dtype=torch.bool)], dim=1)
    with torch.no_grad():
        alone = model(batch.ids)
        padded = model(ids, mask)
        states, token_mask = model.hidden_states(ids, mask)
    torch.testing.assert_close(padded, alone, rtol=1e-5, atol=1e-5)
    assert token_mask is not None and token_mask.shape == states.shape[:2]
    assert token_mask.sum() == model.hidden_states(batch.ids)[0].shape[1]


def test_relative_bias_span_grows_past_max_positions():
    rel = RelativePositionBias(num_heads=2, num_buckets=8, max_distance=16, max_positions=8)
    torch.nn.init.normal_(rel.bias.weight)
    assert rel(5).shape == (2, 2 * 8 - 1)  # constant span for short inputs
    per_offset = rel(20)
    assert per_offset.shape == (2, 2 * 20 - 1)
    matrix = relative_bias_matrix(per_offset, 20)
    offsets = torch.arange(20)[None, :] - torch.arange(20)[:, None]
    expected = rel.bias.weight[relative_bucket(offsets, 8, 16)].permute(2, 0, 1)
    torch.testing.assert_close(matrix, expected)
    torch.testing.assert_close(relative_bias_matrix(rel(5), 5), expected[:, :5, :5])
