"""A watch on the loss that finds the first non-finite step without making the host wait each step.

`if not torch.isfinite(loss)` in a training step copies the loss to the host, so the CPU waits
for the GPU to finish every step and cannot load and queue the next one meanwhile: on an H200
that alone kept `dnabench train` well below the speed of the model step. The watch keeps the
first bad step and its loss on the device (two tiny kernels a step) and is read where a
decision needs it: every few steps, before a checkpoint is written, before validation and at
the end of training. A non-finite loss is still reported with its exact step, and no
checkpoint is ever written from weights that it has touched.
"""

from __future__ import annotations

import torch

from dnabench.training.errors import NonFiniteLossError

__all__ = ["FiniteLossWatch"]


class FiniteLossWatch:
    """Records the first step whose loss is NaN or inf; `check` raises NonFiniteLossError for it."""

    def __init__(self, what: str = "loss", advice: str = "Try a lower --lr or check the labels for inf.") -> None:
        self.what = what
        self.advice = advice
        self._step: torch.Tensor | None = None
        self._value: torch.Tensor | None = None

    def update(self, loss: torch.Tensor, step: int) -> None:
        """Note `loss` of training step `step` (queued on the loss's device; nothing waits)."""
        loss = loss.detach().float().reshape(())
        if self._step is None or self._step.device != loss.device:
            self._step = torch.full((), -1, dtype=torch.int64, device=loss.device)
            self._value = torch.zeros((), dtype=torch.float32, device=loss.device)
        first = ~torch.isfinite(loss) & (self._step < 0)
        self._step = torch.where(first, step, self._step)
        self._value = torch.where(first, loss, self._value)

    def check(self, across_ranks: bool = False, device: torch.device | str | None = None) -> None:
        """Raise for the first non-finite loss seen so far (one copy to the host).

        `across_ranks` (every DDP rank calls it at the same point): the ranks agree on the first
        bad step of any of them and all raise together. A NaN on one rank reaches every rank's
        weights through the averaged gradients, so a rank that saw none must not write a
        checkpoint or go on into the next collective while another stops. `device` holds the
        collective's tensors (the CUDA device under NCCL) on a rank that has seen no loss yet."""
        import torch.distributed as dist

        if not (across_ranks and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            if self._step is not None and int(self._step) >= 0:
                self._raise(int(self._step), float(self._value))  # type: ignore[arg-type]
            return
        none = torch.iinfo(torch.int64).max
        where = self._step.device if self._step is not None else torch.device(device or "cpu")
        first = torch.full((), none, dtype=torch.int64, device=where)
        if self._step is not None:
            first = torch.where(self._step >= 0, self._step, first)
        dist.all_reduce(first, op=dist.ReduceOp.MIN)
        step = int(first)
        if step == none:
            return
        value = torch.zeros((), dtype=torch.float32, device=where)
        if self._step is not None and int(self._step) == step:
            value = self._value.clone()  # type: ignore[union-attr]
        dist.all_reduce(value)  # the loss of the rank that saw it (the others add 0)
        self._raise(step, float(value))

    def _raise(self, step: int, value: float) -> None:
        raise NonFiniteLossError(f"{self.what} is {value} at step {step}; stopping. The last good checkpoint is kept. {self.advice}")

    def reset(self) -> None:
        self._step = self._value = None
