"""`pretrain`: masked-language-model pretraining of a Transformer on a genome or unlabeled sequences (paper 5.3).

Chunks (``dnabench.data.chunks``: non-overlapping, both strands, N filter, held-out windows)
are masked on the device by the tokenizer's own unit (``dnabench.training.masking``) and the
MLM head (``dnabench.models.mlm``) predicts them. The run is a Lightning fit like supervised
training: bf16 on a GPU, DDP, checkpoints, and an exact resume after kill -9 (the sampler skips
the batches a checkpoint already did; masks and dropout are seeded by the global step).

Beside the MLM loss and masked-token accuracy every split reports the unigram entropy of its
targets: the cross-entropy (nats) of a model that knows only how often each target occurs. A
loss at that line has learnt nothing from the context.

Run folder:
    config.yaml        the resolved PretrainConfig
    run.json           versions, git commit, data sources (sha256), chunk counts, devices, times
    metrics.json       final train / val MLM loss, accuracy, unigram entropy, target fraction
    logs/metrics.csv   per-step and per-epoch log (a resumed run keeps each earlier part as
                       metrics.partN.csv); tensorboard/ alongside
    checkpoints/       last.ckpt (every epoch or --checkpoint-every-steps), interrupted.ckpt
    encoder/           the Transformer saved with save_pretrained (config.json, model.safetensors,
                       tokenizer/): what `dnabench train --init RUN` starts from
    genome/            the genome cache, when --genome was a FASTA file
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
import yaml
from lightning.pytorch.callbacks import Callback, LearningRateMonitor, ModelCheckpoint

from dnabench import __version__
from dnabench.data.chunks import ChunkPart, ChunkSource, chunk_genome, chunk_sequences, read_sequences
from dnabench.data.loader import batch_loader
from dnabench.models.mlm import TransformerMLM
from dnabench.training.pretrain_config import PretrainConfig, load_pretrain_config
from dnabench.training.finite import FiniteLossWatch
from dnabench.training.masking import IGNORE, MaskedBatch, Masker, MaskingConfig
from dnabench.training.engine import (
    adamw_with_schedule, bar_refresh_steps, check_checkpoint, clip_gradients, global_mean, is_first_process, log_interval, make_trainer,
    run_loggers, seed_step,
)
from dnabench.training.provenance import git_commit
from dnabench.training.run import CHECKPOINTS, InterruptCheckpoint, latest_checkpoint

__all__ = ["MLMModule", "MLMStats", "PretrainConfig", "build_mlm", "load_chunks", "load_pretrain_config", "pretrain", "resume_pretrain"]

ENCODER = "encoder"
GENOME = "genome"


# ----------------------------------------------------------------------------- data and model


def _open_genome(config: PretrainConfig, out: Path):
    """The genome cache of --genome; a FASTA / 2bit file is indexed once into RUN/genome/."""
    from dnabench.io.genome import index_genome, open_genome

    source = Path(str(config.genome))
    if source.is_dir():
        return open_genome(source)
    cache = out / GENOME
    if not (cache / "genome.json").is_file():
        if is_first_process():
            return index_genome(source, cache, progress=config.progress)
        deadline = time.time() + 6 * 3600
        while not (cache / "genome.json").is_file() and time.time() < deadline:
            time.sleep(2)
    return open_genome(cache)


def load_chunks(config: PretrainConfig, out: Path) -> tuple[ChunkSource, list[dict]]:
    """The chunk source of a run and a description of each input (path, format, checksum).

    The chunk length is ``config.length``, shortened to the longest sequence when the inputs
    are only tables or FASTA files of shorter sequences.
    """
    from dnabench.io.files import sha256_file

    if not config.genome and not config.data:
        raise ValueError("give --genome CACHE_OR_FASTA and/or --data TABLE_OR_FASTA")
    inputs: list[tuple[str, np.ndarray, np.ndarray]] = []
    described: list[dict] = []
    genome = _open_genome(config, out) if config.genome else None
    for path in config.data:
        codes, lengths, info = read_sequences(path, config.table_splits or None, config.seed)
        inputs.append((path, codes, lengths))
        described.append({**info, "sha256": sha256_file(path)})
    length = config.length
    if genome is None:
        longest = max((int(lengths.max()) for _, _, lengths in inputs if lengths.size), default=0)
        if longest == 0:
            raise ValueError(f"no sequences in {', '.join(config.data)}")
        length = min(length, longest)
    parts: list[ChunkPart] = []
    if genome is not None:
        parts.append(chunk_genome(genome, length, config.max_n_fraction, config.min_length))
        described.insert(0, {"path": str(genome.path), "format": "genome cache", "source": genome.meta.get("source")})
    for path, codes, lengths in inputs:
        parts.append(chunk_sequences(path, codes, lengths, length, config.max_n_fraction, config.min_length))
    source = ChunkSource(parts, length)
    for info, counts in zip(described, source.counts):
        info["chunks"] = counts.as_dict()
    if source.num_windows < 2:
        raise ValueError(
            f"{source.num_windows} chunk(s) of {length} bp left after filtering "
            f"({'; '.join(f'{c.source}: {c.skipped_n} over {config.max_n_fraction} N, {c.skipped_short} too short' for c in source.counts)}); "
            "lower --length or raise --max-n-fraction"
        )
    return source, described


def build_mlm(config: PretrainConfig) -> TransformerMLM:
    """The Transformer of `config` with an MLM head; a trained BPE tokenizer sets its front end."""
    from dnabench.models import TransformerModel, build_model

    tokenizer = None
    defaults: dict[str, Any] = {}
    if config.tokenizer_path:
        from dnabench.tokenize import load_tokenizer

        tokenizer = load_tokenizer(config.tokenizer_path)
        defaults.update(TransformerModel.options_from_tokenizer(tokenizer))
    model_config = config.resolve_model_config(**defaults) if defaults else config.model_config
    backbone = build_model("transformer", model_config, tokenizer=tokenizer)
    return TransformerMLM(backbone, tie=config.tie_output)


# ----------------------------------------------------------------------------- the LightningModule


def _seed(*parts: int) -> int:
    """A 63-bit seed from integers (masks of step s on rank r never equal those of another step)."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1, np.uint64)[0] >> np.uint64(1))


class MLMStats:
    """Sums over a split: target cross-entropy, targets, correct predictions, units, and counts per class."""

    def __init__(self, num_classes: int, device: torch.device | str = "cpu") -> None:
        self.num_classes = num_classes
        self.loss = torch.zeros((), dtype=torch.float64, device=device)
        self.scalars = torch.zeros(3, dtype=torch.int64, device=device)  # targets, correct, units
        self.classes = torch.zeros(num_classes, dtype=torch.int64, device=device)

    def update(self, loss_sum: torch.Tensor, targets: torch.Tensor, correct: torch.Tensor, units: int | torch.Tensor) -> None:
        active = targets != IGNORE
        if self.loss.device != targets.device:
            self.to(targets.device)
        self.loss += loss_sum.detach().to(torch.float64)
        self.scalars[0] += active.sum()
        self.scalars[1] += correct.detach()
        self.scalars[2] += units
        self.classes.scatter_add_(0, targets.clamp(min=0).flatten(), active.flatten().long())

    def to(self, device: torch.device | str) -> MLMStats:
        self.loss, self.scalars, self.classes = self.loss.to(device), self.scalars.to(device), self.classes.to(device)
        return self

    def all_reduce(self) -> None:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            for t in (self.loss, self.scalars, self.classes):
                torch.distributed.all_reduce(t)

    def compute(self) -> dict[str, float]:
        targets, correct, units = (int(v) for v in self.scalars.cpu())
        counts = self.classes.double().cpu()
        total = counts.sum()
        p = counts[counts > 0] / total if total > 0 else counts[:0]
        return {
            "mlm_loss": float(self.loss.cpu()) / targets if targets else float("nan"),
            "accuracy": correct / targets if targets else float("nan"),
            "unigram_entropy": float(-(p * p.log()).sum()) if total > 0 else float("nan"),
            "target_fraction": targets / units if units else float("nan"),
            "targets": targets,
        }

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"loss": self.loss.cpu(), "scalars": self.scalars.cpu(), "classes": self.classes.cpu()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        device = self.loss.device
        self.loss, self.scalars, self.classes = (state[k].to(device) for k in ("loss", "scalars", "classes"))


class MLMModule(L.LightningModule):
    """Mask on the device, predict the targets, and keep split-wide sums for loss, accuracy and baseline."""

    def __init__(
        self,
        model: TransformerMLM,
        masking: MaskingConfig,
        lr: float = 1e-4,
        weight_decay: float = 0.01,
        warmup_steps: int = 5000,
        max_warmup_fraction: float = 0.1,
        seed: int = 0,
        grad_clip: float | None = 1.0,
        verbose: bool = True,
    ) -> None:
        super().__init__()
        self.model = model
        self.masker = Masker(model.tokenizer, masking)
        self.lr = lr
        self.weight_decay = weight_decay
        self.warmup_steps = warmup_steps
        self.max_warmup_fraction = max_warmup_fraction
        self.seed = seed
        self.grad_clip = grad_clip
        self.verbose = verbose
        self.stats = {split: MLMStats(model.num_classes) for split in ("train", "val")}
        self.last_metrics: dict[str, dict[str, float]] = {}
        self.val_step: int | None = None
        #: the training loader's sampler, so that a resume can skip the batches already done
        self.train_sampler = None
        #: the first non-finite MLM loss, read without a host sync each step
        self.finite = FiniteLossWatch("MLM loss", "Try a lower --lr.")

    def _generator(self, *parts: int) -> torch.Generator:
        return torch.Generator(device=self.device).manual_seed(_seed(self.seed, *parts))

    def masked(self, codes: torch.Tensor, generator: torch.Generator) -> MaskedBatch:
        return self.masker(codes, generator)

    def _forward(self, masked: MaskedBatch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(loss sum over targets, targets, correct count)."""
        logits = self.model(masked.ids, masked.attention_mask, masked.positions).float()
        targets = masked.targets
        loss_sum = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE, reduction="sum")
        correct = ((logits.argmax(dim=-1) == targets) & (targets != IGNORE)).sum()
        return loss_sum, targets, correct

    @staticmethod
    def _without_repeats(masked: MaskedBatch, real: int) -> MaskedBatch:
        """`masked` with no targets in rows `real` on: those repeat earlier rows (DDP padding, or a
        last batch filled up to a compiled model's shape) and must add nothing to a loss or a sum."""
        if real >= masked.targets.shape[0]:
            return masked
        targets = masked.targets.clone()
        targets[real:] = IGNORE
        return dataclasses.replace(masked, targets=targets)

    @staticmethod
    def _units(masked: MaskedBatch, rows: int | None = None) -> int | torch.Tensor:
        """Input units (tokens after CLS, or bases) of the batch's first `rows` rows (None: all)."""
        rows = masked.ids.shape[0] if rows is None else rows
        if masked.attention_mask is not None:
            return masked.attention_mask[:rows, 1:].sum()
        return rows * (masked.ids.shape[1] - 1)

    def _sum_over_ranks(self, value: torch.Tensor) -> torch.Tensor:
        return self.trainer.strategy.reduce(value, reduce_op="sum")

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        seed_step((self.seed * 1_000_003 + self.global_step) % (2**63), self.device)  # dropout

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        masked = self.masked(batch["codes"], self._generator(1, self.global_step, self.global_rank))
        real = int(batch["real"]) if "real" in batch else masked.ids.shape[0]
        masked = self._without_repeats(masked, real)
        loss_sum, targets, correct = self._forward(masked)
        count = (targets != IGNORE).sum()
        # every target of the global batch weighs the same, whatever each rank's count (N fill, chunk ends)
        loss = global_mean(loss_sum, count, self.trainer.world_size, self._sum_over_ranks)
        self.finite.update(loss, self.global_step)
        self.stats["train"].update(loss_sum, targets, correct, self._units(masked, real))
        size = batch["codes"].shape[0]
        self.log("train/mlm_loss", loss_sum.detach() / count.clamp(min=1), prog_bar=True, on_step=True, on_epoch=False, batch_size=size)
        self.log("train/accuracy", correct / count.clamp(min=1), on_step=True, on_epoch=False, batch_size=size)
        return loss

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.global_step % max(int(self.trainer.log_every_n_steps), 1) == 0:  # the logger copies the loss now anyway
            self.finite.check(across_ranks=True, device=self.device)

    def on_train_end(self) -> None:
        self.finite.check(across_ranks=True, device=self.device)

    def on_train_epoch_end(self) -> None:
        self.finite.check(across_ranks=True, device=self.device)
        stats = self.stats["train"]
        stats.all_reduce()
        metrics = stats.compute()
        self.stats["train"] = MLMStats(self.model.num_classes, self.device)
        if metrics["targets"]:
            self.last_metrics["train"] = metrics
            named = {f"train/epoch_{k}" if k in ("mlm_loss", "accuracy") else f"train/{k}": float(v) for k, v in metrics.items()}
            self.log_dict(named, sync_dist=True)  # equal on every rank (summed above): the mean changes nothing

    def on_validation_epoch_start(self) -> None:
        if not self.trainer.sanity_checking:
            self.finite.check(across_ranks=True, device=self.device)
        self.stats["val"] = MLMStats(self.model.num_classes, self.device)

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        codes = batch["codes"]
        real = int(batch["real"]) if "real" in batch else codes.shape[0]  # the rest repeat rows: left out
        if real == 0:
            return
        if not getattr(self.model.backbone, "is_compiled", False):
            codes = codes[:real]  # a compiled model keeps the batch's shape instead
        masked = self._without_repeats(self.masked(codes, self._generator(2, batch_idx, self.global_rank)), real)  # the same masks every pass
        loss_sum, targets, correct = self._forward(masked)
        self.stats["val"].update(loss_sum, targets, correct, self._units(masked, real))

    def on_validation_epoch_end(self) -> None:
        stats = self.stats["val"]
        stats.all_reduce()
        metrics = stats.compute()
        self.last_metrics["val"] = metrics
        self.val_step = int(self.global_step)
        self.log_dict({f"val/{k}": float(v) for k, v in metrics.items()}, sync_dist=True)
        if self.verbose and not self.trainer.sanity_checking:
            self.print(
                f"step {self.global_step} (epoch {self.current_epoch}): val MLM loss {metrics['mlm_loss']:.4f} nats "
                f"(unigram baseline {metrics['unigram_entropy']:.4f}), masked-token accuracy {metrics['accuracy']:.4f}"
            )

    # ----- optimisation ------------------------------------------------------------------------

    def on_before_optimizer_step(self, optimizer: Any) -> None:
        clip_gradients(self.model, self.grad_clip)

    def warmup(self, total: int) -> int:
        return int(min(self.warmup_steps, math.floor(self.max_warmup_fraction * total)))

    def configure_optimizers(self) -> Any:
        total = max(int(self.trainer.estimated_stepping_batches), 1)
        return adamw_with_schedule(self.model, self.device, self.lr, self.weight_decay, total, self.warmup(total))

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # never write weights that a non-finite loss has reached; an interrupted run's ranks stand apart
        self.finite.check(across_ranks=not self.trainer.interrupted, device=self.device)
        checkpoint["dnabench_mlm"] = {"train_stats": self.stats["train"].state_dict()}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get("dnabench_mlm", {}).get("train_stats")
        if state is not None:
            self.stats["train"].load_state_dict(state)
        if self.train_sampler is not None:
            steps_per_epoch = max(len(self.train_sampler), 1)
            self.train_sampler.skip = int(checkpoint.get("global_step", 0)) % steps_per_epoch


# ----------------------------------------------------------------------------- the run


def pretrain(config: PretrainConfig, resume: Path | None = None, callbacks: list[Callback] | None = None) -> Path:
    """Pretrain, save the encoder, write the run folder; returns it. `resume` continues a run folder."""
    if not config.out:
        raise ValueError("--out RUN is required")
    out = Path(config.out)
    if resume is None and is_first_process() and out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out}: run folder exists and is not empty; use --resume {out} or another --out")
    out.mkdir(parents=True, exist_ok=True)
    L.seed_everything(config.seed, workers=True, verbose=False)
    if config.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    source, inputs = load_chunks(config, out)
    model = build_mlm(config)
    module = MLMModule(
        model, config.masking, config.lr, config.weight_decay, config.warmup_steps, config.max_warmup_fraction,
        config.seed, config.grad_clip, verbose=True,
    )
    splits = source.split(config.val_fraction, config.seed)
    loaders = {
        split: batch_loader(
            source, splits[split], config.batch_size, shuffle=split == "train", seed=config.seed,
            num_workers=config.num_workers, fill_last=config.compile,  # one batch shape: no second compilation
        )
        for split in ("train", "val")
    }
    module.train_sampler = loaders["train"].sampler
    ckpt_dir = out / CHECKPOINTS
    every = {"every_n_train_steps": config.checkpoint_every_steps} if config.checkpoint_every_steps else {"every_n_epochs": 1}
    latest = ModelCheckpoint(dirpath=ckpt_dir, filename="last", save_top_k=1, enable_version_counter=False, **every)
    all_callbacks: list[Callback] = [latest, InterruptCheckpoint(ckpt_dir / "interrupted.ckpt"), LearningRateMonitor(logging_interval="step"), *(callbacks or [])]
    if config.progress:
        from lightning.pytorch.callbacks import RichProgressBar

        all_callbacks.append(RichProgressBar(refresh_rate=bar_refresh_steps(config.accelerator, len(loaders["train"])), leave=True))
    if resume is not None and is_first_process():
        _keep_earlier_log(out / "logs")
    trainer = make_trainer(
        config, out, all_callbacks, run_loggers(out, config.wandb_project),
        log_every_n_steps=log_interval(len(loaders["train"])), enable_progress_bar=config.progress, enable_model_summary=config.progress,
    )
    started = dt.datetime.now(dt.timezone.utc).isoformat()
    if trainer.is_global_zero:
        (out / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
        _announce(module, source, config)
    ckpt_path = None
    if resume is not None:
        ckpt_path = latest_checkpoint(out)
        if ckpt_path is None:
            raise FileNotFoundError(f"{out}: no checkpoint to resume from in {ckpt_dir}")
        check_checkpoint(ckpt_path)
    trainer.fit(module, loaders["train"], loaders["val"], ckpt_path=ckpt_path)
    if module.val_step != trainer.global_step:
        trainer.validate(module, loaders["val"], verbose=False)
    if trainer.is_global_zero:
        model.backbone.save_pretrained(out / ENCODER)
        _write_results(out, config, module, trainer, source, inputs, started)
    return out


def _keep_earlier_log(logs: Path) -> None:
    """Lightning's CSV logger deletes a metrics.csv it finds: keep the part before a resume as metrics.partN.csv."""
    current = logs / "metrics.csv"
    if current.is_file():
        n = 1
        while (logs / f"metrics.part{n}.csv").exists():
            n += 1
        current.rename(logs / f"metrics.part{n}.csv")


def _announce(module: MLMModule, source: ChunkSource, config: PretrainConfig) -> None:
    """One line before training: what is masked, how much, and on how many chunks."""
    if not module.verbose:
        return
    masker = module.masker
    kept = sum(c.kept for c in source.counts)
    skipped = sum(c.skipped_n for c in source.counts)
    short = sum(c.skipped_short for c in source.counts)
    span = f", spans of {masker.span} bases" if masker.kind == "kmer" else ""
    print(
        f"pretraining on {kept:,} chunks of {source.length} bp x 2 strands ({skipped:,} skipped for > {config.max_n_fraction} N, "
        f"{short:,} too short); masking {config.mask_rate:.0%} of {masker.unit}s{span}; "
        "val lines show the MLM loss beside the unigram entropy of the targets (a model that knows only their frequencies)"
    )


def _write_results(
    out: Path, config: PretrainConfig, module: MLMModule, trainer: L.Trainer, source: ChunkSource, inputs: list[dict], started: str
) -> None:
    masker = module.masker
    metrics = {
        "train": module.last_metrics.get("train", {}),
        "val": module.last_metrics.get("val", {}),
        "epochs": trainer.current_epoch,
        "steps": trainer.global_step,
        "loss_unit": "nats per target (cross-entropy)",
        "masking": {
            "unit": masker.unit,
            "rate": config.mask_rate,
            "replacement": {"mask": config.mask_fraction, "random": config.random_fraction,
                            "unchanged": round(1 - config.mask_fraction - config.random_fraction, 6)},
            **({"span": masker.span} if masker.kind == "kmer" else {}),
        },
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    run = {
        "dnabench": __version__,
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "git_commit": git_commit(),
        "inputs": inputs,
        "chunk_length": source.length,
        "chunks": {"windows": source.num_windows, "samples": len(source), "counts": [c.as_dict() for c in source.counts]},
        "tokenizer": module.model.tokenizer.config() if module.model.tokenizer is not None else None,
        "num_parameters": module.model.backbone.num_parameters(),
        "world_size": trainer.world_size,
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "started": started,
        "finished": dt.datetime.now(dt.timezone.utc).isoformat(),
        "command": sys.argv,
    }
    (out / "run.json").write_text(json.dumps(run, indent=1, default=str))


def resume_pretrain(run: str | os.PathLike, overrides: dict[str, Any] | None = None) -> Path:
    """Continue a pretraining run folder from its newest checkpoint with its saved config."""
    run = Path(run)
    if not (run / "config.yaml").is_file():
        raise FileNotFoundError(f"{run}: no config.yaml; not a pretraining run folder")
    config = load_pretrain_config(run / "config.yaml", overrides or {})
    config.out = str(run)
    return pretrain(config, resume=run)
