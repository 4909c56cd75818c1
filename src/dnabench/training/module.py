"""The LightningModule: tokenize on the device, forward, loss, and metrics over whole splits.

Codes (1 byte a base) are what crosses to the GPU; the model's own tokenizer turns them into
ids there. Randomness of a training step (dropout) is seeded from (seed, global step), so a
resumed run draws what an uninterrupted run would have drawn.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import numpy as np
import torch

from dnabench.data.loader import dense_labels
from dnabench.data.task import LabelSet, LossKind, TaskSpec
from dnabench.evaluation.scoring import SplitScorer, is_streamed, score
from dnabench.models.base import DNAModel
from dnabench.models.losses import LossConfig, build_loss
from dnabench.training.errors import NonFiniteLossError


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
        self.val_threshold: float | None = None
        self.last_metrics: dict[str, dict[str, float]] = {}
        #: the training loader's sampler, so that a resume can skip the batches already done
        self.train_sampler = None

    # ----- forward -----------------------------------------------------------------------------

    def logits(self, codes: torch.Tensor) -> torch.Tensor:
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
        torch.manual_seed((self.seed * 1_000_003 + self.global_step) % (2**63))

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self.loss_fn(self.logits(batch["codes"]).float(), batch["labels"])
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"loss is {loss.item()} at step {self.global_step} (epoch {self.current_epoch}); "
                "stopping. The last good checkpoint is kept. Try a lower --lr or check the labels for inf."
            )
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=batch["codes"].shape[0])
        return loss

    # ----- evaluation over whole splits ------------------------------------------------------

    def _collect(self, split: str, batch: dict[str, torch.Tensor]) -> None:
        logits = self.logits(batch["codes"]).float()
        loss = self.loss_fn(logits, batch["labels"])
        self.log(f"{split}/loss", loss, on_epoch=True, sync_dist=True, batch_size=batch["codes"].shape[0])
        probs = self.model.head.activate(logits)
        if self.streamed:
            real = int(batch["real"]) if "real" in batch else probs.shape[0]  # DDP padding repeats samples
            scorer = self._scorers.setdefault(split, SplitScorer(self.spec, self.labels, streamed=True))
            scorer.update(batch["labels"][:real].cpu().numpy(), probs[:real].detach().cpu().numpy())
            return
        self._outputs.setdefault(split, []).append((batch["index"], probs.detach(), batch["labels"]))

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

    def _finish(self, split: str) -> None:
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
        """Clip the gradient norm here (gradients are unscaled by now) rather than through the
        Trainer: Lightning refuses `gradient_clip_val` with a fused AdamW under mixed precision."""
        if self.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)

    def configure_optimizers(self) -> Any:
        decay, no_decay = [], []
        for name, param in self.model.named_parameters():
            if not param.requires_grad:
                continue
            (no_decay if param.ndim < 2 or "norm" in name.lower() else decay).append(param)
        groups = [{"params": decay, "weight_decay": self.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        fused = torch.cuda.is_available() and self.device.type == "cuda"
        optimizer = torch.optim.AdamW(groups, lr=self.lr, betas=(0.9, 0.98), eps=1e-6, fused=fused or None)
        total = max(int(self.trainer.estimated_stepping_batches), 1)
        warmup = max(int(self.warmup_fraction * total), 0)

        def schedule(step: int) -> float:  # linear warmup, then linear decay to zero
            if warmup and step < warmup:
                return (step + 1) / warmup
            return max(0.0, (total - step) / max(total - warmup, 1))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["dnabench"] = {"val_threshold": self.val_threshold}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.val_threshold = checkpoint.get("dnabench", {}).get("val_threshold")
        if self.train_sampler is not None:
            # batches of the current epoch already trained on: the next epoch iterator starts after them
            steps_per_epoch = max(len(self.train_sampler), 1)
            self.train_sampler.skip = int(checkpoint.get("global_step", 0)) % steps_per_epoch

