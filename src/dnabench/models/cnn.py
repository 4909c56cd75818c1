"""CNN baselines (paper 5.2.1), DeepSEA/Basset style, on the one-hot tokenizer's ids (codes + 4).

Both share a conv stack [Conv1d -> (BatchNorm) -> ReLU -> MaxPool -> Dropout] x n on one-hot
bases ('valid' convolutions); ``cnn_fc`` flattens and applies a fully connected layer,
``cnn_lstm`` runs a bidirectional LSTM and concatenates its two final states. Their input is
``tokenizer.encode(codes, add_cls=False)`` (``model.encode`` does this); a batch with a leading
CLS column (width ``seq_len + 1``) is accepted too and the column dropped.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import nn

from dnabench.models.base import DNAModel
from dnabench.models.config import CNNFCConfig, CNNLSTMConfig, ConvStackConfig
from dnabench.models.frontends import onehot_table
from dnabench.models.heads import Head
from dnabench.models.registry import register_model
from dnabench.tokenize.base import PAD


class ConvStack(nn.Module):
    """One-hot ids ``[B, L]`` -> conv features ``[B, C, L']``; PAD, N and specials are zero columns."""

    def __init__(self, config: ConvStackConfig) -> None:
        super().__init__()
        self.config = config
        self.register_buffer("onehot", onehot_table(), persistent=False)
        layers: list[nn.Module] = []
        in_channels = 4
        for channels in config.channels:
            layers.append(nn.Conv1d(in_channels, channels, config.kernel_size, bias=not config.batch_norm))
            if config.batch_norm:
                layers.append(nn.BatchNorm1d(channels))
            layers += [nn.ReLU(), nn.MaxPool1d(config.pool_size), nn.Dropout(config.dropout)]
            in_channels = channels
        self.layers = nn.Sequential(*layers)
        self.out_channels = in_channels

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if ids.shape[1] == self.config.seq_len + 1:
            ids = ids[:, 1:]  # a leading CLS column
        missing = self.config.padded_length() - ids.shape[1]
        if missing > 0:  # a short input: PAD (a zero one-hot column, as N) on both sides
            ids = F.pad(ids, (missing // 2, missing - missing // 2), value=PAD)
        x = F.embedding(ids, self.onehot).transpose(1, 2)  # [B, 4, L]
        return self.layers(x)


class _CNNModel(DNAModel):
    add_cls = False

    def _setup_tokenizer(self, tokenizer: Any) -> Any:
        if tokenizer is None:
            from dnabench.tokenize import get_tokenizer

            return get_tokenizer("onehot")
        if getattr(tokenizer, "name", None) != "onehot":
            raise ValueError(f"{self.name} models take the onehot tokenizer, got {getattr(tokenizer, 'name', tokenizer)!r}")
        return tokenizer

    def compile_units(self) -> list[nn.Module]:
        return [self.conv]


@register_model
class CNNFCModel(_CNNModel):
    """``cnn_fc``: conv stack -> flatten -> Linear -> ReLU -> Dropout (representation) -> head."""

    name = "cnn_fc"
    config_class = CNNFCConfig

    def __init__(self, config: CNNFCConfig, tokenizer: Any = None) -> None:
        super().__init__(config, None)
        self.tokenizer = self._setup_tokenizer(tokenizer)
        config = self.config
        self.conv = ConvStack(config.conv)
        self.flat_size = self.conv.out_channels * config.conv.output_length()
        self.fc = nn.Linear(self.flat_size, config.fc_size)
        self.fc_dropout = nn.Dropout(config.fc_dropout)
        self.representation_size = config.fc_size
        self.head = Head(self.representation_size, config.head)
        if config.compile:
            self.compile()

    def embed(self, ids: torch.Tensor, attention_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        width = ids.shape[1]
        seq_len = self.config.conv.seq_len
        if width not in (seq_len, seq_len + 1):
            raise ValueError(
                f"cnn_fc was built for {seq_len} bp (ConvStackConfig.seq_len) but got ids of width {width}; "
                "build it with the input length of the task"
            )
        features = self.conv(ids).flatten(1)
        return self.fc_dropout(F.relu(self.fc(features)))


@register_model
class CNNLSTMModel(_CNNModel):
    """``cnn_lstm``: conv stack -> bidirectional LSTM -> [last forward state, last backward state]."""

    name = "cnn_lstm"
    config_class = CNNLSTMConfig

    def __init__(self, config: CNNLSTMConfig, tokenizer: Any = None) -> None:
        super().__init__(config, None)
        self.tokenizer = self._setup_tokenizer(tokenizer)
        config = self.config
        self.conv = ConvStack(config.conv)
        self.lstm = nn.LSTM(
            self.conv.out_channels,
            config.lstm_hidden,
            num_layers=config.lstm_layers,
            batch_first=True,
            bidirectional=True,
            dropout=config.lstm_dropout if config.lstm_layers > 1 else 0.0,
        )
        self.representation_size = 2 * config.lstm_hidden
        self.head = Head(self.representation_size, config.head)
        if config.compile:
            self.compile()

    def embed(self, ids: torch.Tensor, attention_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        features = self.conv(ids).transpose(1, 2)  # [B, L', C]
        _, (h_n, _) = self.lstm(features)
        return torch.cat([h_n[-2], h_n[-1]], dim=-1)  # last layer: forward, backward
