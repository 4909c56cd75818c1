"""Large multilabel tasks are scored from streamed histograms: same numbers, bounded memory, DDP-safe."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from dnabench.data.store import CSRLabels, write_store
from dnabench.data.task import LabelKind, LabelSet, table_spec
from dnabench.data.loader import EpochBatchSampler
from dnabench.evaluation.scoring import STREAMING_MIN_LABELS, SplitScorer, is_streamed


def task(n_labels: int):
    groups = ["dnase" if j % 3 == 0 else "tf" for j in range(n_labels)]
    return table_spec(LabelKind.MULTILABEL, n_labels, 64), LabelSet(tuple(f"l{j}" for j in range(n_labels)), tuple(groups))


def test_streamed_scores_match_exact_ones():
    rng = np.random.default_rng(0)
    t = task(STREAMING_MIN_LABELS)
    assert is_streamed(*t) and not is_streamed(*task(STREAMING_MIN_LABELS - 1))
    y = (rng.random((3000, t_n := len(t[1]))) < 0.1).astype(np.float32)
    p = np.clip(0.3 * y + rng.random((3000, t_n)) * 0.7, 0, 1).astype(np.float32)
    streamed, exact = SplitScorer(*t), SplitScorer(*t, streamed=False)
    for b in range(0, 3000, 256):
        streamed.update(y[b : b + 256], p[b : b + 256])
        exact.update(y[b : b + 256], p[b : b + 256])
    s, e = streamed.compute(), exact.compute()
    for key in ("auroc", "auprc", "auroc_tf", "auprc_dnase"):
        assert abs(s[key] - e[key]) <= max(s["metric_error_bound"], 1e-4), key
    assert 0 < s["metric_error_bound"] < 1e-2


def test_ddp_padding_is_marked(monkeypatch):
    import dnabench.data.loader as loader

    indices = np.arange(10)
    seen = []
    for rank in (0, 1, 2):
        monkeypatch.setattr(loader, "_dist_rank_world", lambda r=rank: (r, 3))
        items = list(EpochBatchSampler(indices, batch_size=3, shuffle=False))
        assert len(items) == 2  # 12 = 10 + 2 repeats, 4 a rank
        real = [i.indices[: i.real] for i in items]
        seen.extend(np.concatenate(real).tolist())
    assert sorted(seen) == list(range(10))  # every sample once, the repeats left out


def test_training_on_a_large_multilabel_store(tmp_path):
    from dnabench.training.config import TrainConfig
    from dnabench.training.run import train

    rng = np.random.default_rng(1)
    n, n_labels, length = 240, STREAMING_MIN_LABELS, 64
    seqs = ["".join(rng.choice(list("ACGT"), length)) for _ in range(n)]
    dense = rng.random((n, n_labels)) < 0.2
    regions = pd.DataFrame({"chrom": ".", "start": 0, "end": 0, "strand": ".", "sequence": seqs,
                            "split": np.where(np.arange(n) % 5 == 0, "test", np.where(np.arange(n) % 5 == 1, "val", "train"))})
    card = {"task": "track7878", "input_length": length,
            "labels": {"names": [f"l{j}" for j in range(n_labels)], "kind": "multilabel", "groups": ["tf"] * n_labels}}
    write_store(tmp_path / "store", card, regions, CSRLabels.from_dense(dense))
    run = train(TrainConfig(data=str(tmp_path / "store"), model="cnn_fc", out=str(tmp_path / "run"), max_epochs=1,
                            batch_size=32, model_options={"channels": [8, 8], "fc_size": 8}, progress=False,
                            devices="1", accelerator="cpu"))
    metrics = json.loads((run / "metrics.json").read_text())
    for split in ("val", "test"):
        # an untrained model gives near-constant scores, so many ties and a wide (but reported) bound
        assert 0 <= metrics[split]["auroc"] <= 1 and 0 <= metrics[split]["metric_error_bound"] <= 1
        assert "auroc_tf" in metrics[split]
    assert not (run / "test_predictions.parquet").exists()


DDP_SCRIPT = '''
import json, os, sys
from pathlib import Path
import numpy as np, pandas as pd
from dnabench.data.store import CSRLabels, write_store
from dnabench.training.config import TrainConfig
from dnabench.training.run import train

root = Path(sys.argv[1])
store = root / "store"
if os.environ.get("LOCAL_RANK", "0") == "0" and not store.exists():
    rng = np.random.default_rng(1)
    n, L, length = 203, 100, 64
    seqs = ["".join(rng.choice(list("ACGT"), length)) for _ in range(n)]
    split = np.where(np.arange(n) % 5 == 0, "test", np.where(np.arange(n) % 5 == 1, "val", "train"))
    regions = pd.DataFrame({"chrom": ".", "start": 0, "end": 0, "strand": ".", "sequence": seqs, "split": split})
    card = {"task": "track7878", "input_length": length,
            "labels": {"names": [f"l{j}" for j in range(L)], "kind": "multilabel", "groups": ["tf"] * L}}
    write_store(store, card, regions, CSRLabels.from_dense(rng.random((n, L)) < 0.2))
train(TrainConfig(data=str(store), model="cnn_fc", out=str(root / "run"), max_epochs=1, batch_size=16,
                  model_options={"channels": [8, 8], "fc_size": 8}, progress=False, devices="2", accelerator="cpu"))
'''


def test_two_process_ddp_scores_every_test_row_once(tmp_path):
    """Two CPU processes (gloo): 41 test rows split 21 + 20 + one repeat; the histograms are summed."""
    import subprocess
    import sys

    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT)
    done = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["test"]["rows_scored"] == 41 and metrics["val"]["rows_scored"] == 41
    assert 0 <= metrics["test"]["auroc"] <= 1
