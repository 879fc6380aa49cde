"""Token-level front-end extras: BigramHash, SmearGate and the shared value embedding."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from golfcli.model.linear import CastedLinear


class BigramHash(nn.Module):
    """Embedding of a hash of (token, previous token), projected to model_dim (and scaled).

    "xor" (record-1204): bucket(t_i, t_{i−1}) = ((36313·t_i) XOR (27191·t_{i−1})) mod (buckets − 1);
    position 0 of a sequence (no previous token) uses the reserved last bucket; output × a learned
    scale (init 0.05). "prime" (PR #363): bucket = (t_{i−1}·1000003 + t_i) mod buckets with t_{−1} = t_0,
    no scale. Only input tokens are hashed, so the feature at position i depends on tokens ≤ i.
    """

    def __init__(self, buckets: int, dim: int, model_dim: int, hash_kind: str = "xor"):
        super().__init__()
        if buckets < 2:
            raise ValueError(f"bigram buckets must be ≥ 2, got {buckets}")
        self.buckets = buckets
        self.hash_kind = hash_kind
        self.embed = nn.Embedding(buckets, dim)
        self.proj = CastedLinear(dim, model_dim, zero_init=hash_kind == "prime")
        self.scale = nn.Parameter(torch.tensor(0.05)) if hash_kind == "xor" else None

    def bucket_ids(self, ids: torch.Tensor, prev_last: torch.Tensor | None = None) -> torch.Tensor:
        """Bucket per position of ids (B, T); `prev_last` (B,) is the token before ids[:, 0], if any."""
        ids = ids.long()
        if self.hash_kind == "prime":
            first = ids[:, :1] if prev_last is None else prev_last.long().view(-1, 1)
            return (torch.cat((first, ids[:, :-1]), dim=1) * 1000003 + ids) % self.buckets
        if prev_last is None:
            prev, cur = ids[:, :-1], ids[:, 1:]
        else:
            prev, cur = torch.cat((prev_last.long().view(-1, 1), ids[:, :-1]), dim=1), ids
        h = torch.bitwise_xor(36313 * cur, 27191 * prev) % (self.buckets - 1)
        if prev_last is None:
            h = torch.cat((torch.full_like(ids[:, :1], self.buckets - 1), h), dim=1)
        return h

    def forward(self, ids: torch.Tensor, prev_last: torch.Tensor | None = None) -> torch.Tensor:
        h = self.proj(self.embed(self.bucket_ids(ids, prev_last)))
        return h * self.scale if self.scale is not None else h


class SmearGate(nn.Module):
    """x ← (1 − σ(g))·x + σ(g)·x_{t−1} per channel (zeros before the first position)."""

    def __init__(self, dim: int):
        super().__init__()
        self.gate = nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor, prev_last: torch.Tensor | None = None) -> torch.Tensor:
        first = torch.zeros_like(x[:, :1]) if prev_last is None else prev_last.to(x.dtype).unsqueeze(1)
        shifted = torch.cat((first, x[:, :-1]), dim=1)
        g = torch.sigmoid(self.gate.to(x.dtype))
        return (1 - g) * x + g * shifted


class ValueEmbedding(nn.Module):
    """A token table projected to the attention's V width, added to V at chosen virtual layers."""

    def __init__(self, vocab: int, dim: int, kv_dim: int):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.proj = CastedLinear(dim, kv_dim)
        self.scale = nn.Parameter(torch.tensor(0.1))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.proj(self.embed(ids)) * self.scale


def rms_norm(x: torch.Tensor) -> torch.Tensor:
    """RMS norm over the last dim with no learnable weight."""
    return F.rms_norm(x, (x.shape[-1],))
