"""``DNAModel``: the public face shared by every model kind (front end + trunk + head).

    logits = model(ids, attention_mask)          # [B, num_outputs]
    rep    = model.embed(ids, attention_mask)    # [B, hidden]: the sequence representation
    probs  = model.predict_codes(codes, reverse_complement=True)
    model.save_pretrained("run/model"); DNAModel.from_pretrained("run/model")
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, ClassVar, Literal, Optional

import numpy as np
import torch
from torch import nn

from dnabench.models.heads import Head

#: code -> complementary code (A<->T, C<->G, N->N), as dnabench.alphabet.COMPLEMENT.
_COMPLEMENT = (3, 2, 1, 0, 4)


class DNAModel(nn.Module):
    """Base class: subclasses set ``name``/``config_class`` and implement :meth:`embed`."""

    name: ClassVar[str] = ""
    config_class: ClassVar[type] = object
    #: whether the model's input starts with CLS (``encode`` passes this to the tokenizer)
    add_cls: ClassVar[bool] = True

    def __init__(self, config: Any, tokenizer: Any = None) -> None:
        super().__init__()
        if not isinstance(config, self.config_class):
            raise TypeError(f"{type(self).__name__} needs a {self.config_class.__name__}, got {type(config).__name__}")
        self.config = copy.deepcopy(config)
        self.tokenizer = tokenizer
        self.register_buffer("complement_table", torch.tensor(_COMPLEMENT, dtype=torch.uint8), persistent=False)

    # ------------------------------------------------------------------ the three views of a model

    def embed(self, ids: torch.Tensor, attention_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Sequence representation ``[B, representation_size]``."""
        raise NotImplementedError

    def forward(self, ids: torch.Tensor, attention_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Logits ``[B, num_outputs]``."""
        return self.head(self.embed(ids, attention_mask))

    def predict(self, ids: torch.Tensor, attention_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Probabilities (sigmoid) or values, as the head's ``output`` says; float32."""
        return self.head.activate(self.forward(ids, attention_mask).float())

    head: Head
    representation_size: int

    # ------------------------------------------------------------------ codes in, predictions out

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def needs_attention_mask(self) -> bool:
        """True when batches can hold padding (BPE); otherwise pass ``attention_mask=None``."""
        return False

    def reverse_complement(self, codes: torch.Tensor) -> torch.Tensor:
        """Reverse complement of ``[B, L]`` uint8 codes, on their device (flip + table lookup)."""
        table = self.complement_table.to(codes.device)
        return table[codes.long()].flip(-1)

    def encode(self, codes: Any):
        """``self.tokenizer.encode(codes, add_cls=self.add_cls)``: the model's own input contract."""
        if self.tokenizer is None:
            raise RuntimeError(f"this {self.name} model has no tokenizer; build it with tokenizer=...")
        return self.tokenizer.encode(codes, add_cls=self.add_cls)

    def _as_codes(self, codes: Any) -> torch.Tensor:
        if not isinstance(codes, torch.Tensor):
            array = np.asarray(codes)
            if array.dtype != np.uint8:
                raise ValueError(f"expected uint8 nucleotide codes (A=0 C=1 G=2 T=3 N=4), got {array.dtype}")
            codes = torch.from_numpy(np.ascontiguousarray(array))
        if codes.dtype != torch.uint8:
            raise ValueError(f"expected uint8 nucleotide codes (A=0 C=1 G=2 T=3 N=4), got {codes.dtype}")
        if codes.ndim == 1:
            codes = codes[None]
        if codes.ndim != 2:
            raise ValueError(f"expected codes of shape [B, L], got {tuple(codes.shape)}")
        return codes.to(self.device, non_blocking=True)

    def _predict_batch(self, codes: torch.Tensor, autocast: bool) -> torch.Tensor:
        batch = self.encode(codes)
        ids = batch.ids.to(self.device)
        mask = batch.attention_mask.to(self.device) if self.needs_attention_mask else None
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=autocast):
            return self.predict(ids, mask)

    def predict_codes(
        self,
        codes: Any,
        reverse_complement: bool = False,
        *,
        batch_size: Optional[int] = None,
        autocast: Optional[bool] = None,
    ) -> torch.Tensor:
        """Predictions ``[B, num_outputs]`` (float32, on the model's device) for uint8 codes ``[B, L]``.

        Runs in eval mode without gradients (the previous mode is restored). With
        ``reverse_complement=True`` the reverse complement is built on the device and the two
        predictions are averaged. ``autocast`` (bf16) defaults to on for CUDA.
        """
        codes = self._as_codes(codes)
        if autocast is None:
            autocast = codes.device.type == "cuda"
        step = batch_size or max(1, codes.shape[0])
        was_training = self.training
        self.eval()
        try:
            outs = []
            with torch.inference_mode():
                for start in range(0, codes.shape[0], step):
                    chunk = codes[start : start + step]
                    if reverse_complement:
                        both = self._predict_batch(torch.cat([chunk, self.reverse_complement(chunk)]), autocast)
                        forward, backward = both.chunk(2)
                        outs.append((forward + backward) / 2)
                    else:
                        outs.append(self._predict_batch(chunk, autocast))
            return torch.cat(outs) if outs else torch.empty(0, self.head.fc2.out_features, device=self.device)
        finally:
            self.train(was_training)

    # ------------------------------------------------------------------ bookkeeping

    def num_parameters(self, exclude_embeddings: bool = False) -> int:
        """Parameter count; ``exclude_embeddings`` drops token and position embedding tables."""
        skip = {id(p) for p in self.embedding_parameters()} if exclude_embeddings else set()
        return sum(p.numel() for p in self.parameters() if id(p) not in skip)

    def embedding_parameters(self) -> list[nn.Parameter]:
        """Lookup tables (token / position / relative-bias embeddings): no matmul FLOPs per token."""
        return [m.weight for m in self.modules() if isinstance(m, nn.Embedding)]

    def compile(self, scope: Literal["blocks", "model"] = "blocks", **kwargs: Any) -> "DNAModel":  # type: ignore[override]
        """Opt-in ``torch.compile``: ``blocks`` compiles the trunk's repeated blocks (parameter
        names and ``state_dict`` unchanged), ``model`` the whole forward. Returns ``self``."""
        if scope == "model":
            super().compile(**kwargs)
        elif scope == "blocks":
            for module in self.compile_units():
                module.compile(**kwargs)
        else:
            raise ValueError(f"scope must be 'blocks' or 'model'; got {scope!r}")
        return self

    def compile_units(self) -> list[nn.Module]:
        """Modules that ``compile(scope='blocks')`` compiles one by one."""
        return [self]

    # ------------------------------------------------------------------ save / load

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write ``config.json``, ``model.safetensors`` and ``tokenizer/`` into ``directory``."""
        from dnabench.models.io import save_pretrained

        return save_pretrained(self, directory)

    @classmethod
    def from_pretrained(cls, directory: str | Path, *, device: str | torch.device | None = None) -> "DNAModel":
        """Rebuild a saved model (any kind when called on ``DNAModel``) with identical weights."""
        from dnabench.models.io import load_pretrained

        model = load_pretrained(directory, device=device)
        if cls is not DNAModel and not isinstance(model, cls):
            raise TypeError(f"{directory} holds a {type(model).__name__}, not a {cls.__name__}")
        return model

    def extra_repr(self) -> str:
        return f"name={self.name!r}"
