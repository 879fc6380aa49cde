"""EvalConfig: windows, strides and the Hedge / TTT options of `golf eval`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class EvalConfig:
    """Evaluation settings."""

    seq_len: int = 2048
    window: int = 2048
    stride: int = 64
    batch_seqs: int = 32
