"""The generation cache: per-virtual-layer K/V plus the little state the front-end needs.

BigramHash needs the previous token and SmearGate the previous position's normed embedding, so
the cache keeps both next to the attention keys and values.
"""

from __future__ import annotations

import torch

from golfcli.model.attention import LayerCache


class GenerationCache:
    """KV cache for `GPT.forward_step`, made by `GPT.new_cache` at one recurrence phase."""

    def __init__(
        self, batch: int, max_len: int, n_layers: int, kv_heads: int, head_dim: int, model_dim: int,
        phase: int, device: torch.device, dtype: torch.dtype,
    ):
        self.max_len = max_len
        self.phase = phase
        self.layers = [LayerCache(batch, kv_heads, max_len, head_dim, device, dtype) for _ in range(n_layers)]
        self.length = 0
        self.last_id = torch.zeros(batch, dtype=torch.long, device=device)
        self.last_x = torch.zeros(batch, model_dim, device=device, dtype=dtype)
        self.pending_x: torch.Tensor | None = None

    def advance(self, ids: torch.Tensor) -> None:
        """Record that tokens `ids` (B, t) were consumed."""
        self.length += ids.shape[1]
        self.last_id = ids[:, -1].long()
        if self.pending_x is not None:
            self.last_x = self.pending_x.detach()
            self.pending_x = None
