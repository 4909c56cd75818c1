"""Training text from a genome: N-free chunks, all of a small genome or a random sample of a big one."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from dnabench.alphabet import N
from dnabench.io.genome import Genome


def genome_chunks(
    genome: Genome, total_bases: int | None = None, chunk: int = 10_000, seed: int = 0, min_length: int = 50
) -> Iterator[np.ndarray]:
    """Yield code arrays of at most `chunk` bp, split at N, shorter than `min_length` dropped.

    When the genome holds fewer than `total_bases` (or total_bases is None), every chunk of the
    genome is read in order; otherwise `total_bases // chunk` chunks at random positions.
    """
    size = int(genome.lengths.sum())
    if total_bases is None or total_bases >= size:
        starts = [(ci, s) for ci, length in enumerate(genome.lengths) for s in range(0, int(length), chunk)]
        ci = np.array([c for c, _ in starts], dtype=np.int64)
        pos = np.array([s for _, s in starts], dtype=np.int64)
    else:
        rng = np.random.default_rng(seed)
        count = max(total_bases // chunk, 1)
        weights = genome.lengths / genome.lengths.sum()
        ci = rng.choice(len(genome), size=count, p=weights)
        pos = (rng.random(count) * np.maximum(genome.lengths[ci] - chunk, 1)).astype(np.int64)
    for b in range(0, ci.size, 256):
        rows = genome.fetch_batch(ci[b : b + 256], pos[b : b + 256], length=chunk)
        for row in rows:
            cuts = np.flatnonzero(row == N)
            for piece in np.split(row, cuts) if cuts.size else (row,):
                piece = piece[piece != N] if piece.size and piece[0] == N else piece
                if piece.size >= min_length:
                    yield piece
