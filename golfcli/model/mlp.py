"""Feed-forward pieces: the block MLP (relu² or leaky-relu²) and the per-repeat loop adapter."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from golfcli.model.linear import CastedLinear

ACTIVATIONS = ("relu2", "leaky_relu2")


class MLP(nn.Module):
    """proj(act(fc(x))²) with act = relu or leaky_relu(slope); fc widens dim → hidden."""

    def __init__(self, dim: int, hidden: int, activation: str = "relu2", negative_slope: float = 0.5):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"mlp activation must be one of {ACTIVATIONS}, got {activation!r}")
        self.fc = CastedLinear(dim, hidden)
        self.proj = CastedLinear(hidden, dim, zero_init=True)
        self.activation = activation
        self.negative_slope = negative_slope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc(x)
        h = F.relu(h) if self.activation == "relu2" else F.leaky_relu(h, self.negative_slope)
        return self.proj(h.square())


class LoopAdapter(nn.Module):
    """x ↦ γ ⊙ up(relu(down(rms_norm(x)))²): a small per-(pass, core block) correction, zero at init."""

    def __init__(self, dim: int, rank: int):
        super().__init__()
        self.down = CastedLinear(dim, rank)
        self.up = CastedLinear(rank, dim, zero_init=True)
        self.gain = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.down(F.rms_norm(x, (x.shape[-1],))))
        return self.gain.to(x.dtype) * self.up(h.square())
