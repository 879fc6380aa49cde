"""Small causal models and streams shared by the eval, hedge and TTT tests."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from golfcli.config import EvalConfig
from golfcli.metric import ByteTables

VOCAB = 64


class TinyCausalLM(nn.Module):
    """Embedding → one causal self-attention layer → MLP → head: causal, deterministic, fast."""

    def __init__(self, vocab: int = VOCAB, dim: int = 32, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.emb = nn.Embedding(vocab, dim)
        self.pos = nn.Embedding(512, dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.head = nn.Linear(dim, vocab)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        T = ids.shape[1]
        x = self.emb(ids) + self.pos(torch.arange(T, device=ids.device) % 512)
        q, k, v = self.qkv(x).chunk(3, -1)
        x = x + F.scaled_dot_product_attention(q[:, None], k[:, None], v[:, None], is_causal=True)[:, 0]
        x = x + self.mlp(x)
        return self.head(x).float()


def byte_tables(vocab: int = VOCAB) -> ByteTables:
    """Synthetic byte tables: token i has 1 + i % 3 bytes, odd ids carry a leading space, id 0 is a boundary."""
    ids = torch.arange(vocab)
    boundary = ids == 0
    return ByteTables((1 + ids % 3).to(torch.int16) * (~boundary), (ids % 2 == 1) & ~boundary, boundary)


def repetitive_stream(n: int, vocab: int = VOCAB, seed: int = 0) -> torch.Tensor:
    """A stream made of a few repeated phrases (n-gram statistics help a lot on it)."""
    g = torch.Generator().manual_seed(seed)
    phrases = [torch.randint(1, vocab, (int(torch.randint(3, 9, (1,), generator=g)),), generator=g)
               for _ in range(6)]
    out = []
    while sum(p.numel() for p in out) < n:
        out.append(phrases[int(torch.randint(0, len(phrases), (1,), generator=g))])
    return torch.cat(out)[:n]


def small_cfg(**changes) -> EvalConfig:
    """An EvalConfig sized for tests."""
    base = dict(seq_len=32, window=32, stride=8, batch_seqs=4, hedge_table_size=512, hedge_update_tokens=24,
                ttt_chunk_tokens=64, ttt_seq_len=32, ttt_batch_seqs=4, ttt_epochs=1)
    base.update(changes)
    return EvalConfig(**base)
