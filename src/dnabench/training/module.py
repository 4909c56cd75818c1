"""The LightningModule: tokenize on the device, forward, loss, and metrics over whole splits.

Codes (1 byte a base) are what crosses to the GPU; the model's own tokenizer turns them into
ids there. A model that reads backbone features (`takes_features`) gets the batch's float
features as they are. Randomness of a training step (dropout) is seeded from (seed, global step), so a
resumed run draws what an uninterrupted run would have drawn.

Before each validation of a fit, BatchNorm statistics are recomputed from a fixed sample of
training batches with dropout off (`recalibrate_batch_norm`): the running statistics gathered
in training describe dropped-out inputs and left the CNNs badly calibrated in evaluation.
"""

from __future__ import annotations

import contextlib
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.trainer.states import TrainerFn
from torch import nn

from dnabench.data.loader import dense_labels
from dnabench.data.task import LabelSet, LossKind, TaskSpec
from dnabench.evaluation.scoring import SplitScorer, is_streamed, score
from dnabench.models.base import DNAModel
from dnabench.models.losses import LossConfig, build_loss
from dnabench.training.engine import adamw_with_schedule, clip_gradients, global_mean, seed_step
from dnabench.training.finite import FiniteLossWatch


class DNATaskModule(L.LightningModule):
    def __init__(
        self,
        model: DNAModel,
        spec: TaskSpec,
        labels: LabelSet,
        lr: float = 1e-4,
        weight_decay: float = 0.01,
        warmup_fraction: float = 0.05,
        seed: int = 0,
        loss: LossKind | str | None = None,
        grad_clip: float | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.spec = spec
        self.labels = labels
        self.lr = lr
        self.weight_decay = weight_decay
        self.warmup_fraction = warmup_fraction
        self.seed = seed
        self.grad_clip = grad_clip
        kind = LossKind.parse(loss, "loss") if loss is not None else spec.loss
        self.loss_fn = build_loss(LossConfig(kind=kind.value, masked=spec.masked))  # type: ignore[arg-type]
        self._outputs: dict[str, list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]] = {}
        #: large multilabel tasks are scored from histograms filled batch by batch (bounded memory)
        self.streamed = is_streamed(spec, labels)
        self._scorers: dict[str, SplitScorer] = {}
        #: per split, the loss summed over its real rows and their count (reduced over ranks at the end)
        self._loss_sums: dict[str, list[Any]] = {}
        self.val_threshold: float | None = None
        self.last_metrics: dict[str, dict[str, float]] = {}
        #: the training loader's sampler, so that a resume can skip the batches already done
        self.train_sampler = None
        #: where `recalibrate_batch_norm` reads its training rows, and those rows, batch by batch
        self.batch_norm_source: Any = None
        self.batch_norm_batches: list[np.ndarray] = []
        #: the first non-finite training loss, read without a host sync each step
        self.finite = FiniteLossWatch()

    # ----- forward -----------------------------------------------------------------------------

    def logits(self, codes: torch.Tensor) -> torch.Tensor:
        if getattr(self.model, "takes_features", False):  # a features folder's batch: float features, no tokenizer
            return self.model(codes.float())
        tokenizer = self.model.tokenizer
        if tokenizer is not None and tokenizer.name == "bpe":  # BPE runs on the CPU (Rust)
            batch = self.model.encode(codes.cpu())
            ids, mask = batch.ids.to(self.device), batch.attention_mask.to(self.device)
        else:
            batch = self.model.encode(codes)
            ids, mask = batch.ids, batch.attention_mask
        return self.model(ids, mask if self.model.needs_attention_mask else None)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """0/1 labels travel as uint8 or as CSR pieces (a fraction of the bytes); losses and metrics want float."""
        if isinstance(batch, dict) and ("label_columns" in batch or "labels" in batch and not batch["labels"].is_floating_point()):
            batch = {**batch, "labels": dense_labels(batch, len(self.labels))}
        return batch

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        seed_step((self.seed * 1_000_003 + self.global_step) % (2**63), self.device)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        logits, labels = self.logits(batch["codes"]).float(), batch["labels"]
        if "real" in batch:  # a last batch filled up to the compiled shape: the repeated rows get no gradient
            real = int(batch["real"])
            logits, labels = logits[:real], labels[:real]
        loss = self.loss_fn(logits, labels)
        step_loss = loss
        if self.spec.masked and self.trainer.world_size > 1:
            # missing labels (NaN) leave the ranks different target counts: weigh each target alike
            count = (~torch.isnan(labels)).sum()
            step_loss = global_mean(loss * count.clamp(min=1), count, self.trainer.world_size, self._sum_over_ranks)
        self.finite.update(step_loss, self.global_step)
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=labels.shape[0])
        return step_loss

    def _sum_over_ranks(self, value: torch.Tensor) -> torch.Tensor:
        return self.trainer.strategy.reduce(value, reduce_op="sum")

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.global_step % max(int(self.trainer.log_every_n_steps), 1) == 0:  # the logger copies the loss now anyway
            self.finite.check(across_ranks=True, device=self.device)

    def on_train_end(self) -> None:
        self.finite.check(across_ranks=True, device=self.device)

    # ----- evaluation over whole splits ------------------------------------------------------

    def _collect(self, split: str, batch: dict[str, torch.Tensor]) -> None:
        logits = self.logits(batch["codes"]).float()
        # rows after `real` repeat earlier ones (DDP padding, or a last batch filled up to the compiled shape)
        real = int(batch["real"]) if "real" in batch else logits.shape[0]
        if real:
            sums = self._loss_sums.setdefault(split, [torch.zeros((), dtype=torch.float64, device=logits.device), 0])
            sums[0] = sums[0] + self.loss_fn(logits[:real], batch["labels"][:real]).detach().double() * real
            sums[1] += real
        probs = self.model.head.activate(logits)
        if self.streamed:
            scorer = self._scorers.setdefault(split, SplitScorer(self.spec, self.labels, streamed=True))
            scorer.update(batch["labels"][:real].cpu().numpy(), probs[:real].detach().cpu().numpy())
            return
        self._outputs.setdefault(split, []).append((batch["index"], probs.detach(), batch["labels"]))

    def on_validation_start(self) -> None:
        if self.trainer.state.fn == TrainerFn.FITTING and not self.trainer.sanity_checking:
            self.finite.check(across_ranks=True, device=self.device)
            self.recalibrate_batch_norm()

    def recalibrate_batch_norm(self) -> int:
        """Set each BatchNorm's running mean and variance to the exact statistics of its inputs over
        `batch_norm_batches`, computed as evaluation sees them: dropout off, every earlier BatchNorm
        normalising by its batch. Returns the layers set (0: the model has none, e.g. a Transformer).

        Why: the CNN stacks put dropout before the next conv + BatchNorm. The running variance
        learnt in training is that of dropped-out inputs (1.6-1.9x the variance without dropout
        for cnn_fc's 2nd and 3rd layers on GUE prom_300_all), so in evaluation the features
        shifted and every probability with them: negatives at 0.9, validation loss 1.3 at AUROC 0.95.
        The same rows are used on every rank and no random numbers are drawn, so DDP ranks agree
        and a resumed run matches an uninterrupted one.
        """
        norms = [m for m in self.model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
        if not norms or not self.batch_norm_batches or self.batch_norm_source is None:
            return 0
        sums: dict[nn.Module, list[Any]] = {m: [0.0, 0.0, 0] for m in norms}

        def collect(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            x = inputs[0].detach().double()
            dims = [0, *range(2, x.ndim)]
            entry = sums[module]
            entry[0] = entry[0] + x.sum(dims)
            entry[1] = entry[1] + x.square().sum(dims)
            entry[2] += x.numel() // x.shape[1]

        modes = {m: m.training for m in self.model.modules()}
        saved = [(m.momentum, None if m.num_batches_tracked is None else m.num_batches_tracked.clone()) for m in norms]
        handles = [m.register_forward_hook(collect) for m in norms]
        try:
            self.model.eval()
            for m in norms:
                m.train()
                m.momentum = 0.0  # normalise by the batch, leave the running statistics alone
            forward = self.trainer.precision_plugin.forward_context() if self._trainer is not None else contextlib.nullcontext()
            with torch.no_grad(), forward:
                for rows in self.batch_norm_batches:
                    codes = np.ascontiguousarray(self.batch_norm_source.codes(rows))
                    self.logits(torch.from_numpy(codes).to(self.device))
        finally:
            for h in handles:
                h.remove()
            for m, (momentum, tracked) in zip(norms, saved):
                m.momentum = momentum
                if tracked is not None:
                    m.num_batches_tracked.copy_(tracked)
            for m, mode in modes.items():
                m.train(mode)
        for m in norms:
            total, squares, n = sums[m]
            if not n:
                continue
            mean = total / n
            var = (squares / n - mean.square()).clamp_min(0.0) * (n / max(n - 1, 1))
            m.running_mean.copy_(mean.to(m.running_mean.dtype))
            m.running_var.copy_(var.to(m.running_var.dtype))
        return len(norms)

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._collect("val", batch)

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._collect("test", batch)

    def gathered(self, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Indices, predictions and targets of a split from every rank, each sample once."""
        parts = self._outputs.pop(split, [])
        if not parts:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32), np.zeros((0, 0), np.float32)
        index = torch.cat([p[0] for p in parts])
        preds = torch.cat([p[1] for p in parts])
        targets = torch.cat([p[2] for p in parts])
        if self.trainer.world_size > 1:
            index, preds, targets = (self.all_gather(t).flatten(0, 1) for t in (index, preds, targets))
        index_np = index.cpu().numpy()
        _, first = np.unique(index_np, return_index=True)  # DDP pads by repeating samples
        order = first[np.argsort(index_np[first])]
        return index_np[order], preds.cpu().numpy()[order], targets.cpu().numpy()[order]

    def _streamed_metrics(self, split: str) -> dict[str, float]:
        """Histograms of every rank summed (one all-reduce of fixed size), then scored."""
        scorer = self._scorers.pop(split, None) or SplitScorer(self.spec, self.labels, streamed=True)
        hist = scorer.histograms
        assert hist is not None
        if self.trainer.world_size > 1 and torch.distributed.is_available() and torch.distributed.is_initialized():
            # int64 on every rank alike (a dtype chosen per rank could differ and hang the collective)
            counts = torch.from_numpy(hist.counts.astype(np.int64)).to(self.device)
            torch.distributed.all_reduce(counts)
            hist.replace_counts(counts.cpu().numpy())
        return scorer.compute()

    def _log_loss(self, split: str) -> None:
        """SPLIT/loss: the mean over the split's rows on every rank, each row once.

        Summed here rather than by `self.log(..., sync_dist=True)`: Lightning's weighted mean over
        ranks averages the ranks' row counts as integers, which truncates whenever the ranks hold
        different numbers of rows (a rank of only DDP padding made the loss inf)."""
        total, count = self._loss_sums.pop(split, [None, 0])
        both = torch.tensor([0.0, float(count)], dtype=torch.float64, device=self.device)
        if total is not None:
            both[0] = total
        if self.trainer.world_size > 1:
            both = self.trainer.strategy.reduce(both, reduce_op="sum")
        if float(both[1]) > 0:
            self.log(f"{split}/loss", float(both[0] / both[1]), sync_dist=False)

    def _finish(self, split: str) -> None:
        self._log_loss(split)
        if self.streamed:
            metrics = self._streamed_metrics(split)
        else:
            index, preds, targets = self.gathered(split)
            if not index.size:
                return
            metrics = score(self.spec, self.labels, targets, preds, threshold=None if split == "val" else self.val_threshold)
            if split == "val" and "threshold" in metrics:
                self.val_threshold = metrics["threshold"]
            if split == "test":
                self.test_predictions = (index, preds, targets)
        self.last_metrics[split] = metrics
        self.log_dict({f"{split}/{k}": float(v) for k, v in metrics.items()}, sync_dist=False, prog_bar=split == "val")

    def on_validation_epoch_end(self) -> None:
        self._finish("val")

    def on_test_epoch_end(self) -> None:
        self._finish("test")

    # ----- optimisation ------------------------------------------------------------------------

    def on_before_optimizer_step(self, optimizer: Any) -> None:
        clip_gradients(self.model, self.grad_clip)

    def configure_optimizers(self) -> Any:
        total = max(int(self.trainer.estimated_stepping_batches), 1)
        return adamw_with_schedule(self.model, self.device, self.lr, self.weight_decay, total, int(self.warmup_fraction * total))

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # never write weights that a non-finite loss has reached; an interrupted run's ranks stand apart
        self.finite.check(across_ranks=not self.trainer.interrupted, device=self.device)
        # the validation of these weights: a test of the best checkpoint, and metrics.json, report it
        checkpoint["dnabench"] = {"val_threshold": self.val_threshold, "val_metrics": self.last_metrics.get("val")}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        saved = checkpoint.get("dnabench", {})
        self.val_threshold = saved.get("val_threshold")
        if saved.get("val_metrics"):
            self.last_metrics["val"] = dict(saved["val_metrics"])
        if self.train_sampler is not None:
            # batches of the current epoch already trained on: the next epoch iterator starts after them
            steps_per_epoch = max(len(self.train_sampler), 1)
            self.train_sampler.skip = int(checkpoint.get("global_step", 0)) % steps_per_epoch

