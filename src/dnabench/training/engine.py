"""What every Lightning run of dnabench shares: devices, precision, loggers, the Trainer, AdamW.

Supervised training (`training.run`) and MLM pretraining (`training.pretrain`) build their
runs from these, so a change to the optimizer, the schedule or the multi-GPU setup reaches both.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

__all__ = [
    "is_first_process",
    "precision_setting",
    "device_setting",
    "check_checkpoint",
    "run_loggers",
    "make_trainer",
    "adamw_with_schedule",
    "clip_gradients",
    "global_mean",
]


def is_first_process() -> bool:
    """True in the process that starts a run: not a DDP worker that Lightning, torchrun or SLURM
    started beside it (those find the folder the first one already made)."""
    ranks = ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID")
    return all(os.environ.get(name, "0") in ("", "0") for name in ranks)


def uses_gpu(accelerator: str) -> bool:
    """Whether a run with this --accelerator trains on a CUDA GPU."""
    return torch.cuda.is_available() and accelerator in ("auto", "gpu", "cuda")


def precision_setting(precision: str, accelerator: str) -> str:
    """Lightning's precision for a config value: "auto" is bf16-mixed on a GPU that has it, else fp32."""
    if precision != "auto":
        return precision if precision != "32" else "32-true"
    return "bf16-mixed" if uses_gpu(accelerator) and torch.cuda.is_bf16_supported() else "32-true"


def device_setting(devices: str, accelerator: str = "auto") -> int | str | list[int]:
    """Lightning's devices for a config value: auto, -1 (all), a count, or a list such as 0,1.

    GPUs asked for that this machine does not have are a ValueError saying what it has, before
    Lightning starts processes for them."""
    if devices in ("auto", "-1"):
        setting: int | str | list[int] = "auto" if devices == "auto" else -1
    else:
        try:
            setting = [int(x) for x in devices.split(",") if x] if "," in devices else int(devices)
        except ValueError:
            raise ValueError(f"devices must be auto, -1, a count or a list such as 0,1; got {devices!r}") from None
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if accelerator in ("gpu", "cuda") and gpus == 0:
        raise ValueError("accelerator gpu asked for, but this machine has no CUDA GPU that PyTorch can use (torch.cuda.is_available() is False); use --accelerator cpu or auto")
    if accelerator in ("gpu", "cuda", "auto") and gpus:
        wanted = setting if isinstance(setting, int) and setting > 0 else None
        if isinstance(setting, list):
            missing = [i for i in setting if i >= gpus]
            if missing:
                raise ValueError(f"devices {devices}: GPU {missing[0]} does not exist; this machine has {gpus} (0-{gpus - 1})")
        elif wanted is not None and wanted > gpus:
            raise ValueError(f"devices {devices}: {wanted} GPUs asked for, this machine has {gpus}")
    return setting


def check_checkpoint(path: Path) -> Path:
    """A Lightning checkpoint is a zip archive: a truncated or damaged one lacks its directory,
    which `zipfile` finds in a millisecond; say so naming the file instead of PyTorch's miniz error."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            if not archive.namelist():
                raise zipfile.BadZipFile("empty archive")
    except (zipfile.BadZipFile, OSError) as err:
        raise ValueError(
            f"{path}: damaged or truncated checkpoint ({err}); move it aside to resume from the other checkpoint "
            f"in {path.parent}, or start a new run"
        ) from None
    return path


def run_loggers(out: Path, wandb_project: str | None) -> list[Any]:
    """CSV (logs/metrics.csv), TensorBoard where it is installed, W&B when a project is named."""
    loggers: list[Any] = [L.pytorch.loggers.CSVLogger(out, name="logs", version="")]
    try:
        loggers.append(L.pytorch.loggers.TensorBoardLogger(out, name="tensorboard", version="", default_hp_metric=False))
    except ModuleNotFoundError:
        pass
    if wandb_project:
        loggers.append(L.pytorch.loggers.WandbLogger(project=wandb_project, save_dir=str(out)))
    return loggers


def make_trainer(config: Any, out: Path, callbacks: list[Callback], loggers: list[Any], **display: Any) -> L.Trainer:
    """The Trainer of a run config (epochs, steps, devices and nodes, DDP, precision, validation
    interval); `display` sets what differs between runs (progress bar, model summary, log interval).

    The loader shards batches over DDP ranks itself, so Lightning's sampler is off; sanity
    validation is off so that a resumed run repeats nothing.
    """
    devices = device_setting(config.devices, config.accelerator)
    many = devices not in (1, "1") or config.num_nodes > 1
    return L.Trainer(
        max_epochs=config.max_epochs,
        min_epochs=getattr(config, "min_epochs", 0) or None,  # early stopping waits for them
        max_steps=config.max_steps,
        accelerator=config.accelerator,
        devices=devices,
        num_nodes=config.num_nodes,
        strategy="ddp" if many and devices != "auto" else "auto",
        precision=precision_setting(config.precision, config.accelerator),  # type: ignore[arg-type]
        callbacks=callbacks,
        logger=loggers,
        use_distributed_sampler=False,
        deterministic=config.deterministic or None,
        val_check_interval=config.val_check_interval,
        default_root_dir=out,
        num_sanity_val_steps=0,
        **display,
    )


def adamw_with_schedule(model: torch.nn.Module, device: torch.device, lr: float, weight_decay: float, total: int, warmup: int) -> dict:
    """AdamW (fused on CUDA; no decay on norms and biases) with a linear warmup from 0 over
    `warmup` steps, then a linear decay to zero at step `total`: Lightning's optimizer config."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim < 2 or "norm" in name.lower() else decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    fused = torch.cuda.is_available() and device.type == "cuda"
    optimizer = torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.98), eps=1e-6, fused=fused or None)
    total = max(int(total), 1)
    warmup = max(int(warmup), 0)

    def schedule(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(total - warmup, 1))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


#: steps between logged values: each logged value is one wait for the GPU (the logger reads it)
LOG_EVERY_STEPS = 50


def log_interval(steps_per_epoch: int) -> int:
    """Steps between logged values: LOG_EVERY_STEPS, or once an epoch for shorter epochs."""
    return max(1, min(LOG_EVERY_STEPS, steps_per_epoch))


def bar_refresh_steps(accelerator: str, steps_per_epoch: int) -> int:
    """Batches between progress-bar updates. Each update reads the loss off the device, a wait for
    the GPU: on a GPU the bar moves at the log interval, on the CPU (slow steps, no wait) every batch."""
    return log_interval(steps_per_epoch) if uses_gpu(accelerator) else 1


def seed_step(seed: int, device: torch.device) -> None:
    """Seed the CPU generator and `device`'s (dropout of one step). torch.manual_seed also seeds
    every other backend, and for one never started it formats a stack trace: a millisecond a step
    (other accelerators than CUDA still take that path)."""
    if device.type == "cuda":
        torch.default_generator.manual_seed(seed)
        with torch.cuda.device(device):
            torch.cuda.manual_seed(seed)
    elif device.type == "cpu":
        torch.default_generator.manual_seed(seed)
    else:
        torch.manual_seed(seed)


def clip_gradients(model: torch.nn.Module, grad_clip: float | None) -> None:
    """Clip the gradient norm in `on_before_optimizer_step` (gradients are unscaled by then)
    rather than through the Trainer: Lightning refuses `gradient_clip_val` with a fused AdamW
    under mixed precision."""
    if grad_clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)


def global_mean(total: torch.Tensor, count: torch.Tensor, world_size: int = 1, reduce: Any = None) -> torch.Tensor:
    """This rank's loss for a mean over the targets of every rank: `total` (the sum over this
    rank's `count` targets) times the world size over all ranks' targets together.

    DDP averages the ranks' gradients, so each rank's plain mean would weigh a target by how few
    targets its rank had (missing Methyl96 labels, N-filled pretraining chunks); scaled like this
    every target of the global batch weighs the same, as in one process with the whole batch.
    `reduce(tensor)` sums a tensor over the ranks (Lightning's `strategy.reduce`, sum)."""
    if world_size == 1 or reduce is None:
        return total / count.clamp(min=1)
    return total * world_size / reduce(count.detach().float()).clamp(min=1)
