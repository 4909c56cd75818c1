"""MLM pretraining in two CPU processes (DDP, gloo) against one process at the same global batch.

Two ranks of B chunks a step must train on what one process with 2B chunks a step trains on:
the same chunks at every step (the sampler gives rank r the r-th of every two places of the
epoch's permutation, so batch k of both ranks together is batch k of one process), every
training chunk once an epoch, and the same weights at the end.

Masks are drawn from (seed, step, rank) (`MLMModule.training_step`), so rank 1 masks its
share with other draws than a single process masks the same rows with: a plain one-process
run legitimately ends elsewhere, by masking noise. The one-process reference here therefore
masks the rows of each rank's share with that rank's generator (`RankShareMasks`); everything
else (gradient averaging, a loss that weighs every target of the global batch alike where the
ranks hold different numbers of targets, clipping, the warmup and decay schedule, the steps an
epoch, the split-wide loss sums) is the code under test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import Callback
from safetensors.torch import load_file

import dnabench.training.pretrain as pretrain_module
from dnabench.alphabet import N
from dnabench.training.masking import MaskedBatch
from dnabench.training.pretrain import MLMModule, PretrainConfig, build_mlm, load_chunks, pretrain

REPO = Path(__file__).resolve().parents[1]
WORLD = 2
PER_RANK = 24
#: chromosome ends off the 64 bp grid (N-filled last chunks) and chunks with a few N beside the
#: assembly gap: some chunks have fewer targets than others, so the ranks' target counts differ
#: (a mean loss per rank, which DDP then averages, would weigh targets unlike one process does)
SIZES = {"chr1": 16_420, "chr2": 8_130}
LENGTH = 64


def tiny_config(cache: Path, out: Path, devices: str, batch_size: int) -> PretrainConfig:
    """A 2-layer Transformer on 64 bp chunks, 2 epochs; `batch_size` is per process."""
    return PretrainConfig(
        genome=str(cache), out=str(out), length=LENGTH, val_fraction=0.1,
        model_options={"hidden_size": 32, "num_layers": 2, "num_heads": 2, "ffn_size": 64, "dropout": 0.0},
        batch_size=batch_size, max_epochs=2, lr=3e-3, warmup_steps=3, seed=5,
        accelerator="cpu", devices=devices, progress=False,
    )


class SeenChunks(Callback):
    """Writes (epoch, step, sample indices) of every training batch of this rank to seen.rankR.json."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.rows: list[tuple[int, int, list[int]]] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.rows.append((trainer.current_epoch, trainer.global_step, batch["index"].tolist()))

    def on_train_end(self, trainer, pl_module) -> None:
        (self.folder / f"seen.rank{trainer.global_rank}.json").write_text(json.dumps(self.rows))


class RankShareMasks(MLMModule):
    """One process, masking rows r, r + WORLD, ... of a training batch as DDP rank r masks its batch."""

    def masked(self, codes: torch.Tensor, generator: torch.Generator) -> MaskedBatch:
        if not self.trainer.training:
            return MLMModule.masked(self, codes, generator)
        shares = [MLMModule.masked(self, codes[r::WORLD], self._generator(1, self.global_step, r)) for r in range(WORLD)]

        def woven(field: str) -> torch.Tensor:
            parts = [getattr(s, field) for s in shares]
            out = parts[0].new_empty((codes.shape[0], *parts[0].shape[1:]))
            for r, part in enumerate(parts):
                out[r::WORLD] = part
            return out

        assert all(s.attention_mask is None for s in shares)  # patch tokens: nothing padded
        return MaskedBatch(woven("ids"), None, woven("positions"), woven("targets"))


DDP_SCRIPT = """
import sys
from pathlib import Path
import torch
sys.path.insert(0, sys.argv[1])
from test_training_pretrain_ddp import PER_RANK, SeenChunks, tiny_config
from dnabench.training.pretrain import pretrain

torch.set_num_threads(1)
root = Path(sys.argv[2])
pretrain(tiny_config(root / "genome", root / "ddp", "2", PER_RANK), callbacks=[SeenChunks(root)])
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """The two-process run (a subprocess: Lightning starts rank 1 beside it) and the one-process reference."""
    from dnabench.io.genome import index_genome
    from dnabench.synthetic import make_genome

    root = tmp_path_factory.mktemp("pretrain_ddp")
    fasta = make_genome(SIZES, sites_per_motif=10, seed=3).write_fasta(root / "g.fa")
    index_genome(fasta, root / "genome", progress=False)
    script = root / "ddp.py"
    script.write_text(DDP_SCRIPT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(script), str(REPO / "tests"), str(root)], capture_output=True,
                          text=True, timeout=300, env=env, cwd=root)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]

    single = root / "single"
    single.mkdir()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(pretrain_module, "MLMModule", RankShareMasks)
            pretrain(tiny_config(root / "genome", single / "run", "1", WORLD * PER_RANK), callbacks=[SeenChunks(single)])
    finally:
        torch.set_num_threads(threads)
    return root


def seen(path: Path) -> dict[int, dict[int, list[int]]]:
    """epoch -> step -> sample indices of one rank's training batches."""
    out: dict[int, dict[int, list[int]]] = {}
    for epoch, step, indices in json.loads(path.read_text()):
        out.setdefault(epoch, {})[step] = indices
    return out


def test_every_training_chunk_once_an_epoch_across_ranks(runs):
    source, _ = load_chunks(tiny_config(runs / "genome", runs / "x", "1", PER_RANK), runs)
    train = np.sort(source.split(0.1, 5)["train"])
    assert train.size % (WORLD * PER_RANK) != 0  # the last batch of an epoch is a short one: it is covered too
    ranks = [seen(runs / f"seen.rank{r}.json") for r in range(WORLD)]
    single = seen(runs / "single" / "seen.rank0.json")
    assert sorted(ranks[0]) == sorted(ranks[1]) == sorted(single) == [0, 1]
    for epoch in (0, 1):
        steps = [ranks[r][epoch] for r in range(WORLD)]
        assert list(steps[0]) == list(steps[1]) == list(single[epoch])  # same steps, no rank waits on another
        both = np.concatenate([np.concatenate(list(s.values())) for s in steps])
        assert both.size == train.size and np.array_equal(np.sort(both), train)
        for step, indices in single[epoch].items():  # step by step, both ranks together = one process's batch
            assert sorted(steps[0][step] + steps[1][step]) == sorted(indices)
    assert ranks[0][0] != ranks[0][1]  # the epochs are shuffled differently


def test_two_processes_train_as_one_at_equal_global_batch(runs):
    ddp = json.loads((runs / "ddp" / "metrics.json").read_text())
    one = json.loads((runs / "single" / "run" / "metrics.json").read_text())
    assert json.loads((runs / "ddp" / "run.json").read_text())["world_size"] == WORLD
    assert ddp["steps"] == one["steps"] and ddp["epochs"] == one["epochs"]
    assert ddp["train"]["targets"] == one["train"]["targets"] > 0  # the ranks' sums were added up
    source, _ = load_chunks(tiny_config(runs / "genome", runs / "x", "1", PER_RANK), runs)
    assert (source.codes(source.split(0.1, 5)["train"]) == N).any(axis=1).sum() > 0  # chunks with fewer targets
    # The runs differ only in the order float32 sums are taken (DDP adds the two ranks' gradients,
    # one process sums over 2B rows in one backward): ~1e-7 relative a step, which 24 Adam steps
    # at lr 3e-3 leave at ~5e-7 in the weights. The tolerance 1e-4 is 200 times that, and far
    # below what a real difference in the computation gives: 5e-2 for a plain one-process run
    # (other masks), 1e-2 for DDP with a mean loss per rank on these chunks. Training moves the
    # weights by ~3e-2 (checked below, so agreement within the tolerance is no formality).
    assert ddp["train"]["mlm_loss"] == pytest.approx(one["train"]["mlm_loss"], rel=1e-5)
    a = load_file(runs / "ddp" / "encoder" / "model.safetensors")
    b = load_file(runs / "single" / "run" / "encoder" / "model.safetensors")
    assert a.keys() == b.keys()
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    L.seed_everything(5, verbose=False)  # as pretrain() does before it builds the model
    start = build_mlm(tiny_config(runs / "genome", runs / "x", "1", PER_RANK)).backbone.state_dict()
    moved = max(float((a[k] - start[k]).abs().max()) for k in a)
    assert worst < 1e-4 < moved / 10, (worst, moved)
