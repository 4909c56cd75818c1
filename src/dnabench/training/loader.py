"""Batch loading: whole batches gathered in one vectorised call, resumable mid-epoch, DDP-sharded.

A per-sample Dataset costs one Python call (and one genome read) per sample; here the sampler
yields a whole batch of indices and the source gathers it at once. The order of batch k of
epoch e depends only on (seed, epoch, rank), so a run resumed from a mid-epoch checkpoint can
skip the batches it already did and see exactly what an uninterrupted run would have seen.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler


class BatchSource(Protocol):
    """Anything that can gather a batch: codes uint8 [B, L] and labels float32 [B, K]."""

    def get_batch(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


def _dist_rank_world() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class EpochBatchSampler(Sampler):
    """Yields (batch_number, indices) for one epoch; shuffled by (seed, epoch); sharded over DDP ranks.

    Each rank gets the same number of batches (the permutation is cut to a multiple of the world
    size), so ranks never wait on each other. `skip` batches at the start of the next epoch
    are passed over: that is how a mid-epoch resume lands on the right batch.
    """

    def __init__(self, indices: np.ndarray, batch_size: int, shuffle: bool, seed: int = 0, drop_last: bool = False) -> None:
        if batch_size < 1:
            raise ValueError(f"batch size must be >= 1, got {batch_size}")
        self.indices = np.asarray(indices, dtype=np.int64)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.epoch = 0
        self.skip = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _rank_indices(self) -> np.ndarray:
        rank, world = _dist_rank_world()
        order = self.indices
        if self.shuffle:
            order = order[np.random.default_rng((self.seed, self.epoch)).permutation(order.size)]
        if world > 1:
            if self.shuffle or self.drop_last:
                order = order[: order.size - order.size % world]
            else:  # evaluation: pad by repeating so every rank has the same count; callers drop repeats by index
                pad = (-order.size) % world
                order = np.concatenate([order, order[:pad]])
            order = order[rank::world]
        return order

    def __len__(self) -> int:
        n = self._rank_indices().size
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        order = self._rank_indices()
        count = len(self)
        skip, self.skip = self.skip, 0
        for b in range(skip, count):
            yield b, order[b * self.batch_size : (b + 1) * self.batch_size]


class BatchDataset(Dataset):
    """Maps (batch_number, indices) to a dict batch; optional reverse-complement augmentation.

    Augmentation draws come from (seed, epoch, batch_number), not from a global RNG, so they are
    the same in every worker process and after a resume.
    """

    def __init__(self, source: BatchSource, sampler: EpochBatchSampler, reverse_complement: bool = False, seed: int = 0) -> None:
        self.source = source
        self.sampler = sampler
        self.reverse_complement = reverse_complement
        self.seed = seed

    def __len__(self) -> int:
        return len(self.sampler)

    def __getitem__(self, item: tuple[int, np.ndarray]) -> dict[str, torch.Tensor]:
        batch_number, indices = item
        codes, labels = self.source.get_batch(indices)
        if self.reverse_complement:
            from dnabench.alphabet import reverse_complement

            rng = np.random.default_rng((self.seed, self.sampler.epoch, batch_number, 7))
            flip = rng.random(len(indices)) < 0.5
            if flip.any():
                codes = codes.copy()
                codes[flip] = reverse_complement(codes[flip])
        return {
            "codes": torch.from_numpy(np.ascontiguousarray(codes)),
            "labels": torch.from_numpy(np.ascontiguousarray(labels, dtype=np.float32)),
            "index": torch.from_numpy(np.asarray(indices, dtype=np.int64)),
        }


class ResumableDataLoader(DataLoader):
    """A DataLoader that Lightning treats as resumable (it has state_dict / load_state_dict).

    The position inside an epoch is not counted here (Lightning prefetches, so a count of
    yielded batches runs ahead of the steps done): DNATaskModule.on_load_checkpoint sets the
    sampler's `skip` from the checkpoint's global step, which is exact.
    """

    def state_dict(self) -> dict:
        return {"epoch": self.sampler.epoch}

    def load_state_dict(self, state: dict) -> None:
        self.sampler.set_epoch(int(state.get("epoch", self.sampler.epoch)))


def batch_loader(
    source: BatchSource,
    indices: np.ndarray,
    batch_size: int,
    shuffle: bool,
    seed: int = 0,
    num_workers: int = 0,
    reverse_complement: bool = False,
    drop_last: bool = False,
) -> ResumableDataLoader:
    """A DataLoader whose every item is a whole batch (batch_size=None: no per-sample collate)."""
    sampler = EpochBatchSampler(indices, batch_size, shuffle, seed, drop_last)
    dataset = BatchDataset(source, sampler, reverse_complement, seed)
    return ResumableDataLoader(
        dataset,
        sampler=sampler,
        batch_size=None,
        num_workers=num_workers,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=num_workers > 0,
    )
