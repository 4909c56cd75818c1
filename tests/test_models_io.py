"""save_pretrained / from_pretrained round trips and reverse-complement averaging."""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest
import torch

import dnabench
from dnabench.alphabet import reverse_complement
from dnabench.models import DNAModel, TransformerModel, build_model, read_config
from dnabench.tokenize import train_bpe

TINY = dict(hidden_size=32, num_layers=2, num_heads=4, ffn_size=48, max_positions=1024)
CASES = [
    ("transformer", dict(tokenizer="patch", positions="rotary")),
    ("transformer", dict(tokenizer="kmer", positions="relative")),
    ("transformer", dict(tokenizer="onehot", positions="absolute")),
    ("transformer", dict(tokenizer="bpe", positions="relative")),
    ("cnn_fc", dict(seq_len=300, channels=(8, 12), fc_size=16)),
    ("cnn_lstm", dict(seq_len=300, channels=(8, 12), lstm_hidden=6)),
]


@functools.lru_cache(maxsize=1)
def tiny_bpe():
    rng = np.random.default_rng(0)
    return train_bpe([rng.integers(0, 4, (64, 1000), dtype=np.uint8)], vocab_size=128)


def make(name: str, options: dict) -> DNAModel:
    torch.manual_seed(0)
    options = dict(options)
    if name == "transformer":
        options.update(TINY)
        if options["tokenizer"] == "bpe":
            options["tokenizer"] = tiny_bpe()
    return build_model(name, num_outputs=4, **options)


def codes(batch: int = 3, length: int = 300, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 5, (batch, length), generator=g, dtype=torch.uint8)


@pytest.mark.parametrize("name, options", CASES, ids=[f"{n}-{o.get('tokenizer', '')}" for n, o in CASES])
def test_save_load_is_bit_identical(tmp_path, name, options):
    model = make(name, options)
    # Train a step so weights (and BatchNorm statistics) differ from a fresh init.
    batch = model.encode(codes(seed=5))
    model(batch.ids, batch.attention_mask).sum().backward()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * p.grad if p.grad is not None else 0)
    model.eval()
    path = model.save_pretrained(tmp_path / "model")
    assert {p.name for p in path.iterdir()} >= {"config.json", "model.safetensors", "tokenizer"}
    meta = json.loads((path / "config.json").read_text())
    assert meta["model"] == name and meta["dnabench_version"] == dnabench.__version__
    assert meta["tokenizer"]["type"] == model.tokenizer.name
    assert read_config(path)[1] == model.config

    loaded = DNAModel.from_pretrained(path).eval()
    assert type(loaded) is type(model) and loaded.config == model.config
    assert loaded.tokenizer.config() == model.tokenizer.config()
    batch = model.encode(codes())
    with torch.no_grad():
        assert torch.equal(model(batch.ids, batch.attention_mask), loaded(batch.ids, batch.attention_mask))
        assert torch.equal(model.embed(batch.ids, batch.attention_mask), loaded.embed(batch.ids, batch.attention_mask))
    assert torch.equal(model.predict_codes(codes()), loaded.predict_codes(codes()))
    # No pickle anywhere: the weights file is safetensors.
    assert (path / "model.safetensors").read_bytes()[8:9] == b"{"


def test_from_pretrained_checks_kind(tmp_path):
    path = make("cnn_fc", CASES[4][1]).save_pretrained(tmp_path / "cnn")
    with pytest.raises(TypeError, match="not a TransformerModel"):
        TransformerModel.from_pretrained(path)
    with pytest.raises(FileNotFoundError):
        DNAModel.from_pretrained(tmp_path / "nothing")


@pytest.mark.parametrize("name, options", CASES, ids=[f"{n}-{o.get('tokenizer', '')}" for n, o in CASES])
def test_reverse_complement_averaging(name, options):
    model = make(name, options).train()  # predict_codes switches to eval and back
    c = codes(4, 300, seed=3)
    rc_np = reverse_complement(c.numpy())
    assert torch.equal(model.reverse_complement(c), torch.from_numpy(rc_np))
    forward = model.predict_codes(c)
    backward = model.predict_codes(torch.from_numpy(rc_np))
    averaged = model.predict_codes(c, reverse_complement=True)
    assert model.training
    torch.testing.assert_close(averaged, (forward + backward) / 2, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(forward, backward)
    # numpy input and chunking give the same answer.
    torch.testing.assert_close(model.predict_codes(c.numpy(), reverse_complement=True, batch_size=3), averaged, rtol=1e-5, atol=1e-6)
    if model.config.head.output == "probability":
        assert ((averaged > 0) & (averaged < 1)).all()
