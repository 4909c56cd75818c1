"""`train`: a whole supervised run, from a data path and a model name to a complete run folder.

Run folder:
    config.yaml            the resolved TrainConfig
    run.json               dnabench/torch versions, git commit, data card sha256, devices, times
    metrics.json           final validation and test metrics (of the best checkpoint), which model that is
    logs/metrics.csv       per-epoch (and per-step) log; logs/hparams.yaml; tensorboard/ alongside
    checkpoints/           best.ckpt, last.ckpt (Lightning, for --resume), interrupted.ckpt
    best/ , last/          models saved with save_pretrained (DNAModel.from_pretrained loads them)
    test_predictions.parquet  (not for tasks scored from streamed histograms, such as Track7878)

Validation always runs after the last training step, so best/ is a validated model even when
--max-steps ends training inside an epoch.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import math
import os
import shutil
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, LearningRateMonitor, ModelCheckpoint

from dnabench import __version__
from dnabench.training.config import TrainConfig, load_config, save_config
from dnabench.data.task import Activation, InputKind
from dnabench.training.data import TrainingData, load_config_data, split_loaders, subsample_train
from dnabench.training.engine import bar_refresh_steps, check_checkpoint, is_first_process, log_interval, make_trainer, run_loggers
from dnabench.training.inference import resolve_model_dir
from dnabench.training.module import DNATaskModule
from dnabench.training.provenance import absolute_paths, data_change, data_fingerprint, git_commit, git_dirty, package_path, task_record

__all__ = ["train", "resume_run", "build_model_for", "resolve_model_dir", "latest_checkpoint", "quiet_lightning", "ConsoleReport", "ValidateAtEnd"]

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


class ValidateAtEnd(Callback):
    """Ask for a validation after the last training step when it falls inside an epoch (--max-steps
    shorter than an epoch, val_check_interval < 1): Lightning validates when a run is told to stop,
    so best.ckpt is always chosen by a validation of the final weights too."""

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        last_step = trainer.max_steps > 0 and trainer.global_step >= trainer.max_steps
        last_epoch = trainer.max_epochs is not None and trainer.max_epochs > 0 and trainer.current_epoch + 1 >= trainer.max_epochs
        if last_step or (last_epoch and trainer.fit_loop.epoch_loop.batch_progress.is_last_batch):
            trainer.should_stop = True


#: Lightning's own warnings that say nothing about the user's run (hidden unless `verbose`)
_NOISE = (
    r".*does not have many workers.*",
    r".*smaller than the logging interval.*",
    r"Checkpoint directory .* exists and is not empty.*",
    r"Experiment logs directory .* exists and is not empty.*",  # a resume: `_keep_earlier_log` keeps the rows
    r"The `srun` command is available on your system.*",
    r".*`isinstance\(treespec, LeafSpec\)` is deprecated.*",
    r".*Tensor Cores.*set `torch.set_float32_matmul_precision.*",
)


@contextlib.contextmanager
def quiet_lightning(verbose: bool = False) -> Iterator[None]:
    """Hide Lightning's info lines (accelerator report, tips, `Loading train_dataloader...`) and
    its deprecation and "possible user" warnings for the duration; `verbose` keeps them. The
    run's own messages and every other warning are still shown."""
    if verbose:
        yield
        return
    from lightning.fabric.utilities.warnings import PossibleUserWarning

    names = ("lightning.pytorch", "lightning.fabric", "pytorch_lightning", "lightning_fabric")
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings():
        for category in (DeprecationWarning, FutureWarning, PossibleUserWarning):
            warnings.filterwarnings("ignore", category=category)
        for pattern in _NOISE:
            warnings.filterwarnings("ignore", message=pattern)
        for logger in loggers:
            logger.setLevel(logging.WARNING)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels):
                logger.setLevel(level)


def _fmt(value: Any) -> str:
    try:
        return f"{float(value):.4f}"
    except (TypeError, ValueError):
        return str(value)


class ConsoleReport(Callback):
    """What a run prints: a line when it starts and, in `lines` mode (no terminal, or --no-progress),
    a line after every validation and one every `every_s` seconds of a long epoch, so that logs
    of batch jobs show progress. `bar` mode leaves the rest to the progress bar."""

    def __init__(self, header: str, monitor: str, lines: bool = True, every_s: float = 60.0, stream: TextIO | None = None) -> None:
        self.header = header
        self.monitor = monitor
        self.lines = lines
        self.every_s = every_s
        self.stream = stream
        self._loss_sum: torch.Tensor | None = None
        self._loss_n = 0
        self._start = self._last = 0.0

    def _print(self, text: str) -> None:
        print(text, file=self.stream or sys.stdout, flush=True)

    def _total_steps(self, trainer: L.Trainer) -> str:
        total = trainer.estimated_stepping_batches
        return str(int(total)) if math.isfinite(total) else "?"

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = self._last = time.monotonic()
        if trainer.is_global_zero:
            self._print(self.header)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int) -> None:
        if not self.lines:
            return
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if isinstance(loss, torch.Tensor):
            loss = loss.detach().float()
            self._loss_sum = loss if self._loss_sum is None else self._loss_sum + loss
            self._loss_n += 1
        now = time.monotonic()
        if trainer.is_global_zero and now - self._last >= self.every_s:
            self._last = now
            self._print(f"  step {trainer.global_step}/{self._total_steps(trainer)}: train loss {self._mean_loss()} ({now - self._start:.0f} s)")

    def _mean_loss(self) -> str:
        return _fmt(self._loss_sum.item() / self._loss_n) if self._loss_sum is not None and self._loss_n else "-"

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.lines or trainer.sanity_checking or not trainer.is_global_zero:
            return
        metrics = trainer.callback_metrics
        shown = [f"train loss {self._mean_loss()}"]
        shown += [f"val {key.removeprefix('val/')} {_fmt(metrics[key])}" for key in ("val/loss", self.monitor) if key in metrics]
        now = time.monotonic()
        epochs = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else "?"
        self._print(f"epoch {trainer.current_epoch + 1}/{epochs} step {trainer.global_step}/{self._total_steps(trainer)}: {', '.join(shown)} ({now - self._start:.0f} s)")
        self._last = now
        self._loss_sum, self._loss_n = None, 0


def _progress_bar(monitor: str, refresh_rate: int = 1) -> Callback:
    """A Rich progress bar that fits 80 columns: epoch, bar, batches, time, the loss and the monitored metric."""
    from lightning.pytorch.callbacks import RichProgressBar
    from lightning.pytorch.callbacks.progress.rich_progress import BatchesProcessedColumn, CustomBarColumn, CustomTimeColumn
    from rich.progress import TextColumn

    shown = {"train/loss_step": "loss", "val/loss": "val_loss", monitor: monitor.removeprefix("val/")}

    class CompactProgressBar(RichProgressBar):
        def configure_columns(self, trainer: L.Trainer) -> list:
            return [
                TextColumn("[progress.description]{task.description}"),
                CustomBarColumn(bar_width=12, complete_style=self.theme.progress_bar, finished_style=self.theme.progress_bar_finished,
                                pulse_style=self.theme.progress_bar_pulse),
                BatchesProcessedColumn(style=self.theme.batch_progress),
                CustomTimeColumn(style=self.theme.time),
            ]

        def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
            metrics = super().get_metrics(trainer, pl_module)
            return {short: metrics[key] for key, short in shown.items() if key in metrics}

        def _get_train_description(self, current_epoch: int) -> str:  # 1-based, as the per-epoch lines count
            epochs = self.trainer.max_epochs
            return f"epoch {current_epoch + 1}/{epochs}" if epochs and epochs > 0 else f"epoch {current_epoch + 1}"

    return CompactProgressBar(refresh_rate=refresh_rate, leave=True)


def build_model_for(config: TrainConfig, data: TrainingData):
    """The model a config asks for, sized for the data (outputs, input length; an upper model's
    input size and positions from the features), or loaded from --init."""
    from dnabench.models import build_model, model_class

    features = data.extra.get("features")
    takes_features = bool(getattr(model_class(config.model), "takes_features", False))
    if features is not None and not takes_features:
        raise ValueError(
            f"{config.data}: a features folder holds backbone representations {features.get('shape')}, not sequences, and "
            f"model {config.model!r} reads sequences; train upper_transformer on it (--model upper_transformer), or "
            f"{config.model!r} on the store {features.get('store')}"
        )
    if features is None and takes_features:
        raise ValueError(
            f"{config.data}: model {config.model!r} reads backbone features, not sequences; make them with "
            f"`dnabench features BACKBONE_RUN --data {config.data} --out FEATURES` and train on FEATURES"
        )
    if features is None and data.spec.input_kind is not InputKind.WINDOW:
        raise ValueError(
            f"{config.data}: a {data.spec.input_kind.value} store holds [B, {'2' if data.spec.input_kind is InputKind.PAIR else 'S'}, L] "
            f"samples, and model {config.model!r} reads one window [B, L]; train it on a window store, or extract a backbone's "
            f"features with `dnabench features BACKBONE_RUN --data {config.data} --out FEATURES` and train upper_transformer on FEATURES"
        )
    defaults: dict[str, Any] = {"num_outputs": len(data.labels), "output": "value" if data.spec.output is Activation.IDENTITY else "probability"}
    if features is not None:
        if config.reverse_complement_augment or config.max_shift:
            raise ValueError(
                f"{config.data}: features cannot be shifted or reverse-complemented after extraction; train without --rc and "
                "--shift (extract with --reverse-complement to average both strands)"
            )
        if config.tokenizer_path:
            raise ValueError(f"{config.data}: model {config.model!r} reads features and takes no tokenizer; drop --tokenizer-path")
        shape = [int(v) for v in features["shape"]]
        segments = shape[1] if len(shape) == 3 else 1
        defaults.update(input_size=shape[-1], segments=segments, max_positions=max(512, segments + 1))
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
        from dnabench.training.transfer import init_from

        model = init_from(model, config.init, given=config.model_options, own_tokenizer=bool(config.tokenizer_path))
    return model


def start_at_label_means(model: Any, data: TrainingData, seed: int, rows: int = 100_000) -> bool:
    """A regression head starts at the training labels' means (its output bias; the weights stay
    small and random), so that a bounded-gradient loss such as Huber does not spend the run moving
    a zero output to labels centred far from zero (log expression near -3). Returns whether it did."""
    from dnabench.data.task import LabelKind

    head = getattr(model, "head", None)
    last = getattr(head, "fc2", None)
    if data.spec.label_kind is not LabelKind.REGRESSION or not isinstance(last, torch.nn.Linear) or last.bias is None:
        return False
    train = data.split("train")
    if train.size > rows:
        train = np.sort(np.random.default_rng(seed).choice(train, size=rows, replace=False))
    labels = np.asarray(data.source.labels(train), dtype=np.float64)
    labels[~np.isfinite(labels)] = np.nan  # a bad (infinite) label is the loss's to report, not the start's
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a label with no value in the sample: left at 0
        means = np.nanmean(labels, axis=0) if labels.size else np.zeros(last.out_features)
    if means.shape != (last.out_features,):
        return False
    with torch.no_grad():
        last.bias.copy_(torch.from_numpy(np.nan_to_num(means, nan=0.0, posinf=0.0, neginf=0.0)).to(last.bias))
    return True


def latest_checkpoint(run: Path) -> Path | None:
    candidates = [p for p in (run / CHECKPOINTS).glob("*.ckpt") if p.name in ("last.ckpt", "interrupted.ckpt")]
    return max(candidates, key=lambda p: p.stat().st_mtime) if candidates else None


def _holds_no_file(folder: Path) -> bool:
    return not any(p.is_file() or p.is_symlink() for p in folder.rglob("*"))


def train(
    config: TrainConfig, resume: Path | None = None, callbacks: list[Callback] | None = None, allow_changed_data: bool = False,
    profiler: Any = None,
) -> Path:
    """Fit, then test the best checkpoint; returns the run folder. `resume` continues a run folder,
    and refuses when its data changed since the run started unless `allow_changed_data`.

    `callbacks` are extra Lightning callbacks (a throughput meter, a custom logger); `profiler`
    a Lightning profiler (e.g. `lightning.pytorch.profilers.SimpleProfiler`) that times each
    part of the loop: the loader, the copy to the device, the step, callbacks, validation. A run that
    fails before it has written a file removes the folder it created; one that has (a
    checkpoint, the config) keeps it.
    """
    from dnabench.training.estimator import fit_estimator, is_estimator  # random_forest, xgboost, kmer_lr: one fit
    if is_estimator(config.model):
        return fit_estimator(config, resume=resume)
    if not config.out:
        raise ValueError("--out RUN is required")
    out = Path(config.out)
    if resume is None and is_first_process() and out.is_dir() and any(out.iterdir()):
        raise FileExistsError(f"{out}: run folder exists and is not empty; use --resume {out} or another --out")
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{out}: exists and is not a folder; give another --out")
    created = not out.exists()
    absolute_paths(config)
    try:
        with quiet_lightning(config.verbose):
            return _train(config, out, resume, callbacks, allow_changed_data, profiler)
    except BaseException:
        if created and is_first_process() and out.is_dir() and _holds_no_file(out):
            shutil.rmtree(out, ignore_errors=True)
        raise


def batch_norm_rows(rows: np.ndarray, batches: int, batch_size: int, seed: int) -> list[np.ndarray]:
    """`batches` batches of training rows drawn once by `seed` (each sorted, for the gather), from
    which BatchNorm statistics are recomputed before every validation."""
    n = min(rows.size, batches * batch_size)
    if n == 0:
        return []
    pick = rows[np.random.default_rng(seed).choice(rows.size, size=n, replace=False)]
    return [np.sort(pick[i : i + batch_size]) for i in range(0, n, batch_size)]


def _header(config: TrainConfig, data: TrainingData, model: Any, steps_per_epoch: int, trainer: L.Trainer) -> str:
    counts = data.extra.get("counts") or {s: int(v.size) for s, v in data.splits.items()}
    device = f"{trainer.world_size} x {trainer.strategy.root_device.type}" if trainer.world_size > 1 else str(trainer.strategy.root_device)
    return (
        f"{config.model}, {model.num_parameters() / 1e6:.2f} M parameters, on {data.description} "
        f"(train {counts.get('train', 0):,} / val {counts.get('val', 0):,} / test {counts.get('test', 0):,}); "
        f"{steps_per_epoch:,} steps an epoch of {config.batch_size}, {device}, precision {trainer.precision}"
    )


def _train(
    config: TrainConfig, out: Path, resume: Path | None, callbacks: list[Callback] | None, allow_changed_data: bool = False,
    profiler: Any = None,
) -> Path:
    if resume is not None and not allow_changed_data:
        _check_same_data(out, config.data)
    elif resume is not None and is_first_process():
        _record_fingerprint(out, config.data)  # resumed on new data on purpose: the next resume compares with it
    L.seed_everything(config.seed, workers=True, verbose=False)
    if config.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    data = load_config_data(config)
    if config.train_fraction < 1:
        data = subsample_train(data, config.train_fraction, config.seed)
    model = build_model_for(config, data)
    if not config.init and resume is None:
        start_at_label_means(model, data, config.seed)
    module = DNATaskModule(
        model, data.spec, data.labels, config.lr, config.weight_decay, config.warmup_fraction, config.seed, config.loss,
        grad_clip=config.grad_clip,
    )
    loaders = split_loaders(data, config)
    module.train_sampler = loaders["train"].sampler
    if any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        module.batch_norm_source = data.source
        module.batch_norm_batches = batch_norm_rows(data.split("train"), config.batch_norm_batches, config.batch_size, config.seed)
    steps_per_epoch = len(loaders["train"])
    out.mkdir(parents=True, exist_ok=True)
    monitor = f"val/{data.spec.monitor.value}"
    ckpt_dir = out / CHECKPOINTS
    best = ModelCheckpoint(dirpath=ckpt_dir, filename="best", monitor=monitor, mode="max", save_top_k=1, enable_version_counter=False)
    latest_every = (
        {"every_n_train_steps": config.checkpoint_every_steps} if config.checkpoint_every_steps else {"every_n_epochs": 1}
    )
    latest = ModelCheckpoint(dirpath=ckpt_dir, filename="last", save_top_k=1, enable_version_counter=False, **latest_every)
    bar = config.progress and sys.stdout.isatty()
    report = ConsoleReport("", monitor, lines=not bar)
    all_callbacks: list[Callback] = [
        best,
        latest,
        ValidateAtEnd(),
        EarlyStopping(monitor=monitor, mode="max", patience=config.patience, check_finite=False, strict=False),
        InterruptCheckpoint(ckpt_dir / "interrupted.ckpt"),
        LearningRateMonitor(logging_interval="step"),
        report,
        *(callbacks or []),
    ]
    if bar:
        all_callbacks.append(_progress_bar(monitor, bar_refresh_steps(config.accelerator, steps_per_epoch)))
    if resume is not None and is_first_process():
        _keep_earlier_log(out)
    loggers = run_loggers(out, config.wandb_project)
    trainer = make_trainer(
        config, out, all_callbacks, loggers,
        log_every_n_steps=log_interval(steps_per_epoch), enable_progress_bar=bar, enable_model_summary=False,
        profiler=profiler,
    )
    report.header = _header(config, data, model, steps_per_epoch, trainer)
    started = dt.datetime.now(dt.timezone.utc).isoformat()
    if trainer.is_global_zero:
        save_config(config, out / "config.yaml")
        if resume is None:
            _write_start(out, config, started)
    hparams = _hparams(config, model, data)
    for logger in trainer.loggers:
        logger.log_hyperparams(hparams)
    ckpt_path = None
    if resume is not None:
        ckpt_path = latest_checkpoint(out)
        if ckpt_path is None:
            raise FileNotFoundError(f"{out}: no checkpoint to resume from in {ckpt_dir}")
        check_checkpoint(ckpt_path)
    trainer.fit(module, loaders["train"], loaders["val"], ckpt_path=ckpt_path)
    if trainer.is_global_zero:
        model.save_pretrained(out / "last")
    best_path = best.best_model_path or None
    trainer.test(module, loaders["test"], ckpt_path=best_path, weights_only=False, verbose=False)
    if trainer.is_global_zero:
        model.save_pretrained(out / "best")
        best_record = {
            "monitor": monitor,
            "best_checkpoint": best_path,
            "best_score": float(best.best_model_score) if best_path and best.best_model_score is not None else None,
            "best_model": "checkpoints/best.ckpt: the best validation" if best_path else "the last weights: no validation ran (the val split is empty)",
        }
        _write_results(out, config, data, module, trainer, started, best_record)
        _merge_log(out)
        _log_final_hparams(trainer, hparams, module, data)
        if not best_path:
            warnings.warn(f"{out}: no validation ran (the val split is empty); best/ holds the last weights", stacklevel=2)
    return out


_LOG = Path("logs") / "metrics.csv"
_EARLIER_LOG = Path("logs") / "metrics.before_resume.csv"


def _read_log(path: Path) -> Any:
    import pandas as pd

    return pd.read_csv(path) if path.is_file() and path.stat().st_size else None


def _stack_logs(frames: list[Any]) -> Any:
    """Logs in the order they were written; where a later one starts, the earlier one's rows from
    that step on are dropped (a resumed run replays the steps after its checkpoint)."""
    import pandas as pd

    frames = [f for f in frames if f is not None]
    merged = frames[0]
    for later in frames[1:]:
        if len(later) and "step" in later and "step" in merged:
            merged = merged[merged["step"] < later["step"].min()]
        merged = pd.concat([merged, later], ignore_index=True)
    return merged


def _keep_earlier_log(out: Path) -> None:
    """Lightning's CSV logger deletes logs/metrics.csv when a resumed run opens it; keep its rows
    (and those of earlier resumes) in logs/metrics.before_resume.csv until `_merge_log`."""
    frames = [_read_log(out / _EARLIER_LOG), _read_log(out / _LOG)]
    if any(f is not None for f in frames):
        _stack_logs(frames).to_csv(out / _EARLIER_LOG, index=False)


def _merge_log(out: Path) -> None:
    """logs/metrics.csv of a resumed run: the rows from before the resume, then the new ones."""
    earlier = _read_log(out / _EARLIER_LOG)
    if earlier is None:
        return
    _stack_logs([earlier, _read_log(out / _LOG)]).to_csv(out / _LOG, index=False)
    (out / _EARLIER_LOG).unlink()


def _hparams(config: TrainConfig, model: Any, data: TrainingData) -> dict[str, Any]:
    """The run's settings as TensorBoard / CSV / W&B hyperparameters: the TrainConfig, the
    model's resolved config (defaults included) and the data."""
    from dnabench.models.config import config_to_dict

    params = config.to_dict()
    params["model_config"] = config_to_dict(model.config)
    params["parameters"] = model.num_parameters()
    params["task"] = data.spec.name
    params["data_rows"] = dict(data.extra.get("counts") or {})
    return params


def _log_final_hparams(trainer: L.Trainer, hparams: dict[str, Any], module: DNATaskModule, data: TrainingData) -> None:
    """TensorBoard's HPARAMS view: the settings with the final val / test scores of the spec's metrics."""
    from lightning.pytorch.loggers import TensorBoardLogger

    names = {m.value for m in data.spec.metrics} | {"loss"}
    scores = {
        f"hparams/{split}_{name}": float(value)
        for split in ("val", "test")
        for name, value in module.last_metrics.get(split, {}).items()
        if name in names and value is not None and math.isfinite(float(value))
    }
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger) and scores:
            logger.log_hyperparams(hparams, scores)
            logger.experiment.flush()


def _write_results(out: Path, config: TrainConfig, data: TrainingData, module: DNATaskModule, trainer: L.Trainer, started: str, best: dict[str, Any]) -> None:
    import pandas as pd

    metrics = {
        "val": module.last_metrics.get("val", {}),
        "test": module.last_metrics.get("test", {}),
        **best,
        "epochs": trainer.current_epoch,
        "steps": trainer.global_step,
    }
    index, preds, targets = getattr(module, "test_predictions", (np.zeros(0), np.zeros((0, 0)), np.zeros((0, 0))))
    if not module.streamed and preds.size:
        from dnabench.evaluation.scoring import per_label_scores

        metrics["test_per_label"] = per_label_scores(data.spec, data.labels, targets, preds)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    run = {
        "dnabench": __version__,
        "dnabench_path": package_path(),
        "torch": torch.__version__,
        "lightning": L.__version__,
        "python": sys.version.split()[0],
        "git_commit": git_commit(),
        "git_dirty": git_dirty(),
        "data": str(config.data),
        "data_description": data.description,
        "data_card_sha256": data.card_sha256,
        "data_fingerprint": _recorded_fingerprint(out) or data_fingerprint(config.data),
        "input_length": data.input_length,
        "task": task_record(data.spec, data.labels),
        "world_size": trainer.world_size,
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() and trainer.strategy.root_device.type == "cuda" else "cpu",
        "precision": str(trainer.precision),
        "started": started,
        "finished": dt.datetime.now(dt.timezone.utc).isoformat(),
        "command": sys.argv,
    }
    (out / "run.json").write_text(json.dumps(run, indent=1, default=str))
    if module.streamed:  # millions of rows x thousands of labels: `dnabench predict` writes them on request
        return
    frame = pd.DataFrame({"index": index})
    for j, name in enumerate(data.labels.names):
        frame[f"target_{name}"] = targets[:, j] if targets.size else []
        frame[f"pred_{name}"] = preds[:, j] if preds.size else []
    frame.to_parquet(out / "test_predictions.parquet", index=False)


def _write_start(out: Path, config: TrainConfig, started: str) -> None:
    """run.json at the start: the data's fingerprint, which a resume compares (the end rewrites it whole)."""
    record = {"dnabench": __version__, "data": str(config.data), "data_fingerprint": data_fingerprint(config.data), "started": started, "finished": None}
    (out / "run.json").write_text(json.dumps(record, indent=1, default=str))


def _recorded_fingerprint(out: Path) -> dict[str, Any] | None:
    path = out / "run.json"
    try:
        return json.loads(path.read_text()).get("data_fingerprint") if path.is_file() else None
    except (OSError, ValueError):
        return None


def _record_fingerprint(out: Path, data: str) -> None:
    path = out / "run.json"
    try:
        record = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        record = {}
    record["data_fingerprint"] = data_fingerprint(data)
    path.write_text(json.dumps(record, indent=1, default=str))


def _check_same_data(out: Path, data: str) -> None:
    recorded = _recorded_fingerprint(out)
    why = data_change(recorded, data)
    if why:
        raise ValueError(f"{out}: the data changed since this run started: {why}. Resuming would mix two data sets; "
                         "start a new run, or pass --allow-changed-data to resume on the new data on purpose")


def resume_run(run: str | os.PathLike, overrides: dict[str, Any] | None = None, allow_changed_data: bool = False) -> Path:
    """Continue a run folder from its newest checkpoint with its saved config."""
    run = Path(run)
    if not (run / "config.yaml").is_file():
        raise FileNotFoundError(f"{run}: not a run folder (no config.yaml) to resume")
    config = load_config(run / "config.yaml", overrides or {})
    config.out = str(run)
    return train(config, resume=run, allow_changed_data=allow_changed_data)
