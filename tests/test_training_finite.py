"""The loss watch: the first non-finite step is reported exactly, whenever it is read."""

from __future__ import annotations

import pytest
import torch

from dnabench.training.errors import NonFiniteLossError
from dnabench.training.finite import FiniteLossWatch


def test_finite_losses_pass_and_the_first_bad_step_is_named():
    watch = FiniteLossWatch()
    watch.check()  # nothing seen yet
    for step, value in enumerate([0.7, 0.6, 0.5]):
        watch.update(torch.tensor(value), step)
    watch.check()
    watch.update(torch.tensor(float("inf")), 3)
    watch.update(torch.tensor(float("nan")), 4)  # a later bad step does not replace the first
    watch.update(torch.tensor(0.4), 5)
    with pytest.raises(NonFiniteLossError, match=r"^loss is inf at step 3; stopping\. The last good checkpoint is kept"):
        watch.check()
    watch.reset()
    watch.check()


def test_the_watch_names_what_it_watches_and_keeps_its_advice():
    watch = FiniteLossWatch("MLM loss", "Try a lower --lr.")
    watch.update(torch.tensor([float("nan")]), 12)
    with pytest.raises(NonFiniteLossError, match=r"MLM loss is nan at step 12; .* Try a lower --lr\.$"):
        watch.check()


def _two_ranks(rank: int, init: str, results) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
    try:
        watch = FiniteLossWatch()
        for step in range(6):  # rank 1's loss is NaN at step 4 only; rank 0's never
            watch.update(torch.tensor(float("nan") if (rank, step) == (1, 4) else 0.5), step)
            try:
                watch.check(across_ranks=True)
            except NonFiniteLossError as err:
                results[rank] = (step, str(err))
                return
        results[rank] = (None, "")
    finally:
        dist.destroy_process_group()


def test_every_rank_stops_at_the_first_bad_step_of_any_rank(tmp_path):
    """A NaN on one DDP rank reaches every rank's weights (gradients are averaged): all ranks must
    stop together, at that step, rather than one writing a checkpoint while the other stops."""
    import torch.multiprocessing as mp

    manager = mp.Manager()
    results = manager.dict()
    mp.spawn(_two_ranks, args=(f"file://{tmp_path / 'rendezvous'}", results), nprocs=2, join=True)
    for rank in (0, 1):
        step, message = results[rank]
        assert step == 4 and message.startswith("loss is nan at step 4;"), (rank, results[rank])
