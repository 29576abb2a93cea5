"""Shared fixtures for the core tests: the shared MNIST folder and the small digits dataset.

The names are specific enough not to shadow fixtures that test modules define themselves.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA_DIR = Path(
    os.environ.get("AEVAE_TEST_DATA_DIR") or REPO_ROOT.parent / "shared" / "data"
).resolve()
MNIST_TEST_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte")


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """../shared/data holding the MNIST test split; the test is skipped when it is absent."""
    raw = SHARED_DATA_DIR / "MNIST" / "raw"
    if not any((raw / name).exists() for name in MNIST_TEST_FILES):
        pytest.skip(f"MNIST test split not found under {raw}")
    return SHARED_DATA_DIR


@pytest.fixture(scope="session")
def digits_data():
    """scikit-learn's 8x8 digits, split with seed 0 (shared: tests must not modify it)."""
    from aevae_core.data.datasets import load_dataset

    return load_dataset("digits", seed=0)


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    """A fresh runs directory (not created: the store creates it)."""
    return tmp_path / "runs"


@pytest.fixture
def managers(runs_dir: Path):
    """Make JobManagers on ``runs_dir``; they are shut down, and no worker outlives them."""
    from jobs_helpers import manager_factory

    yield from manager_factory(runs_dir)
