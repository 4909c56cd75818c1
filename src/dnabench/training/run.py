"""`train`: a whole supervised run, from a data path and a model name to a complete run folder.

Run folder:
    config.yaml            the resolved TrainConfig
    run.json               dnabench/torch versions, git commit, data card sha256, devices, times
    metrics.json           final validation and test metrics (of the best checkpoint)
    logs/metrics.csv       per-epoch (and per-step) log; tensorboard/ alongside
    checkpoints/           best.ckpt, last.ckpt (Lightning, for --resume), interrupted.ckpt
    best/ , last/          models saved with save_pretrained (DNAModel.from_pretrained loads them)
    test_predictions.parquet  (not for tasks scored from streamed histograms, such as Track7878)
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, LearningRateMonitor, ModelCheckpoint

from dnabench import __version__
from dnabench.training.config import TrainConfig, load_config, save_config
from dnabench.data.task import Activation, InputKind
from dnabench.training.data import TrainingData, load_training_data, split_loaders
from dnabench.training.module import DNATaskModule

CHECKPOINTS = "checkpoints"


class InterruptCheckpoint(Callback):
    """On Ctrl-C (or SIGTERM turned into KeyboardInterrupt) save checkpoints/interrupted.ckpt.

    Other exceptions (a NaN loss among them) save nothing, so the last good checkpoint stays.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        if isinstance(exception, KeyboardInterrupt):
            trainer.save_checkpoint(self.path)


def build_model_for(config: TrainConfig, data: TrainingData):
    """The model a config asks for, sized for the data (outputs, input length), or loaded from --init."""
    from dnabench.models import DNAModel, build_model

    if data.spec.input_kind is not InputKind.WINDOW:
        raise ValueError(
            f"{config.data}: a {data.spec.input_kind.value} store holds [B, {'2' if data.spec.input_kind is InputKind.PAIR else 'S'}, L] "
            f"samples, and model {config.model!r} reads one window [B, L]; train it on a window store"
        )
    defaults: dict[str, Any] = {"num_outputs": len(data.labels), "output": "value" if data.spec.output is Activation.IDENTITY else "probability"}
    if config.model in ("cnn_fc", "cnn_lstm"):
        defaults["seq_len"] = data.input_length
    tokenizer = None
    if config.tokenizer_path:  # a trained tokenizer (BPE) sets the front end's kind and parameters
        from dnabench.tokenize import load_tokenizer

        tokenizer = load_tokenizer(config.tokenizer_path)
        params = tokenizer.config()
        defaults.update({"tokenizer": tokenizer.name, **{k: params[k] for k in ("k", "stride") if k in params}})
    model_config = config.resolve_model_config(**defaults)
    model = build_model(config.model, model_config, tokenizer=tokenizer)
    if config.init:
        init = resolve_model_dir(config.init)
        source = DNAModel.from_pretrained(init)
        own = model.state_dict()
        loaded = {k: v for k, v in source.state_dict().items() if k in own and own[k].shape == v.shape}
        if not loaded:
            raise ValueError(f"--init {config.init}: no weights match this model")
        own.update(loaded)
        model.load_state_dict(own)
    return model


def resolve_model_dir(path: str | os.PathLike) -> Path:
    """A run folder (its best/ model) or a save_pretrained folder."""
    path = Path(path)
    if (path / "config.json").is_file():
        return path
    if (path / "best" / "config.json").is_file():
        return path / "best"
    raise FileNotFoundError(f"{path}: neither a saved model (config.json) nor a run folder with best/")


def latest_checkpoint(run: Path) -> Path | None:
    candidates = [p for p in (run / CHECKPOINTS).glob("*.ckpt") if p.name in ("last.ckpt", "interrupted.ckpt")]
    return max(candidates, key=lambda p: p.stat().st_mtime) if candidates else None


def _git_commit() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _precision(config: TrainConfig) -> str:
    if config.precision != "auto":
        return config.precision if config.precision != "32" else "32-true"
    uses_gpu = torch.cuda.is_available() and config.accelerator in ("auto", "gpu", "cuda")
    return "bf16-mixed" if uses_gpu and torch.cuda.is_bf16_supported() else "32-true"


def _devices(config: TrainConfig) -> int | str | list[int]:
    value = config.devices
    if value in ("auto", "-1"):
        return "auto" if value == "auto" else -1
    if "," in value:
        return [int(x) for x in value.split(",") if x]
    return int(value)


def _is_first_process() -> bool:
    """True in the process that starts a run: not a DDP worker that Lightning, torchrun or SLURM
    started beside it (those find the folder the first one already made)."""
    ranks = ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID")
    return all(os.environ.get(name, "0") in ("", "0") for name in ranks)


def train(config: TrainConfig, resume: Path | None = None, callbacks: list[Callback] | None = None) -> Path:
    """Fit, then test the best checkpoint; returns the run folder. `resume` continues a run folder.

    `callbacks` are extra Lightning callbacks (a throughput meter, a custom logger).
    """
    out = Path(config.out)
    if not config.out:
        raise ValueError("--out RUN is required")
    if resume is None and _is_first_process() and out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out}: run folder exists and is not empty; use --resume {out} or another --out")
    out.mkdir(parents=True, exist_ok=True)
    L.seed_everything(config.seed, workers=True, verbose=False)
    if config.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    data = load_training_data(config.data, seed=config.seed, genome=config.genome)
    model = build_model_for(config, data)
    module = DNATaskModule(
        model, data.spec, data.labels, config.lr, config.weight_decay, config.warmup_fraction, config.seed, config.loss,
        grad_clip=config.grad_clip,
    )
    loaders = split_loaders(data, config)
    module.train_sampler = loaders["train"].sampler
    monitor = f"val/{data.spec.monitor.value}"
    ckpt_dir = out / CHECKPOINTS
    best = ModelCheckpoint(dirpath=ckpt_dir, filename="best", monitor=monitor, mode="max", save_top_k=1, enable_version_counter=False)
    latest_every = (
        {"every_n_train_steps": config.checkpoint_every_steps} if config.checkpoint_every_steps else {"every_n_epochs": 1}
    )
    latest = ModelCheckpoint(dirpath=ckpt_dir, filename="last", save_top_k=1, enable_version_counter=False, **latest_every)
    callbacks: list[Callback] = [
        best,
        latest,
        EarlyStopping(monitor=monitor, mode="max", patience=config.patience, check_finite=False, strict=False),
        InterruptCheckpoint(ckpt_dir / "interrupted.ckpt"),
        LearningRateMonitor(logging_interval="step"),
        *(callbacks or []),
    ]
    if config.progress:
        from lightning.pytorch.callbacks import RichProgressBar

        callbacks.append(RichProgressBar(leave=True))
    loggers: list[Any] = [L.pytorch.loggers.CSVLogger(out, name="logs", version="")]
    try:
        loggers.append(L.pytorch.loggers.TensorBoardLogger(out, name="tensorboard", version="", default_hp_metric=False))
    except ModuleNotFoundError:
        pass
    if config.wandb_project:
        loggers.append(L.pytorch.loggers.WandbLogger(project=config.wandb_project, save_dir=str(out)))
    devices = _devices(config)
    many = devices not in (1, "1") or config.num_nodes > 1
    trainer = L.Trainer(
        max_epochs=config.max_epochs,
        max_steps=config.max_steps,
        accelerator=config.accelerator,
        devices=devices,
        num_nodes=config.num_nodes,
        strategy="ddp" if many and devices != "auto" else "auto",
        precision=_precision(config),  # type: ignore[arg-type]
        callbacks=callbacks,
        logger=loggers,
        use_distributed_sampler=False,
        deterministic=config.deterministic or None,
        val_check_interval=config.val_check_interval,
        log_every_n_steps=10,
        enable_progress_bar=config.progress,
        enable_model_summary=config.progress,
        default_root_dir=out,
        num_sanity_val_steps=0,
    )
    started = dt.datetime.now(dt.timezone.utc).isoformat()
    if trainer.is_global_zero:
        save_config(config, out / "config.yaml")
    ckpt_path = None
    if resume is not None:
        ckpt_path = latest_checkpoint(out)
        if ckpt_path is None:
            raise FileNotFoundError(f"{out}: no checkpoint to resume from in {ckpt_dir}")
    trainer.fit(module, loaders["train"], loaders["val"], ckpt_path=ckpt_path)
    if trainer.is_global_zero:
        model.save_pretrained(out / "last")
    best_path = best.best_model_path or None
    trainer.test(module, loaders["test"], ckpt_path=best_path, weights_only=False)
    if trainer.is_global_zero:
        model.save_pretrained(out / "best")
        _write_results(out, config, data, module, trainer, started, best_path)
    return out


def _write_results(out: Path, config: TrainConfig, data: TrainingData, module: DNATaskModule, trainer: L.Trainer, started: str, best_path: str | None) -> None:
    import pandas as pd

    metrics = {
        "val": module.last_metrics.get("val", {}),
        "test": module.last_metrics.get("test", {}),
        "best_checkpoint": best_path,
        "epochs": trainer.current_epoch,
        "steps": trainer.global_step,
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    run = {
        "dnabench": __version__,
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "git_commit": _git_commit(),
        "data": str(config.data),
        "data_description": data.description,
        "data_card_sha256": data.card_sha256,
        "input_length": data.input_length,
        "task": {
            "name": data.spec.name,
            "kind": data.spec.label_kind.value,
            "input_kind": data.spec.input_kind.value,
            "loss": data.spec.loss_name,
            "metrics": [m.value for m in data.spec.metrics],
            "monitor": data.spec.monitor.value,
            "output": data.spec.output.value,
            "label_names": list(data.labels.names),
        },
        "world_size": trainer.world_size,
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "started": started,
        "finished": dt.datetime.now(dt.timezone.utc).isoformat(),
        "command": sys.argv,
    }
    (out / "run.json").write_text(json.dumps(run, indent=1, default=str))
    if module.streamed:  # millions of rows x thousands of labels: `dnabench predict` writes them on request
        return
    index, preds, targets = getattr(module, "test_predictions", (np.zeros(0), np.zeros((0, 0)), np.zeros((0, 0))))
    frame = pd.DataFrame({"index": index})
    for j, name in enumerate(data.labels.names):
        frame[f"target_{name}"] = targets[:, j] if targets.size else []
        frame[f"pred_{name}"] = preds[:, j] if preds.size else []
    frame.to_parquet(out / "test_predictions.parquet", index=False)


def resume_run(run: str | os.PathLike, overrides: dict[str, Any] | None = None) -> Path:
    """Continue a run folder from its newest checkpoint with its saved config."""
    run = Path(run)
    config = load_config(run / "config.yaml", overrides or {})
    config.out = str(run)
    return train(config, resume=run)
