"""The LightningModule: evaluation of a filled-up last batch scores each row once."""

from __future__ import annotations

import lightning as L
import numpy as np
import pytest
import torch

from dnabench.data.loader import BatchSource, batch_loader
from dnabench.data.task import LabelKind, LabelSet, table_spec
from dnabench.models import build_model
from dnabench.training.module import DNATaskModule


class ArraySource(BatchSource):
    def __init__(self, codes: np.ndarray, labels: np.ndarray) -> None:
        self._codes, self._labels = codes, labels

    def codes(self, indices, shifts=None, flips=None):
        return self._codes[indices]

    def labels(self, indices):
        return self._labels[indices]


@pytest.mark.parametrize("kind", [LabelKind.BINARY, LabelKind.REGRESSION])
def test_validation_of_a_filled_last_batch_equals_the_plain_one(kind):
    """`fill_last` (what a compiled run uses) repeats rows into the short last batch: the loss and
    every metric must be those of the rows themselves."""
    rng = np.random.default_rng(0)
    n, length = 37, 40
    codes = rng.integers(0, 4, (n, length)).astype(np.uint8)
    values = (rng.random((n, 1)) < 0.5).astype(np.float32) if kind is LabelKind.BINARY else rng.normal(size=(n, 1)).astype(np.float32)
    source = ArraySource(codes, values)
    labels = LabelSet(("y",))
    spec = table_spec(kind, 1, length)
    torch.manual_seed(0)
    model = build_model("transformer", tokenizer="patch", hidden_size=16, num_layers=1, num_heads=2, ffn_size=24, num_outputs=1)
    results = []
    for fill in (False, True):
        module = DNATaskModule(model, spec, labels)
        loader = batch_loader(source, np.arange(n), 8, shuffle=False, fill_last=fill, pin_memory=False)
        trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False)
        results.append(trainer.validate(module, loader, verbose=False)[0])
    plain, filled = results
    assert plain.keys() == filled.keys() and "val/loss" in plain
    for key in plain:
        assert filled[key] == pytest.approx(plain[key], rel=1e-5, abs=1e-6), key
