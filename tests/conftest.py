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
