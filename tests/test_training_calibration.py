"""BatchNorm statistics are recomputed before validation, so a CNN is evaluated as it was trained.

cnn_fc on GUE prom_300_all went from a validation loss of 0.41 to 1.3 while its AUROC stayed at
0.95, negatives predicted at 0.9: dropout before each conv + BatchNorm made the running variance
that of dropped-out inputs (and short runs leave the running averages near their initial 1).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from dnabench.data.task import LabelKind, LabelSet, table_spec
from dnabench.models import DNAModel, build_model
from dnabench.training.config import TrainConfig
from dnabench.training.module import DNATaskModule
from dnabench.training.run import batch_norm_rows, train

from test_training import synthetic_table


class _Codes:
    def __init__(self, codes: np.ndarray) -> None:
        self._codes = codes

    def codes(self, rows: np.ndarray) -> np.ndarray:
        return self._codes[rows]


def _batch_statistics(model: DNAModel, ids: torch.Tensor) -> torch.Tensor:
    """Probabilities with every BatchNorm normalising by the batch and dropout off."""
    model.eval()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm1d):
            m.train()
    with torch.no_grad():
        out = torch.sigmoid(model(ids))
    model.eval()
    return out


def test_recalibrated_statistics_are_those_of_inputs_without_dropout():
    torch.manual_seed(0)
    model = build_model("cnn_fc", seq_len=64, num_outputs=1, channels=(16, 16, 16), kernel_size=5, pool_size=2, dropout=0.3, fc_size=16)
    codes = np.random.default_rng(0).integers(0, 4, (96, 64)).astype(np.uint8)
    ids = model.encode(torch.from_numpy(codes)).ids
    model.train()
    with torch.no_grad():
        for _ in range(60):  # running averages gathered as training gathers them: dropout on
            model(ids)
    model.eval()
    with torch.no_grad():
        stale = torch.sigmoid(model(ids))
    target = _batch_statistics(model, ids)
    assert (stale - target).abs().max() > 1e-3  # what evaluation saw before

    module = DNATaskModule(model, table_spec(LabelKind.BINARY, 1, 64), LabelSet(("y",)))
    module.batch_norm_source, module.batch_norm_batches = _Codes(codes), [np.arange(96)]
    tracked = [m.num_batches_tracked.clone() for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    model.train()
    assert module.recalibrate_batch_norm() == 3
    assert model.training and all(m.training for m in model.modules())  # modes, momentum and counters as they were
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert all(m.momentum == 0.1 for m in norms)
    assert all(torch.equal(m.num_batches_tracked, t) for m, t in zip(norms, tracked))
    model.eval()
    with torch.no_grad():  # 1e-4: running_var is the unbiased variance, a batch is normalised by the biased one
        torch.testing.assert_close(torch.sigmoid(model(ids)), target, atol=1e-4, rtol=0)


def test_batch_norm_rows_are_a_seeded_sample_of_training_rows():
    rows = np.arange(1000, 1100)
    batches = batch_norm_rows(rows, batches=3, batch_size=16, seed=4)
    picked = np.concatenate(batches)
    assert [b.size for b in batches] == [16, 16, 16] and np.unique(picked).size == 48 and np.isin(picked, rows).all()
    assert all((np.diff(b) > 0).all() for b in batches)
    assert all(np.array_equal(a, b) for a, b in zip(batches, batch_norm_rows(rows, 3, 16, 4)))
    assert sum(b.size for b in batch_norm_rows(rows[:10], 3, 16, 4)) == 10 and batch_norm_rows(rows, 0, 16, 4) == []


def test_cnn_fc_is_evaluated_as_it_was_trained(tmp_path):
    """Would have caught the GUE calibration bug: evaluation-mode predictions of the best model must
    be those of the network with the normalisation it trained with (without the recalibration the
    gap is about 0.3 here), and negatives must not be predicted positive."""
    table = synthetic_table(tmp_path / "motif.csv", rows=512, length=100)
    config = TrainConfig(data=str(table), model="cnn_fc", model_options={"channels": [32, 32, 32], "kernel_size": 8, "pool_size": 2},
                         out=str(tmp_path / "run"), max_epochs=2, batch_size=32, lr=3e-3, progress=False)
    run = train(config)
    model = DNAModel.from_pretrained(run / "best")
    frame = pd.read_csv(table)
    val = json.loads((run / "metrics.json").read_text())["val"]
    assert val["auroc"] > 0.9
    ids = model.encode(torch.from_numpy(_codes(frame["sequence"]))).ids
    model.eval()
    with torch.no_grad():
        evaluated = torch.sigmoid(model(ids))[:, 0].numpy()
    trained = _batch_statistics(model, ids)[:, 0].numpy()
    assert np.abs(evaluated - trained).max() < 0.1
    labels = frame["label"].to_numpy()
    assert evaluated[labels == 0].mean() < 0.35 and evaluated[labels == 1].mean() > 0.65


def _codes(sequences: pd.Series) -> np.ndarray:
    from dnabench.data.tables import encode_sequences

    return encode_sequences(sequences)[0]


@pytest.mark.parametrize("batches", [0, 16])
def test_models_without_batch_norm_are_left_alone(batches):
    model = build_model("transformer", num_outputs=1, hidden_size=32, num_layers=1, num_heads=2, ffn_size=64)
    module = DNATaskModule(model, table_spec(LabelKind.BINARY, 1, 40), LabelSet(("y",)))
    module.batch_norm_source, module.batch_norm_batches = _Codes(np.zeros((4, 40), np.uint8)), [np.arange(4)] * batches
    assert module.recalibrate_batch_norm() == 0
