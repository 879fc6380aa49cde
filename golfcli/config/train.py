"""TrainConfig: batch, schedule, optimizers, averaging and QAT of `golf train`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TrainConfig:
    """Settings of the training loop."""

    seed: int = 1337
    seq_len: int = 1024
    batch_tokens: int = 524288
