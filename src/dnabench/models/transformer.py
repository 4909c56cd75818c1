"""The Transformer model (paper 5.2.2): front end -> pre-norm encoder -> head on the CLS output."""

from __future__ import annotations

import math
from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import nn

import dnabench.models.attention as attention
from dnabench.models.attention import FLEX_MIN_HEAD_DIM, MultiHeadAttention, flex_available
from dnabench.models.base import DNAModel
from dnabench.models.config import EncoderConfig, TransformerConfig
from dnabench.models.frontends import build_frontend
from dnabench.models.heads import Head
from dnabench.models.kernels import fused_glu, fused_norm
from dnabench.models.kernels.fused_norm import add_dropout_norm
from dnabench.models.positions import (
    AbsolutePositionEmbedding,
    RelativePositionBias,
    RotaryEmbedding,
    relative_bias_matrix,
)
from dnabench.models.registry import register_model


class FeedForward(nn.Module):
    """Gated FFN: one Linear holds both halves (GEGLU: gelu(a) * b; ReGLU: relu(a) * b).

    Compiled on a GPU, the input Linear is one matmul and the gate one Triton kernel pair that
    reads both halves in place, adds the Linear's bias and writes both halves' gradients into
    one matrix (``fused_glu``). Otherwise the halves come from slices of the weight, not by
    splitting one big output: PyTorch's backward would then concatenate two activation-sized
    gradients (a [tokens, 2 x ffn] copy), which made the compiled train step slower.
    """

    def __init__(self, hidden_size: int, ffn_size: int, activation: str, bias: bool = True) -> None:
        super().__init__()
        self.gated = activation in ("geglu", "reglu")
        self.relu = activation in ("reglu", "relu")
        self.act = F.relu if self.relu else F.gelu
        self.inp = nn.Linear(hidden_size, (2 if self.gated else 1) * ffn_size, bias=bias)
        self.out = nn.Linear(ffn_size, hidden_size, bias=bias)

    def forward(self, x: torch.Tensor, add_out_bias: bool = True) -> torch.Tensor:
        """``add_out_bias=False`` leaves the output Linear's bias to the caller (``out.bias``)."""
        out_bias = self.out.bias if add_out_bias else None
        if not self.gated:
            return F.linear(self.act(self.inp(x)), self.out.weight, out_bias)
        if fused_glu.fused_applies(x):
            hidden = fused_glu.gated_activation(F.linear(x, self.inp.weight), self.inp.bias, self.relu)
        else:
            w_a, w_b = self.inp.weight.chunk(2, dim=0)
            b_a, b_b = self.inp.bias.chunk(2) if self.inp.bias is not None else (None, None)
            hidden = self.act(F.linear(x, w_a, b_a)) * F.linear(x, w_b, b_b)
        return F.linear(hidden, self.out.weight, out_bias)


class TransformerBlock(nn.Module):
    """Pre-norm: x + drop(attn(norm1(x))), then x + drop(ffn(norm2(x))).

    The block takes ``norm1(x)`` with ``x`` and returns the next LayerNorm's output with the new
    ``x``, so every residual add + dropout + LayerNorm is one ``add_dropout_norm`` (one fused
    kernel on a GPU). The encoder applies the first ``norm1``; each block applies the next
    block's ``norm1`` (the last one the encoder's final norm).
    """

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(config.hidden_size, eps=config.norm_eps)
        self.attn = MultiHeadAttention(config.hidden_size, config.num_heads, config.attention_dropout, config.bias)
        self.norm2 = nn.LayerNorm(config.hidden_size, eps=config.norm_eps)
        self.ffn = FeedForward(config.hidden_size, config.ffn_size, config.activation, config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(
        self,
        x: torch.Tensor,
        normed: torch.Tensor,
        next_norm: nn.LayerNorm,
        cos: Optional[torch.Tensor] = None,
        sin: Optional[torch.Tensor] = None,
        attn_mask: Optional[torch.Tensor] = None,
        flex_bias: Optional[torch.Tensor] = None,
        flex_key_mask: Optional[torch.Tensor] = None,
        final: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` the residual stream, ``normed`` = ``norm1(x)`` -> (new x, ``next_norm(new x)``).

        Where the boundary is fused, the output projections' biases go to it too. ``final``:
        ``next_norm`` is the encoder's last norm (its output keeps PyTorch's dtype).
        """
        p = self.dropout.p
        fused = fused_norm.fused_applies(x, self.norm2)
        attended = self.attn(normed, cos, sin, attn_mask, flex_bias, flex_key_mask, add_out_bias=not fused)
        bias = self.attn.out.bias if fused else None
        x, normed = add_dropout_norm(x, attended, self.norm2, p, self.training, bias)
        bias = self.ffn.out.bias if fused else None
        branch = self.ffn(normed, add_out_bias=not fused)
        return add_dropout_norm(x, branch, next_norm, p, self.training, bias, final=final)


class TransformerEncoder(nn.Module):
    """Positions + a stack of blocks + final LayerNorm; ``[B, T, hidden]`` -> ``[B, T, hidden]``."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.config = config
        self.dropout = nn.Dropout(config.dropout)
        self.rotary = self.relative = self.absolute = None
        if config.positions == "rotary":
            self.rotary = RotaryEmbedding(config.head_dim, config.rotary_base, config.max_positions)
        elif config.positions == "relative":
            self.relative = RelativePositionBias(
                config.num_heads, config.relative_buckets, config.relative_max_distance, config.max_positions
            )
        else:
            self.absolute = AbsolutePositionEmbedding(config.max_positions, config.hidden_size)
        self.blocks = nn.ModuleList(TransformerBlock(config) for _ in range(config.num_layers))
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.norm_eps)

    def use_flex(self, x: torch.Tensor) -> bool:
        impl = self.config.relative_impl
        if impl == "sdpa" or not flex_available() or self.config.head_dim < FLEX_MIN_HEAD_DIM:
            return False
        if self.training and self.config.attention_dropout > 0:
            return False  # FlexAttention has no dropout: fall back to SDPA
        return impl == "flex" or x.is_cuda

    def forward(self, x: torch.Tensor, key_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``key_mask`` [B, T] bool (True = real token) or None when nothing is padded."""
        length = x.shape[1]
        if self.absolute is not None:
            x = x + self.absolute(length).to(x.dtype)
        cos = sin = attn_mask = flex_bias = flex_key_mask = None
        if self.rotary is not None:
            cos, sin = self.rotary(length)
        if self.relative is not None:
            per_offset = self.relative(length)  # [H, 2T - 1]
            if self.use_flex(x):
                if attention.FLEX_BIAS_LAYOUT == "matrix":
                    flex_bias = relative_bias_matrix(per_offset, length)
                else:
                    flex_bias = per_offset
                flex_key_mask = key_mask
            else:
                attn_mask = relative_bias_matrix(per_offset, length)[None]  # [1, H, T, T]
                if key_mask is not None:
                    attn_mask = attn_mask.masked_fill(~key_mask[:, None, None, :], -float("inf"))
        elif key_mask is not None:
            attn_mask = key_mask[:, None, None, :]
        x, normed = add_dropout_norm(None, x, self.blocks[0].norm1, self.dropout.p, self.training)
        next_norms = [block.norm1 for block in self.blocks[1:]] + [self.norm]
        for i, (block, next_norm) in enumerate(zip(self.blocks, next_norms)):
            final = i == len(self.blocks) - 1
            x, normed = block(x, normed, next_norm, cos, sin, attn_mask, flex_bias, flex_key_mask, final=final)
        return normed


def mean_of_tokens(states: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
    """Mean of the final states after CLS ``[B, hidden]``, over real tokens only when ``mask`` is given."""
    tokens = states[:, 1:]
    if mask is None:
        return tokens.mean(dim=1)
    keep = mask[:, 1:, None].to(tokens.dtype)
    return (tokens * keep).sum(dim=1) / keep.sum(dim=1).clamp(min=1.0)


@register_model
class TransformerModel(DNAModel):
    """``transformer``: tokenizer kind x position kind, representation = final CLS vector or token mean."""

    name = "transformer"
    config_class = TransformerConfig
    add_cls = True

    def __init__(self, config: TransformerConfig, tokenizer: Any = None) -> None:
        super().__init__(config, None)
        self.tokenizer = self._resolve_tokenizer(tokenizer)
        config = self.config
        self.frontend = build_frontend(config.frontend, config.encoder.hidden_size)
        self.encoder = TransformerEncoder(config.encoder)
        self.representation_size = config.encoder.hidden_size
        self.head = Head(self.representation_size, config.head)
        self.reset_parameters()
        if config.compile:
            self.compile()

    @classmethod
    def options_from_tokenizer(cls, tokenizer: Any) -> dict[str, Any]:
        """The front end's kind and its parameters (``k``, ``stride``), taken from the tokenizer."""
        params = tokenizer.config()
        return {"tokenizer": tokenizer.name, **{key: params[key] for key in ("k", "stride") if key in params}}

    def _resolve_tokenizer(self, tokenizer: Any) -> Any:
        """Build the tokenizer the front end implies, or check a given one against the config.

        A BPE model takes its vocabulary size from its (trained) tokenizer; without one it needs
        ``vocab_size`` and has no ``tokenizer`` (``model(ids)`` works, ``predict_codes`` does not).
        """
        fe = self.config.frontend
        if tokenizer is None:
            if fe.tokenizer == "bpe":
                if fe.vocab_size is None:
                    raise ValueError("a BPE transformer needs its trained tokenizer (tokenizer=...) or a vocab_size")
                return None
            from dnabench.tokenize import get_tokenizer

            return get_tokenizer(fe.tokenizer, **fe.tokenizer_params())
        kind = getattr(tokenizer, "name", None)
        if kind != fe.tokenizer:
            raise ValueError(f"the config's front end is {fe.tokenizer!r} but the tokenizer is {kind!r}")
        if fe.tokenizer == "bpe" and fe.vocab_size is None:
            fe.vocab_size = int(tokenizer.vocab_size)
        if int(tokenizer.vocab_size) != fe.vocab_size:
            raise ValueError(f"tokenizer vocab_size {tokenizer.vocab_size} != FrontendConfig.vocab_size {fe.vocab_size}")
        params = tokenizer.config()
        for key, value in fe.tokenizer_params().items():
            if params.get(key) != value:
                raise ValueError(f"tokenizer {key}={params.get(key)!r} does not match FrontendConfig.{key}={value!r}")
        return tokenizer

    def reset_parameters(self) -> None:
        """BERT-style init (normal 0.02, zero biases), residual output projections scaled by 1/sqrt(2 layers)."""
        std = 0.02
        out_std = std / math.sqrt(2 * self.config.encoder.num_layers)
        for name, module in self.named_modules():
            if isinstance(module, nn.Linear):  # convolutions keep PyTorch's fan-in init
                is_residual_out = name.endswith("attn.out") or name.endswith("ffn.out")
                nn.init.normal_(module.weight, std=out_std if is_residual_out else std)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, std=std)
                if module.padding_idx is not None:
                    with torch.no_grad():
                        module.weight[module.padding_idx].zero_()
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        if self.encoder.relative is not None:
            nn.init.zeros_(self.encoder.relative.bias.weight)

    @property
    def needs_attention_mask(self) -> bool:
        return self.config.frontend.tokenizer == "bpe"

    def embed(self, ids: torch.Tensor, attention_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        x, mask = self.hidden_states(ids, attention_mask)
        if self.config.pooling == "cls":
            return x[:, 0]
        return mean_of_tokens(x, mask)

    def hidden_states(
        self, ids: torch.Tensor, attention_mask: Optional[torch.Tensor] = None
    ) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Final (normed) states of every token ``[B, T', hidden]`` and their mask (None: no padding).

        A mask with no padding is dropped (one host sync) so SDPA can use FlashAttention; pass
        ``attention_mask=None`` for unpadded batches to skip that check.
        """
        if attention_mask is not None:
            attention_mask = attention_mask.to(torch.bool)
            if attention_mask.shape != ids.shape:
                raise ValueError(f"attention_mask shape {tuple(attention_mask.shape)} != ids shape {tuple(ids.shape)}")
            if bool(attention_mask.all()):
                attention_mask = None
        x, mask = self.frontend(ids, attention_mask)
        return self.encoder(x, mask), mask

    def compile_units(self) -> list[nn.Module]:
        return list(self.encoder.blocks)
