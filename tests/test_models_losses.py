"""Losses of appendix A, their NaN-masked versions, and the heads' output activation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dnabench.models import LossConfig, bce_loss, build_loss, build_model, focal_loss, huber_loss, mse_loss


def _data(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(6, 9, generator=g, dtype=torch.float64)
    target = torch.rand(6, 9, generator=g, dtype=torch.float64).round()
    return logits, target


def test_unmasked_losses_match_torch():
    logits, target = _data()
    torch.testing.assert_close(bce_loss(logits, target), F.binary_cross_entropy_with_logits(logits.float(), target.float()))
    torch.testing.assert_close(mse_loss(logits, target), F.mse_loss(logits.float(), target.float()))
    torch.testing.assert_close(huber_loss(logits, target, delta=0.5), F.huber_loss(logits.float(), target.float(), delta=0.5))


@pytest.mark.parametrize(
    "fn",
    [bce_loss, mse_loss, huber_loss, focal_loss, lambda o, t, **kw: focal_loss(o, t, gamma=1.0, alpha=None, **kw)],
)
def test_masked_losses_ignore_nan_and_average_observed(fn):
    logits, target = _data(1)
    target = target.clone()
    missing = torch.rand(target.shape, generator=torch.Generator().manual_seed(2)) < 0.3
    target[missing] = float("nan")
    observed = ~missing
    logits = logits.float().requires_grad_(True)
    masked = fn(logits, target, masked=True)
    expected = fn(logits[observed], target[observed])
    assert torch.isfinite(masked)
    torch.testing.assert_close(masked, expected)
    masked.backward()
    assert torch.isfinite(logits.grad).all()
    assert (logits.grad[missing] == 0).all()
    # Unmasked with NaN propagates (nothing silently ignored without masked=True).
    assert torch.isnan(fn(logits.detach(), target))


def test_masked_loss_with_nothing_observed_is_zero():
    logits = torch.randn(2, 3, requires_grad=True)
    loss = bce_loss(logits, torch.full((2, 3), float("nan")), masked=True)
    assert loss.item() == 0.0
    loss.backward()
    assert (logits.grad == 0).all()


def test_focal_equals_bce_at_gamma_zero():
    logits, target = _data(3)
    torch.testing.assert_close(focal_loss(logits, target, gamma=0.0, alpha=None), bce_loss(logits, target))
    # With gamma > 0 easy examples are down-weighted: focal < BCE.
    assert focal_loss(logits, target, gamma=2.0, alpha=None) < bce_loss(logits, target)
    # alpha weights positives by alpha and negatives by 1 - alpha.
    ones = torch.ones_like(target)
    torch.testing.assert_close(
        focal_loss(logits, ones, gamma=0.0, alpha=0.25), 0.25 * bce_loss(logits, ones)
    )


def test_loss_config_and_module():
    logits, target = _data(4)
    loss = build_loss("focal", gamma=0.0, alpha=None, masked=True)
    torch.testing.assert_close(loss(logits, target), bce_loss(logits, target))
    assert build_loss(LossConfig(kind="huber", delta=2.0))(logits, target) == huber_loss(logits, target, delta=2.0)
    with pytest.raises(ValueError, match="kind must be one of"):
        LossConfig(kind="crossentropy")
    with pytest.raises(ValueError, match="does not match"):
        mse_loss(torch.zeros(2, 3), torch.zeros(3, 2))


def test_predict_applies_sigmoid_only_for_probabilities():
    torch.manual_seed(0)
    tiny = dict(hidden_size=16, num_layers=1, num_heads=2, ffn_size=16)
    prob = build_model("transformer", tokenizer="kmer", num_outputs=3, output="probability", **tiny).eval()
    value = build_model("transformer", tokenizer="kmer", num_outputs=3, output="value", **tiny).eval()
    value.load_state_dict(prob.state_dict())
    codes = torch.randint(0, 4, (2, 50), dtype=torch.uint8)
    ids = prob.encode(codes).ids
    torch.testing.assert_close(prob.predict(ids), torch.sigmoid(prob(ids)))
    torch.testing.assert_close(value.predict(ids), value(ids))
    torch.testing.assert_close(prob.predict_codes(codes), torch.sigmoid(value.predict_codes(codes)))
