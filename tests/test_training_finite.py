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
