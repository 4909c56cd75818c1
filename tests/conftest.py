"""Shared pytest fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def _shared_data_dir() -> Path:
    env = os.environ.get("DNABENCH_TEST_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data directory (env DNABENCH_TEST_DATA overrides); skips the test when absent."""
    path = _shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"shared test data not found at {path} (set DNABENCH_TEST_DATA to its location)")
    return path


@pytest.fixture(scope="module")
def genome(tmp_path_factory):
    """A small indexed genome cache (chr1 20 kb, chr2 12 kb) for store and loader tests."""
    from dnabench.io.genome import index_genome
    from dnabench.synthetic import make_genome

    tmp = tmp_path_factory.mktemp("store_genome")
    make_genome({"chr1": 20_000, "chr2": 12_000}, sites_per_motif=3, seed=3).write_fasta(tmp / "g.fa")
    return index_genome(tmp / "g.fa", tmp / "cache", progress=False)
