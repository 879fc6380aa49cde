"""Bits per byte, exactly as the challenge counts it.

Bytes of a scored target y with previous token x (the in-window predecessor):
    bytes = base_bytes[y] + (has_leading_space[y] and not is_boundary[x])
where base_bytes is the UTF-8 length of the piece without its leading '▁' (1 for a byte-fallback
piece `<0xNN>`, 0 for control/unknown/unused pieces and ids beyond the tokenizer), and the
boundary tokens are the control, unknown and unused pieces. Then
    val_loss = Σ nll / N   (nats per token)      bpb = val_loss / ln 2 · N / Σ bytes
with every sum in float64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from golfcli.distributed import DistInfo

LEADING_SPACE = "\u2581"


@dataclass(frozen=True)
class ByteTables:
    """Per-token lookup tables of the byte rule (length = max(tokenizer vocab, model vocab))."""

    base_bytes: torch.Tensor  # int16
    has_leading_space: torch.Tensor  # bool
    is_boundary: torch.Tensor  # bool

    @property
    def size(self) -> int:
        return int(self.base_bytes.numel())

    def to(self, device: torch.device | str) -> "ByteTables":
        """The same tables on another device."""
        return ByteTables(self.base_bytes.to(device), self.has_leading_space.to(device), self.is_boundary.to(device))

    def count(self, prev: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Bytes of each (previous, target) token pair, int64, same shape as `target`."""
        lead = self.has_leading_space[target] & ~self.is_boundary[prev]
        return self.base_bytes[target].to(torch.int64) + lead.to(torch.int64)


def build_byte_tables(sp, vocab_size: int | None = None) -> ByteTables:
    """The byte-rule tables of a SentencePiece processor, padded to `vocab_size` with boundary ids."""
    n_sp = sp.vocab_size()
    size = max(n_sp, vocab_size or 0)
    base = np.zeros(size, dtype=np.int16)
    lead = np.zeros(size, dtype=np.bool_)
    boundary = np.ones(size, dtype=np.bool_)
    for t in range(n_sp):
        if sp.is_control(t) or sp.is_unknown(t) or sp.is_unused(t):
            continue
        boundary[t] = False
        if sp.is_byte(t):
            base[t] = 1
            continue
        piece = sp.id_to_piece(t)
        if piece.startswith(LEADING_SPACE):
            lead[t] = True
            piece = piece[1:]
        base[t] = len(piece.encode("utf-8"))
    return ByteTables(torch.from_numpy(base), torch.from_numpy(lead), torch.from_numpy(boundary))


def count_stream_bytes(tables: ByteTables, tokens: torch.Tensor | np.ndarray) -> int:
    """Byte total over every target of a token stream (all tokens after the first)."""
    t = torch.as_tensor(np.asarray(tokens, dtype=np.int64)) if isinstance(tokens, np.ndarray) else tokens.long()
    if t.numel() < 2:
        return 0
    return int(tables.count(t[:-1], t[1:]).sum().item())


def bits_per_byte(nll_sum: float, n_tokens: int, n_bytes: int) -> float:
    """bpb from a summed NLL in nats over `n_tokens` targets covering `n_bytes` bytes."""
    if n_tokens <= 0 or n_bytes <= 0:
        return float("nan")
    return (nll_sum / n_tokens) / math.log(2) * (n_tokens / n_bytes)


class BpbMeter:
    """Float64 running sums of NLL, targets and bytes; all-reducible across ranks."""

    def __init__(self) -> None:
        self.sums = torch.zeros(3, dtype=torch.float64)  # nll, tokens, bytes

    def add(self, nll: torch.Tensor, prev: torch.Tensor, target: torch.Tensor, tables: ByteTables) -> None:
        """Add per-target NLLs (nats) with their previous tokens and targets (any matching shapes)."""
        byte_count = tables.count(prev, target).sum()
        update = torch.stack([nll.double().sum(), torch.tensor(float(nll.numel()), dtype=torch.float64,
                                                                device=nll.device), byte_count.double()])
        self.sums += update.to(self.sums.device)

    def add_sums(self, nll_sum: float, n_tokens: int, n_bytes: int) -> None:
        """Add already-summed values."""
        self.sums += torch.tensor([nll_sum, n_tokens, n_bytes], dtype=torch.float64)

    def all_reduce(self, info: DistInfo) -> None:
        """Sum across the ranks `info` describes (no-op for one process)."""
        from golfcli.distributed import sum_tensor

        self.sums = sum_tensor(self.sums, info).cpu()

    @property
    def tokens(self) -> int:
        return int(self.sums[1].item())

    @property
    def bytes(self) -> int:
        return int(self.sums[2].item())

    @property
    def val_loss(self) -> float:
        return float(self.sums[0] / self.sums[1]) if self.tokens else float("nan")

    @property
    def bpb(self) -> float:
        return bits_per_byte(float(self.sums[0]), self.tokens, self.bytes)
