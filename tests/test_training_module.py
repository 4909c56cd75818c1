"""The LightningModule: evaluation of a filled-up last batch scores each row once."""

from __future__ import annotations

import lightning as L
import numpy as np
import pytest
import torch

from dnabench.data.loader import batch_loader
from dnabench.data.task import LabelKind, LabelSet, table_spec
from dnabench.models import build_model
from dnabench.training.module import DNATaskModule
from test_training_estimator import ArraySource


@pytest.mark.parametrize("kind", [LabelKind.REGRESSION])  # the loss of a regression head differs row to row
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


def test_repeated_rows_of_a_filled_training_batch_get_no_gradient():
    """A compiled run's last training batch is filled up with repeats; the step must be the step
    on its real rows alone."""
    rng = np.random.default_rng(1)
    codes = torch.from_numpy(rng.integers(0, 4, (8, 40)).astype(np.uint8))
    labels = torch.from_numpy((rng.random((8, 1)) < 0.5).astype(np.float32))
    torch.manual_seed(0)
    model = build_model("transformer", tokenizer="patch", hidden_size=16, num_layers=1, num_heads=2, ffn_size=24, num_outputs=1, dropout=0.0)
    module = DNATaskModule(model, table_spec(LabelKind.BINARY, 1, 40), LabelSet(("y",)))
    module.log = lambda *args, **kwargs: None  # no trainer here
    model.eval()  # no dropout draws: the two steps must see the same network
    grads = []
    for batch in ({"codes": codes, "labels": labels, "real": torch.tensor(5)}, {"codes": codes[:5], "labels": labels[:5]}):
        model.zero_grad()
        module.training_step(batch, 0).backward()
        grads.append([p.grad.clone() for p in model.parameters() if p.grad is not None])
    for filled, plain in zip(*grads):
        torch.testing.assert_close(filled, plain)


def test_split_loss_over_ranks_is_the_mean_over_their_rows():
    """Ranks holding 2 and 1 real rows (the second one's other row DDP padding): SPLIT/loss is the
    mean over the 3 rows, not a mean over ranks and not one with truncated row counts."""
    from types import SimpleNamespace

    module = DNATaskModule(build_model("cnn_fc", seq_len=40, channels=(4,), fc_size=4), table_spec(LabelKind.BINARY, 1, 40), LabelSet(("y",)))
    other_rank = torch.tensor([0.5 * 1, 1.0], dtype=torch.float64)  # rank 1: one row of loss 0.5
    module._trainer = SimpleNamespace(world_size=2, strategy=SimpleNamespace(reduce=lambda t, reduce_op: t + other_rank))
    logged = {}
    module.log = lambda name, value, **kwargs: logged.__setitem__(name, value)
    module._loss_sums["val"] = [torch.tensor(2 * 2.0, dtype=torch.float64), 2]  # rank 0: two rows of loss 2.0
    module._log_loss("val")
    assert logged["val/loss"] == pytest.approx((2 * 2.0 + 0.5) / 3)
