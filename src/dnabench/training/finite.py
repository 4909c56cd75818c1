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

    def check(self) -> None:
        """Raise for the first non-finite loss seen so far (one copy to the host)."""
        if self._step is None:
            return
        step = int(self._step)
        if step >= 0:
            raise NonFiniteLossError(
                f"{self.what} is {float(self._value)} at step {step}; stopping. The last good checkpoint is kept. {self.advice}"
            )

    def reset(self) -> None:
        self._step = self._value = None
