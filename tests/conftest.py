"""Shared fixtures: the real challenge sample in ../shared/data (skipped when absent)."""

from __future__ import annotations

import os
from pathlib import Path

# One thread per process: the suite starts subprocesses (torchrun, the CLI, examples) on a 2-core
# machine, and oversubscribed OpenMP threads made some steps 40x slower than a single thread.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SHARED_SHARDS = SHARED_DATA / "datasets" / "fineweb10B_sp1024"
SHARED_TOKENIZER = SHARED_DATA / "tokenizers" / "fineweb_1024_bpe.model"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (the challenge's sp1024 tokenizer and a FineWeb sample), or skip."""
    if not (SHARED_SHARDS / "fineweb_val_000000.bin").exists() or not SHARED_TOKENIZER.exists():
        pytest.skip(f"real challenge sample not found at {SHARED_DATA} (only present beside a golf checkout)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def shared_tokenizer(shared_data: Path) -> Path:
    """The challenge's sp1024 SentencePiece model."""
    return SHARED_TOKENIZER


@pytest.fixture(scope="session")
def shared_shards(shared_data: Path) -> Path:
    """The directory of challenge-format shards (1 val, 3 train)."""
    return SHARED_SHARDS
