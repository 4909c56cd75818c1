"""Losses of appendix A: BCE with logits, focal (Track7878), Huber (GeneExp), MSE.

Every loss takes ``(output, target)`` with the same shape and returns a scalar mean. With
``masked=True`` NaN targets (missing labels, e.g. Methyl96 files without coverage) are ignored
and the mean runs over the observed targets only (0 when none is observed, with a gradient
of zeros). Losses are computed in float32 whatever the autocast dtype of the output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

import torch
import torch.nn.functional as F
from torch import nn

from dnabench.models.config import _check_literals, _fail, _probability

LossKind = Literal["bce", "focal", "huber", "mse"]


def _reduce(elementwise: torch.Tensor, observed: Optional[torch.Tensor]) -> torch.Tensor:
    if observed is None:
        return elementwise.mean()
    total = torch.where(observed, elementwise, torch.zeros_like(elementwise)).sum()
    return total / observed.sum().clamp(min=1)


def _prepare(output: torch.Tensor, target: torch.Tensor, masked: bool):
    if output.shape != target.shape:
        raise ValueError(f"output shape {tuple(output.shape)} does not match target shape {tuple(target.shape)}")
    output = output.float()
    target = target.to(output.dtype)
    if not masked:
        return output, target, None
    observed = ~torch.isnan(target)
    return output, torch.where(observed, target, torch.zeros_like(target)), observed


def bce_loss(logits: torch.Tensor, target: torch.Tensor, *, masked: bool = False) -> torch.Tensor:
    """Binary cross-entropy on logits; targets in [0, 1] (fractions allowed, e.g. methylation)."""
    logits, target, observed = _prepare(logits, target, masked)
    return _reduce(F.binary_cross_entropy_with_logits(logits, target, reduction="none"), observed)


def focal_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    gamma: float = 2.0,
    alpha: Optional[float] = 0.25,
    masked: bool = False,
) -> torch.Tensor:
    """Sigmoid focal loss (Lin et al. 2017): BCE x (1 - p_t)^gamma, x alpha_t when alpha is set.

    gamma = 0 and alpha = None is exactly BCE.
    """
    logits, target, observed = _prepare(logits, target, masked)
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    if gamma != 0:
        p = torch.sigmoid(logits)
        p_t = p * target + (1 - p) * (1 - target)
        ce = ce * (1 - p_t).pow(gamma)
    if alpha is not None:
        ce = ce * (alpha * target + (1 - alpha) * (1 - target))
    return _reduce(ce, observed)


def huber_loss(output: torch.Tensor, target: torch.Tensor, *, delta: float = 1.0, masked: bool = False) -> torch.Tensor:
    output, target, observed = _prepare(output, target, masked)
    return _reduce(F.huber_loss(output, target, reduction="none", delta=delta), observed)


def mse_loss(output: torch.Tensor, target: torch.Tensor, *, masked: bool = False) -> torch.Tensor:
    output, target, observed = _prepare(output, target, masked)
    return _reduce(F.mse_loss(output, target, reduction="none"), observed)


@dataclass
class LossConfig:
    """Which loss, and its parameters; ``masked`` ignores NaN targets."""

    kind: LossKind = "bce"
    masked: bool = False
    gamma: float = 2.0
    alpha: Optional[float] = 0.25
    delta: float = 1.0

    def __post_init__(self) -> None:
        _check_literals(self)
        if not isinstance(self.masked, bool):
            _fail(self, "masked", f"must be a bool; got {self.masked!r}")
        if not self.gamma >= 0:
            _fail(self, "gamma", f"must be >= 0; got {self.gamma!r}")
        if self.alpha is not None:
            _probability(self, "alpha")
        if not self.delta > 0:
            _fail(self, "delta", f"must be > 0; got {self.delta!r}")


class Loss(nn.Module):
    """``loss(output, target)`` for a :class:`LossConfig`."""

    def __init__(self, config: LossConfig) -> None:
        super().__init__()
        self.config = config

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        c = self.config
        if c.kind == "bce":
            return bce_loss(output, target, masked=c.masked)
        if c.kind == "focal":
            return focal_loss(output, target, gamma=c.gamma, alpha=c.alpha, masked=c.masked)
        if c.kind == "huber":
            return huber_loss(output, target, delta=c.delta, masked=c.masked)
        return mse_loss(output, target, masked=c.masked)

    def extra_repr(self) -> str:
        return repr(self.config)


def build_loss(config: LossConfig | LossKind = "bce", **kwargs) -> Loss:
    """``build_loss("focal", gamma=2)`` or ``build_loss(LossConfig(...))``."""
    if isinstance(config, LossConfig):
        if kwargs:
            raise ValueError("pass either a LossConfig or keyword options, not both")
        return Loss(config)
    return Loss(LossConfig(kind=config, **kwargs))
