"""``DNAModel``: the public face shared by every model kind (front end + trunk + head).

    logits = model(ids, attention_mask)          # [B, num_outputs]
    rep    = model.embed(ids, attention_mask)    # [B, hidden]: the sequence representation
    probs  = model.predict_codes(codes, reverse_complement=True)
    model.save_pretrained("run/model"); DNAModel.from_pretrained("run/model")
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal, Optional

import numpy as np
import torch
from torch import nn

import dnabench.models.io as model_io
from dnabench.alphabet import COMPLEMENT
from dnabench.models.heads import Head
from dnabench.tokenize.base import check_codes

#: rows per batch of ``predict_codes`` when the caller gives no ``batch_size``
PREDICT_BATCH_SIZE = 256


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
        self.register_buffer("complement_table", torch.from_numpy(COMPLEMENT.copy()), persistent=False)

    @classmethod
    def options_from_tokenizer(cls, tokenizer: Any) -> dict[str, Any]:
        """Config options a tokenizer object implies (``build_model(name, tokenizer=obj)``);
        none by default: the model checks the tokenizer it is given instead."""
        return {}

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

    def _as_codes(self, codes: Any) -> torch.Tensor | np.ndarray:
        """``codes`` as a ``[N, L]`` uint8 tensor or NumPy array, left where it is: nothing is
        read from a memory map and nothing moves to the device yet."""
        if isinstance(codes, torch.Tensor):
            uint8 = codes.dtype == torch.uint8
        else:
            codes = np.asarray(codes)  # a memmap stays a view of its file
            uint8 = codes.dtype == np.uint8
        if not uint8:
            raise ValueError(f"expected uint8 nucleotide codes (A=0 C=1 G=2 T=3 N=4), got {codes.dtype}")
        if codes.ndim == 1:
            codes = codes[None]
        if codes.ndim != 2:
            raise ValueError(f"expected codes of shape [B, L], got {tuple(codes.shape)}")
        return codes

    def _rows_on_device(self, codes: torch.Tensor | np.ndarray, start: int, stop: int) -> torch.Tensor:
        """Rows ``start:stop``, sliced where they are and copied to the model's device without waiting."""
        part = codes[start:stop]
        if isinstance(part, np.ndarray):
            if not (part.flags.c_contiguous and part.flags.writeable):
                part = np.array(part, order="C")  # read-only memmaps and strided views
            part = torch.from_numpy(part)
        device = self.device
        if device.type != "cpu" and part.device.type == "cpu":
            check_codes(part)  # here, where a bad code is a clear error: on the device it would be a device-side assert
            if device.type == "cuda":
                part = part.pin_memory()  # so that the copy is asynchronous
        return part.to(device, non_blocking=True)

    def _predict_batch(self, codes: torch.Tensor, autocast: bool, embed: bool = False) -> torch.Tensor:
        batch = self.encode(codes)
        ids = batch.ids.to(self.device)
        mask = batch.attention_mask.to(self.device) if self.needs_attention_mask else None
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=autocast):
            return self.embed(ids, mask).float() if embed else self.predict(ids, mask)

    def _predict_batches(
        self, codes: torch.Tensor | np.ndarray, reverse_complement: bool, step: int, autocast: bool, embed: bool = False
    ) -> Iterator[tuple[int, torch.Tensor]]:
        """``(first row, predictions or representations)`` of each batch of ``step`` rows, on the model's device."""
        for start in range(0, codes.shape[0], step):
            chunk = self._rows_on_device(codes, start, start + step)
            rows = chunk.shape[0]
            if self.is_compiled and rows < step:  # one shape: a compiled model would compile again for the last batch
                # filled with the batch's own rows (all-N rows would be long BPE sequences), dropped below
                chunk = torch.cat([chunk, chunk[torch.arange(step - rows, device=chunk.device) % rows]])
            if reverse_complement:
                both = self._predict_batch(torch.cat([chunk, self.reverse_complement(chunk)]), autocast, embed)
                forward, backward = both.chunk(2)
                yield start, ((forward + backward) / 2)[:rows]
            else:
                yield start, self._predict_batch(chunk, autocast, embed)[:rows]

    def _gather_on_host(self, batches: Iterator[tuple[int, torch.Tensor]], rows: int, width: Optional[int] = None) -> np.ndarray:
        """Batches written into one host array. A batch's copy from the GPU is waited for only
        once the next batch is queued, so the device is not left idle by the host's copying."""
        out = np.empty((rows, width or self.head.fc2.out_features), dtype=np.float32)
        pending: list[tuple[int, torch.Tensor, Optional[torch.cuda.Event]]] = []
        for start, values in batches:
            done = None
            if values.device.type == "cuda":
                values = values.to("cpu", non_blocking=True)  # into pinned memory
                done = torch.cuda.Event()
                done.record()
            pending.append((start, values, done))
            if len(pending) > 1:
                self._write_rows(out, *pending.pop(0))
        for item in pending:
            self._write_rows(out, *item)
        return out

    @staticmethod
    def _write_rows(out: np.ndarray, start: int, values: torch.Tensor, done: Optional[torch.cuda.Event]) -> None:
        if done is not None:
            done.synchronize()
        out[start : start + values.shape[0]] = values.numpy()

    def embed_codes(
        self, codes: torch.Tensor | np.ndarray, reverse_complement: bool = False, *, batch_size: Optional[int] = None,
        autocast: Optional[bool] = None,
    ) -> np.ndarray:
        """Representations ``[N, representation_size]`` float32 on the host for uint8 codes
        ``[N, L]``: the batching, devices and strands of :meth:`predict_codes`, stopped before the head."""
        return self.predict_codes(codes, reverse_complement, batch_size=batch_size, autocast=autocast, as_numpy=True, _embed=True)

    def predict_codes(
        self,
        codes: torch.Tensor | np.ndarray,
        reverse_complement: bool = False,
        *,
        batch_size: Optional[int] = None,
        autocast: Optional[bool] = None,
        as_numpy: bool = False,
        _embed: bool = False,
    ) -> torch.Tensor | np.ndarray:
        """Predictions ``[N, num_outputs]`` float32 for uint8 codes ``[N, L]``, ``batch_size`` rows at a time.

        ``codes`` is a tensor (on any device) or a NumPy array or memmap of any size: each batch
        is sliced where the codes are and copied to the model's device on its own, so the whole
        input never sits on the device at once. ``batch_size`` defaults to
        ``PREDICT_BATCH_SIZE``. Runs in eval mode without gradients (the previous mode is
        restored). With ``reverse_complement=True`` the reverse complement is built on the
        device and the two predictions are averaged. ``autocast`` (bf16) defaults to on for
        CUDA. The result is a tensor on the model's device, or with ``as_numpy=True`` a NumPy
        array on the host (then no more than two batches of predictions are on the device).
        """
        codes = self._as_codes(codes)
        if autocast is None:
            autocast = self.device.type == "cuda"
        step = max(1, batch_size or PREDICT_BATCH_SIZE)
        was_training = self.training
        self.eval()
        try:
            with torch.inference_mode():
                batches = self._predict_batches(codes, reverse_complement, step, autocast, _embed)
                if as_numpy:
                    return self._gather_on_host(batches, int(codes.shape[0]), int(self.representation_size) if _embed else None)
                outs = [values for _, values in batches]
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
        self._compiled = True
        return self

    @property
    def is_compiled(self) -> bool:
        """Whether `compile` was called: inference then keeps every batch at one shape."""
        return bool(getattr(self, "_compiled", False))

    def compile_units(self) -> list[nn.Module]:
        """Modules that ``compile(scope='blocks')`` compiles one by one."""
        return [self]

    # ------------------------------------------------------------------ save / load

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write ``config.json``, ``model.safetensors`` and ``tokenizer/`` into ``directory``."""
        return model_io.save_pretrained(self, directory)

    @classmethod
    def from_pretrained(cls, directory: str | Path, *, device: str | torch.device | None = None) -> "DNAModel":
        """Rebuild a saved model (any kind when called on ``DNAModel``) with identical weights."""
        model = model_io.load_pretrained(directory, device=device)
        if cls is not DNAModel and not isinstance(model, cls):
            raise TypeError(f"{directory} holds a {type(model).__name__}, not a {cls.__name__}")
        return model

    def extra_repr(self) -> str:
        return f"name={self.name!r}"
