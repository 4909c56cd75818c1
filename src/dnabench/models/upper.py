"""``upper_transformer``: the GeneExp upper model (appendix A.4) on backbone features, not sequences.

Input: float features ``[B, S, d_in]`` (one backbone representation per 200 bp segment, S = 200
for GeneExp) or ``[B, D]`` (a window's or a pair's features, read as S = 1). A LayerNorm and a
Linear bring each position to the hidden size (512), a learned position embedding marks the
segment, 4 pre-norm Transformer layers with 8 heads and a ReLU FFN mix them (the encoder of
``models.transformer``), and the mean over the S positions (or a CLS token) feeds the regression
head: 218 values for GeneExp, trained with the task's Huber loss.

The model has no tokenizer: ``predict_codes`` takes float features where sequence models take
uint8 codes, so evaluation and the predict loop are the ones every model uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Optional

import numpy as np
import torch
from torch import nn

from dnabench.models.base import DNAModel
from dnabench.models.config import (
    EncoderConfig,
    FFNActivation,
    HeadConfig,
    OutputKind,
    PositionKind,
    _check_literals,
    _check_parts,
    _fail,
    _positive_int,
)
from dnabench.models.heads import Head
from dnabench.models.registry import register_model
from dnabench.models.transformer import TransformerEncoder, TransformerModel

__all__ = ["UpperEncoderConfig", "UpperHeadConfig", "UpperTransformerConfig", "UpperTransformerModel"]

PoolKind = Literal["mean", "cls"]


@dataclass
class UpperEncoderConfig(EncoderConfig):
    """The upper model's encoder (appendix A.4): 4 layers x 512 hidden, 8 heads, ReLU FFN of 4 x hidden,
    learned (absolute) positions over the segments."""

    hidden_size: int = 512
    num_layers: int = 4
    num_heads: int = 8
    ffn_size: int = 2048
    activation: FFNActivation = "relu"
    positions: PositionKind = "absolute"
    max_positions: int = 512


@dataclass
class UpperHeadConfig(HeadConfig):
    """The regression head: real values out, no activation (appendix A.4)."""

    output: OutputKind = "value"


@dataclass
class UpperTransformerConfig:
    """``upper_transformer``: input size and segment count (from the features), encoder, pooling, head."""

    input_size: int = 512
    segments: int = 200
    pool: PoolKind = "mean"
    input_norm: bool = True
    encoder: UpperEncoderConfig = field(default_factory=UpperEncoderConfig)
    head: UpperHeadConfig = field(default_factory=UpperHeadConfig)
    compile: bool = False

    def __post_init__(self) -> None:
        _check_literals(self)
        _check_parts(self)
        _positive_int(self, "input_size", "segments")
        if not isinstance(self.input_norm, bool):
            _fail(self, "input_norm", f"must be a bool; got {self.input_norm!r}")
        needed = self.segments + (self.pool == "cls")
        if self.encoder.max_positions < needed:
            _fail(self, "segments", f"({self.segments}{' + CLS' if self.pool == 'cls' else ''}) exceeds encoder.max_positions ({self.encoder.max_positions})")


@register_model
class UpperTransformerModel(DNAModel):
    """A Transformer over the S backbone representations of a row; representation = pooled states."""

    name = "upper_transformer"
    config_class = UpperTransformerConfig
    add_cls = False
    #: the model reads float features (batch["codes"] of a features folder), not base codes
    takes_features: ClassVar[bool] = True

    def __init__(self, config: UpperTransformerConfig, tokenizer: Any = None) -> None:
        if tokenizer is not None:
            raise ValueError("upper_transformer reads backbone features and takes no tokenizer")
        super().__init__(config, None)
        config = self.config
        hidden = config.encoder.hidden_size
        self.input_norm = nn.LayerNorm(config.input_size, eps=config.encoder.norm_eps) if config.input_norm else nn.Identity()
        self.project = nn.Linear(config.input_size, hidden)
        self.cls = nn.Parameter(torch.zeros(1, 1, hidden)) if config.pool == "cls" else None
        self.encoder = TransformerEncoder(config.encoder)
        self.representation_size = hidden
        self.head = Head(hidden, config.head)
        TransformerModel.reset_parameters(self)  # type: ignore[arg-type]  # the same init over the same module kinds
        if self.cls is not None:
            nn.init.normal_(self.cls, std=0.02)
        if config.compile:
            self.compile()

    def _positions(self, features: torch.Tensor) -> torch.Tensor:
        """[B, S, d_in] (a [B, D] input as S = 1), checked against the config."""
        if features.ndim == 2:
            features = features[:, None, :]
        if features.ndim != 3:
            raise ValueError(f"upper_transformer takes features [B, S, d] or [B, D], got shape {tuple(features.shape)}")
        if features.shape[-1] != self.config.input_size:
            raise ValueError(f"features have {features.shape[-1]} values a position, the model was built for {self.config.input_size}")
        if features.shape[1] > self.config.segments:
            raise ValueError(f"features have {features.shape[1]} positions, the model was built for at most {self.config.segments}")
        return features

    def embed(self, ids: torch.Tensor, attention_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Pooled representation [B, hidden] of features ``ids`` ([B, S, d_in] or [B, D])."""
        x = self.project(self.input_norm(self._positions(ids).float()))
        if self.cls is not None:
            x = torch.cat([self.cls.expand(x.shape[0], -1, -1).to(x.dtype), x], dim=1)
        states = self.encoder(x)
        return states[:, 0] if self.cls is not None else states.mean(dim=1)

    def compile_units(self) -> list[nn.Module]:
        return list(self.encoder.blocks)

    # ----- features where sequence models take codes (predict_codes and the inference helpers)

    def encode(self, codes: Any):
        raise ValueError("upper_transformer reads backbone features, not sequences; make them with `dnabench features`")

    def reverse_complement(self, codes: torch.Tensor) -> torch.Tensor:
        raise ValueError(
            "features cannot be reverse-complemented after extraction; extract them with --reverse-complement to average both strands"
        )

    def _as_codes(self, codes: Any) -> torch.Tensor | np.ndarray:
        """Features [N, D] or [N, S, d] as they are (a memmap stays a view of its file)."""
        if not isinstance(codes, torch.Tensor):
            codes = np.asarray(codes)
        floating = codes.is_floating_point() if isinstance(codes, torch.Tensor) else np.issubdtype(codes.dtype, np.floating)
        if not floating:
            raise ValueError(
                f"upper_transformer reads float backbone features [N, D] or [N, S, d], got {codes.dtype}: "
                "make them with `dnabench features RUN --data STORE --out FEATURES`"
            )
        if codes.ndim not in (2, 3):
            raise ValueError(f"expected features of shape [N, D] or [N, S, d], got {tuple(codes.shape)}")
        return codes

    def _predict_batch(self, codes: torch.Tensor, autocast: bool, embed: bool = False) -> torch.Tensor:
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=autocast):
            return self.embed(codes.float()).float() if embed else self.predict(codes.float())
