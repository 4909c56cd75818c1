"""Every model kind builds from typed configs and trains (forward + backward) at 500 and 1000 bp."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from dnabench.models import (
    CNNFCConfig,
    ConvStackConfig,
    EncoderConfig,
    FrontendConfig,
    HeadConfig,
    TransformerConfig,
    build_model,
    make_config,
)
from dnabench.tokenize import get_tokenizer, train_bpe

TOKENIZERS = ("onehot", "kmer", "patch", "bpe")
POSITIONS = ("rotary", "relative", "absolute")
TINY = dict(hidden_size=32, num_layers=2, num_heads=4, ffn_size=48, max_positions=1024, dropout=0.1)
TINY_CNN = dict(channels=(8, 12), kernel_size=8, pool_size=4, lstm_hidden=6, fc_size=16)


@functools.lru_cache(maxsize=1)
def tiny_bpe():
    rng = np.random.default_rng(0)
    return train_bpe([rng.integers(0, 4, (64, 1000), dtype=np.uint8)], vocab_size=128)


def tokenizer_for(kind: str):
    return tiny_bpe() if kind == "bpe" else kind


def codes(batch: int, length: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 5, (batch, length), generator=g, dtype=torch.uint8)


def train_step(model, length: int) -> torch.Tensor:
    batch = model.encode(codes(3, length))
    logits = model(batch.ids, batch.attention_mask)
    assert logits.shape == (3, model.config.head.num_outputs)
    assert torch.isfinite(logits).all()
    logits.float().pow(2).mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None for g in grads), "every parameter gets a gradient"
    assert any(g.abs().sum() > 0 for g in grads)
    return logits


@pytest.mark.parametrize("length", [500, 1000])
@pytest.mark.parametrize("positions", POSITIONS)
@pytest.mark.parametrize("kind", TOKENIZERS)
def test_transformer_forward_backward(kind, positions, length):
    torch.manual_seed(0)
    model = build_model("transformer", tokenizer=tokenizer_for(kind), positions=positions, num_outputs=5, **TINY)
    assert model.config.frontend.tokenizer == kind
    train_step(model, length)
    batch = model.encode(codes(2, length))
    rep = model.embed(batch.ids, batch.attention_mask)
    assert rep.shape == (2, 32)


@pytest.mark.parametrize("length", [500, 1000])
@pytest.mark.parametrize("name", ["cnn_fc", "cnn_lstm"])
def test_cnn_forward_backward(name, length):
    torch.manual_seed(0)
    options = dict(TINY_CNN)
    options.pop("fc_size" if name == "cnn_lstm" else "lstm_hidden")
    model = build_model(name, seq_len=length, num_outputs=4, **options)
    train_step(model, length)
    expected = 16 if name == "cnn_fc" else 12
    assert model.embed(model.encode(codes(2, length)).ids).shape == (2, expected)


def test_cnn_accepts_cls_column_and_rejects_wrong_length():
    model = build_model("cnn_fc", seq_len=500, channels=(4,), fc_size=8).eval()
    c = codes(2, 500)
    plain = model(model.tokenizer.encode(c, add_cls=False).ids)
    with_cls = model(model.tokenizer.encode(c, add_cls=True).ids)
    assert torch.equal(plain, with_cls)
    with pytest.raises(ValueError, match="seq_len"):
        model(model.tokenizer.encode(codes(2, 400), add_cls=False).ids)


def test_onehot_frontend_pools_tokens():
    model = build_model("transformer", tokenizer="onehot", **TINY)
    states, mask = model.hidden_states(model.encode(codes(2, 1000)).ids)
    assert states.shape == (2, 1 + 250, 32) and mask is None
    states, _ = model.hidden_states(model.encode(codes(2, 998)).ids)
    assert states.shape == (2, 1 + 250, 32)  # ceil(998 / 4)


def test_default_parameter_counts():
    """The paper's model: 4 x 512, 8 heads, GEGLU FFN 1344, 4-patch + Conv1d(7), rotary."""
    model = build_model("transformer", num_outputs=1)
    h, f, layers, vocab = 512, 1344, 4, 4 + 5**4
    per_layer = (h * 3 * h + 3 * h) + (h * h + h) + (h * 2 * f + 2 * f) + (f * h + h) + 4 * h
    frontend = vocab * h + (h * h * 7 + h)
    head = (h * h + h) + (h + 1)
    assert model.num_parameters() == frontend + layers * per_layer + 2 * h + head
    assert model.num_parameters(exclude_embeddings=True) == model.num_parameters() - vocab * h
    cfg = model.config
    assert (cfg.encoder.num_layers, cfg.encoder.hidden_size, cfg.encoder.num_heads) == (4, 512, 8)
    assert cfg.encoder.activation == "geglu" and cfg.encoder.positions == "rotary"
    assert cfg.frontend.tokenizer == "patch" and cfg.frontend.k == 4 and cfg.frontend.conv_kernel == 7
    # DeepSEA-sized CNN baselines at 1000 bp.
    fc = build_model("cnn_fc")
    conv = (4 * 320 * 8 + 320 * 2) + (320 * 480 * 8 + 480 * 2) + (480 * 960 * 8 + 960 * 2)
    assert fc.config.conv.output_length() == 13
    assert fc.num_parameters() == conv + (960 * 13 * 925 + 925) + (925 * 925 + 925) + (925 + 1)
    lstm = build_model("cnn_lstm")
    lstm_params = 2 * (4 * 320 * (960 + 320) + 8 * 320)
    assert lstm.num_parameters() == conv + lstm_params + (640 * 640 + 640) + (640 + 1)


def test_config_routing_and_defaults():
    cfg = make_config("transformer", tokenizer="kmer", positions="relative", hidden_size=64, num_heads=4, num_outputs=7)
    assert isinstance(cfg, TransformerConfig)
    assert cfg.frontend == FrontendConfig(tokenizer="kmer", k=5, stride=1, vocab_size=4 + 4**5)
    assert cfg.encoder.positions == "relative" and cfg.encoder.hidden_size == 64
    assert cfg.head.num_outputs == 7
    # Overrides on top of a config; switching tokenizer re-derives k and vocab.
    cfg2 = make_config("transformer", cfg, tokenizer="patch")
    assert cfg2.frontend.k == 4 and cfg2.frontend.vocab_size == 629 and cfg2.frontend.conv_kernel == 7
    assert cfg2.encoder.hidden_size == 64
    # Same kind again keeps the given k.
    assert make_config("transformer", make_config("transformer", tokenizer="kmer", k=3), tokenizer="kmer").frontend.k == 3
    # Whole parts and dicts.
    cfg3 = make_config("cnn_fc", {"conv": {"seq_len": 500}, "head": {"num_outputs": 2}})
    assert cfg3 == CNNFCConfig(conv=ConvStackConfig(seq_len=500), head=HeadConfig(num_outputs=2))


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: EncoderConfig(positions="rope"), "positions must be one of 'rotary', 'relative', 'absolute'"),
        (lambda: EncoderConfig(activation="swiglu"), "activation must be one of"),
        (lambda: EncoderConfig(hidden_size=100, num_heads=8), "divisible by num_heads"),
        (lambda: EncoderConfig(dropout=1.5), "dropout must be a float in"),
        (lambda: FrontendConfig(tokenizer="bytes"), "tokenizer must be one of"),
        (lambda: FrontendConfig(tokenizer="kmer", vocab_size=99), "vocab_size of a kmer front end must be 1028"),
        (lambda: FrontendConfig(tokenizer="bpe", k=3), "k applies to kmer and patch"),
        (lambda: FrontendConfig(tokenizer="patch", conv_kernel=6), "must be odd"),
        (lambda: HeadConfig(output="logit"), "output must be one of 'probability', 'value'"),
        (lambda: TransformerConfig(pooling="max"), "pooling must be one of 'cls', 'mean'"),
        (lambda: ConvStackConfig(seq_len=5), "shorter than one convolution kernel"),
        (lambda: make_config("transformer", hidden=3), "unknown option"),
        (lambda: build_model("resnet"), "unknown model 'resnet'"),
        (lambda: build_model("transformer", tokenizer="bpe"), "needs its trained tokenizer"),
        (lambda: build_model("transformer", tokenizer=get_tokenizer("kmer", k=3), k=5), "does not match|vocab_size"),
    ],
)
def test_config_errors_are_clear(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_bpe_vocab_from_tokenizer_and_reglu():
    tok = tiny_bpe()
    model = build_model("transformer", tokenizer=tok, activation="reglu", **TINY)
    assert model.config.frontend.vocab_size == tok.vocab_size
    assert model.needs_attention_mask
    assert model.encoder.blocks[0].ffn.inp.out_features == 2 * 48


@pytest.mark.parametrize("kind", ["patch", "bpe"])
def test_mean_pooling_averages_the_real_tokens_after_cls(kind):
    """pooling="mean": the representation is the mean of the final token states after CLS, padding
    left out, so each row of a padded BPE batch is represented as the row alone; "cls" stays the CLS state."""
    torch.manual_seed(0)
    model = build_model("transformer", tokenizer=tokenizer_for(kind), pooling="mean", **TINY).eval()
    rows = codes(4, 300, seed=1)
    batch = model.encode(rows)
    with torch.no_grad():
        pooled = model.embed(batch.ids, batch.attention_mask)
        for i in range(len(rows)):
            alone = model.encode(rows[i : i + 1])
            states, _ = model.hidden_states(alone.ids, alone.attention_mask)
            torch.testing.assert_close(pooled[i], states[0, 1:].mean(dim=0), atol=1e-5, rtol=1e-4)
    if kind == "bpe":
        assert batch.attention_mask is not None and not bool(batch.attention_mask.all()), "the batch holds padding"
    cls_model = build_model("transformer", tokenizer=tokenizer_for(kind), **TINY).eval()
    cls_model.load_state_dict(model.state_dict())
    with torch.no_grad():
        states, _ = cls_model.hidden_states(batch.ids, batch.attention_mask)
        torch.testing.assert_close(cls_model.embed(batch.ids, batch.attention_mask), states[:, 0])
    train_step(model, 300)


@pytest.mark.parametrize("name", ["cnn_fc", "cnn_lstm"])
@pytest.mark.parametrize("length", [50, 70, 101, 210])
def test_cnn_baselines_run_on_short_inputs(name, length):
    """GUE's 70 and 101 bp tables: a short input is N-padded on both sides to the shortest length
    the DeepSEA layout takes (211 bp), which is what the same model built for 211 bp sees."""
    torch.manual_seed(0)
    size = {"fc_size": 16} if name == "cnn_fc" else {"lstm_hidden": 8}
    short = build_model(name, seq_len=length, channels=(8, 8, 8), **size)
    assert short.config.conv.padded_length() == short.config.conv.min_length() == 211
    long = type(short)(type(short.config)(**{**short.config.__dict__, "conv": ConvStackConfig(seq_len=211, channels=(8, 8, 8))}))
    long.load_state_dict(short.state_dict())
    short.eval(), long.eval()
    codes = torch.randint(0, 4, (3, length), dtype=torch.uint8)
    left = (211 - length) // 2
    padded = torch.full((3, 211), 4, dtype=torch.uint8)
    padded[:, left : left + length] = codes
    out = short.predict_codes(codes)
    assert out.shape == (3, 1) and torch.isfinite(out).all()
    torch.testing.assert_close(out, long.predict_codes(padded))


@pytest.mark.parametrize("reverse_complement", [False, True])
def test_a_compiled_model_predicts_every_batch_at_one_shape(reverse_complement, monkeypatch):
    """The last, short batch is filled up to the batch size (a compiled model would otherwise compile
    again for it), and the filler never reaches the predictions."""
    torch.manual_seed(0)
    model = build_model("transformer", tokenizer="patch", **TINY).eval()
    x = codes(11, 64)
    want = model.predict_codes(x, reverse_complement, batch_size=4)
    model._compiled = True  # what compile() records; the shapes below are what a compiled forward would see
    shapes = []
    forward = model._predict_batch
    monkeypatch.setattr(model, "_predict_batch", lambda c, *a, **k: shapes.append(c.shape[0]) or forward(c, *a, **k))
    got = model.predict_codes(x, reverse_complement, batch_size=4)
    assert set(shapes) == {8 if reverse_complement else 4} and len(shapes) == 3
    torch.testing.assert_close(got, want)
    assert model.predict_codes(x[:3].numpy(), reverse_complement, batch_size=4, as_numpy=True).shape == (3, 1)


def test_a_compiled_bpe_model_fills_its_last_batch_with_its_own_rows():
    """All-N filler rows would be one BPE token a base (N is never merged): longer than the absolute
    position table of a model sized for real rows. The filler repeats the batch's rows instead."""
    torch.manual_seed(0)
    model = build_model("transformer", tokenizer=tiny_bpe(), positions="absolute", **{**TINY, "max_positions": 200}).eval()
    x = codes(5, 240)
    want = model.predict_codes(x, batch_size=8)
    model._compiled = True
    torch.testing.assert_close(model.predict_codes(x, batch_size=8), want)
