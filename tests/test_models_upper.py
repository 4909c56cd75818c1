"""upper_transformer: shapes, config, save/load, the features predict path, and learning a planted signal."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dnabench.evaluation.regression import spearman_per_target
from dnabench.models import DNAModel, build_model
from dnabench.models.upper import UpperTransformerConfig, UpperTransformerModel

TINY = {"hidden_size": 32, "num_layers": 2, "num_heads": 4, "ffn_size": 64}


def tiny(**kw):
    torch.manual_seed(0)
    return build_model("upper_transformer", **{"input_size": 8, "segments": 6, "num_outputs": 3, **TINY, **kw})


def test_defaults_are_the_papers_upper_model():
    config = UpperTransformerConfig()
    enc = config.encoder
    assert (enc.hidden_size, enc.num_layers, enc.num_heads, enc.activation, enc.positions) == (512, 4, 8, "relu", "absolute")
    assert enc.ffn_size == 4 * enc.hidden_size and config.head.output == "value" and config.segments == 200
    model = build_model("upper_transformer", num_outputs=218)
    assert model(torch.randn(2, 200, 512)).shape == (2, 218)
    assert not model.encoder.blocks[0].ffn.gated  # a plain ReLU FFN


def test_window_and_segment_inputs():
    model = tiny().eval()
    x = torch.randn(5, 6, 8)
    assert model(x).shape == (5, 3) and model.embed(x).shape == (5, 32)
    assert model(torch.randn(5, 8)).shape == (5, 3)  # [B, D]: one position
    np.testing.assert_allclose(model(x[:, :1]).detach(), model(x[:, 0]).detach(), atol=1e-6)
    moved = x.clone()
    moved[:, [0, 1]] = x[:, [1, 0]]
    assert not torch.allclose(model(x), model(moved))  # positions matter: learned position embedding
    cls = tiny(pool="cls").eval()
    assert cls(x).shape == (5, 3) and cls.cls is not None
    with pytest.raises(ValueError, match="features have 9 values a position, the model was built for 8"):
        model(torch.randn(2, 6, 9))
    with pytest.raises(ValueError, match="features have 7 positions, the model was built for at most 6"):
        model(torch.randn(2, 7, 8))


def test_config_errors():
    with pytest.raises(ValueError, match="pool must be one of 'mean', 'cls'"):
        UpperTransformerConfig(pool="max")
    with pytest.raises(ValueError, match=r"segments \(512 \+ CLS\) exceeds encoder.max_positions \(512\)"):
        UpperTransformerConfig(segments=512, pool="cls")
    with pytest.raises(ValueError, match="takes no tokenizer"):
        UpperTransformerModel(UpperTransformerConfig(), tokenizer=object())


def test_save_and_load_give_the_same_predictions(tmp_path):
    model = tiny(pool="cls").eval()
    path = model.save_pretrained(tmp_path / "m")
    loaded = DNAModel.from_pretrained(path)
    assert isinstance(loaded, UpperTransformerModel) and loaded.config == model.config and loaded.tokenizer is None
    x = torch.randn(4, 6, 8)
    torch.testing.assert_close(loaded.eval()(x), model(x))


def test_predict_codes_takes_features_not_codes():
    model = tiny()
    x = np.random.default_rng(0).normal(size=(10, 6, 8)).astype(np.float16)
    got = model.predict_codes(x, batch_size=3, as_numpy=True)
    assert got.shape == (10, 3) and got.dtype == np.float32
    model.eval()
    np.testing.assert_allclose(got, model(torch.from_numpy(x).float()).detach().numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="reads float backbone features .* got uint8"):
        model.predict_codes(np.zeros((2, 100), np.uint8))
    with pytest.raises(ValueError, match="cannot be reverse-complemented"):
        model.predict_codes(x, reverse_complement=True)


def planted(n=400, seed=0):
    """Features with two labels: a nonlinear one of all positions, a linear one of position 0 only."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6, 8)).astype(np.float32)
    w, v = rng.normal(size=(2, 8)) / np.sqrt(8)
    y = np.column_stack([np.tanh(2 * x.mean(axis=1) @ w), x[:, 0] @ v])
    return x, (y + rng.normal(0, 0.05, size=y.shape)).astype(np.float32)


def fit_and_score(x, y, train, test, steps=200):
    torch.manual_seed(0)
    model = build_model("upper_transformer", input_size=8, segments=6, num_outputs=2, dropout=0.0, **TINY)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    xs, ys = torch.from_numpy(x[train]), torch.from_numpy(y[train])
    gen = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(steps):
        batch = torch.randint(0, len(train), (64,), generator=gen)
        loss = F.huber_loss(model(xs[batch]), ys[batch])
        opt.zero_grad()
        loss.backward()
        opt.step()
    pred = model.predict_codes(x[test], as_numpy=True)
    return spearman_per_target(y[test], pred).macro


def test_learns_a_planted_signal_far_above_a_shuffled_baseline():
    """Mean Spearman over the two labels on held-out rows, against the same fit on shuffled training labels."""
    x, y = planted()
    train, test = np.arange(300), np.arange(300, 400)
    shuffled_y = y.copy()
    shuffled_y[train] = y[np.random.default_rng(1).permutation(train)]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matmuls: one thread is several times faster than two on a busy machine
    try:
        real = fit_and_score(x, y, train, test)
        baseline = fit_and_score(x, shuffled_y, train, test)
    finally:
        torch.set_num_threads(threads)
    assert real > baseline + 0.4 and real > 0.6, (real, baseline)
