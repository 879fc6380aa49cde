"""Per-virtual-layer low-rank adapters on the attention's q and v (PR #363's depth LoRA).

Each virtual layer owns one adapter, so a block shared by several virtual layers still computes a
different q and v at each of them: q = W_q·x + Up_q(Down_q(x)), v = W_v·x + Up_v(Down_v(x)), x being
the normed attention input. Up matrices start at zero, so the adapters are off at initialisation.
"""

from __future__ import annotations

import torch
from torch import nn

from golfcli.model.linear import CastedLinear


class DepthLoRA(nn.Module):
    """Rank-r deltas of q (dim → q_dim) and v (dim → v_dim) for one virtual layer."""

    def __init__(self, dim: int, q_dim: int, v_dim: int, rank: int):
        super().__init__()
        self.q_down = CastedLinear(dim, rank)
        self.q_up = CastedLinear(rank, q_dim, zero_init=True)
        self.v_down = CastedLinear(dim, rank)
        self.v_up = CastedLinear(rank, v_dim, zero_init=True)

    def q_delta(self, x: torch.Tensor) -> torch.Tensor:
        """Added to W_q·x."""
        return self.q_up(self.q_down(x))

    def v_delta(self, x: torch.Tensor) -> torch.Tensor:
        """Added to W_v·x."""
        return self.v_up(self.v_down(x))
