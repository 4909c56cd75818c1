"""Task heads (appendix A): Linear -> activation -> dropout -> Linear, producing logits."""

from __future__ import annotations

import torch
from torch import nn

from dnabench.models.config import HeadConfig

_ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU, "tanh": nn.Tanh}


class Head(nn.Module):
    """Maps a sequence representation ``[B, in_features]`` to logits ``[B, num_outputs]``."""

    def __init__(self, in_features: int, config: HeadConfig) -> None:
        super().__init__()
        hidden = config.head_hidden or in_features
        self.output = config.output
        self.fc1 = nn.Linear(in_features, hidden)
        self.activation = _ACTIVATIONS[config.head_activation]()
        self.dropout = nn.Dropout(config.head_dropout)
        self.fc2 = nn.Linear(hidden, config.num_outputs)

    def forward(self, representation: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.dropout(self.activation(self.fc1(representation))))

    def activate(self, logits: torch.Tensor) -> torch.Tensor:
        """Logits -> predictions: sigmoid for probability outputs, identity for values."""
        return torch.sigmoid(logits) if self.output == "probability" else logits
