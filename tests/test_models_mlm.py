"""The MLM head: logits at the target positions per front end, tied or untied projection."""

from __future__ import annotations

import pytest
import torch

from dnabench.models import build_model
from dnabench.models.mlm import TransformerMLM, mlm_classes

TINY = {"hidden_size": 32, "num_layers": 1, "num_heads": 4, "ffn_size": 64, "dropout": 0.0}


def tiny(kind: str, **options):
    torch.manual_seed(0)
    return build_model("transformer", tokenizer=kind, **TINY, **options)


@pytest.mark.parametrize(("kind", "classes", "tied"), [("kmer", 4 + 4**5, True), ("patch", 4 + 5**4, False), ("onehot", 4, False)])
def test_logits_at_positions_per_front_end(kind, classes, tied):
    mlm = TransformerMLM(tiny(kind)).eval()
    codes = torch.randint(0, 4, (3, 64), dtype=torch.uint8)
    ids = mlm.backbone.encode(codes).ids
    units = ids.shape[1] - 1
    positions = torch.stack([torch.randperm(units)[:7] for _ in range(3)])
    logits = mlm(ids, None, positions)
    assert logits.shape == (3, 7, classes) and mlm.num_classes == classes and mlm.tied is tied
    # the same as the head on every token's state, read at the positions
    states, _ = mlm.backbone.hidden_states(ids)
    weight = mlm.backbone.frontend.embedding.weight if tied else None
    every = mlm.head(states[:, 1:], weight)
    if kind == "onehot":
        every = every.view(3, -1, 4, 4).flatten(1, 2)  # [B, tokens x pool, 4]: base i = token i // 4, slot i % 4
    expected = every.gather(1, positions[..., None].expand(-1, -1, classes))
    torch.testing.assert_close(logits, expected)


def test_tied_projection_is_the_embedding():
    mlm = TransformerMLM(tiny("kmer"))
    assert mlm.head.decoder is None
    ids = mlm.backbone.encode(torch.randint(0, 4, (2, 20), dtype=torch.uint8)).ids
    logits = mlm(ids, None, torch.zeros(2, 1, dtype=torch.long))
    logits[..., 100].sum().backward()
    grad = mlm.backbone.frontend.embedding.weight.grad
    assert grad is not None and grad[100].abs().sum() > 0
    untied = TransformerMLM(tiny("kmer"), tie=False)
    assert untied.head.decoder is not None and untied.head.decoder.out_features == 4 + 4**5
    with pytest.raises(ValueError, match="no token embedding to tie"):
        TransformerMLM(tiny("onehot"), tie=True)


def test_mlm_needs_a_transformer_and_names_its_classes():
    with pytest.raises(TypeError, match="needs a transformer"):
        TransformerMLM(build_model("cnn_fc", seq_len=100, channels=(8,)))
    assert mlm_classes(tiny("onehot", pool=2)) == (4, 2)
    assert mlm_classes(tiny("patch", k=3)) == (4 + 5**3, 1)
