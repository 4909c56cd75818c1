"""Masked-language-model head on the Transformer (paper 5.3): predicts the hidden units at given positions.

BERT's prediction head (dense -> GELU -> LayerNorm -> projection) on the final state of each
token that holds a target. What is predicted follows the front end:

- ``kmer`` / ``bpe`` / ``patch``: the token's id over the tokenizer's vocabulary (for k-patch
  the patch's 5**k id). The projection may share the token embedding's weight (``tie``;
  default: tied for k-mer and BPE, whose embedding is the token's whole input representation,
  untied for k-patch, whose embedding feeds a convolution).
- ``onehot``: the base (A, C, G, T). An encoder token pools ``pool`` bases, so the projection
  gives ``pool x 4`` logits and each target base reads its own four.

Only the target positions go through the head (``positions``: a static ``[B, n]`` from
``dnabench.training.masking``), not every token: for BPE's 16k vocabulary that is most of a
head's cost.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from dnabench.models.transformer import TransformerModel

__all__ = ["MLMHead", "TransformerMLM", "mlm_classes"]


def mlm_classes(model: TransformerModel) -> tuple[int, int]:
    """(classes per unit, units per encoder token) the MLM head of `model` predicts."""
    fe = model.config.frontend
    if fe.tokenizer == "onehot":
        return 4, int(fe.pool)
    return int(fe.vocab_size), 1  # type: ignore[arg-type]


class MLMHead(nn.Module):
    """dense -> GELU -> LayerNorm -> logits ``[..., units x classes]``; tied: the projection is given."""

    def __init__(self, hidden_size: int, num_classes: int, units: int = 1, tied: bool = False, norm_eps: float = 1e-5) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.units = units
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.norm = nn.LayerNorm(hidden_size, eps=norm_eps)
        self.decoder = None if tied else nn.Linear(hidden_size, units * num_classes)
        self.bias = nn.Parameter(torch.zeros(num_classes)) if tied else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for layer in (self.dense, self.decoder):
            if layer is not None:
                nn.init.normal_(layer.weight, std=0.02)
                nn.init.zeros_(layer.bias)
        nn.init.ones_(self.norm.weight)
        nn.init.zeros_(self.norm.bias)

    def forward(self, states: torch.Tensor, tied_weight: Optional[torch.Tensor] = None) -> torch.Tensor:
        x = self.norm(F.gelu(self.dense(states)))
        if self.decoder is not None:
            return self.decoder(x)
        if tied_weight is None:
            raise ValueError("a tied MLM head needs the embedding weight")
        return F.linear(x, tied_weight, self.bias)


class TransformerMLM(nn.Module):
    """A TransformerModel (the backbone: front end + encoder; its own head is not used) + an MLM head.

    ``forward(ids, attention_mask, positions) -> logits [B, n, classes]``. ``backbone`` is what
    pretraining leaves behind: ``mlm.backbone.save_pretrained(dir)`` is the encoder that
    ``dnabench train --init`` starts from.
    """

    def __init__(self, backbone: TransformerModel, tie: Optional[bool] = None) -> None:
        super().__init__()
        if not isinstance(backbone, TransformerModel):
            raise TypeError(f"MLM pretraining needs a transformer, got {type(backbone).__name__}")
        self.backbone = backbone
        # the supervised head has no part in MLM: frozen, so DDP does not wait for its gradients
        backbone.head.requires_grad_(False)
        kind = backbone.config.frontend.tokenizer
        self.num_classes, self.units = mlm_classes(backbone)
        if tie is None:
            tie = kind in ("kmer", "bpe")
        if tie and kind == "onehot":
            raise ValueError("a one-hot front end has no token embedding to tie the MLM projection to")
        self.tied = bool(tie)
        hidden = backbone.config.encoder.hidden_size
        self.head = MLMHead(hidden, self.num_classes, self.units, self.tied, backbone.config.encoder.norm_eps)

    @property
    def tokenizer(self):
        return self.backbone.tokenizer

    def forward(self, ids: torch.Tensor, attention_mask: Optional[torch.Tensor], positions: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, n, classes]`` of the units at ``positions`` [B, n] (token index after CLS,
        or base index for one-hot)."""
        states, _ = self.backbone.hidden_states(ids, attention_mask)
        token = torch.div(positions, self.units, rounding_mode="floor") + 1 if self.units > 1 else positions + 1
        picked = states.gather(1, token[..., None].expand(-1, -1, states.shape[-1]))
        weight = self.backbone.frontend.embedding.weight if self.tied else None
        logits = self.head(picked, weight)
        if self.units == 1:
            return logits
        logits = logits.view(*positions.shape, self.units, self.num_classes)
        slot = (positions % self.units)[..., None, None].expand(-1, -1, 1, self.num_classes)
        return logits.gather(2, slot).squeeze(2)
