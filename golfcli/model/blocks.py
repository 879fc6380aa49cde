"""A physical block (the weights: attention + MLP) and the per-block scalars that steer it."""

from __future__ import annotations

import torch
from torch import nn

from golfcli.config.model import ModelConfig
from golfcli.model.attention import Attention
from golfcli.model.mlp import MLP


def mlp_hidden(cfg: ModelConfig) -> int:
    """Width of the MLP's hidden layer: int(mlp_mult · model_dim)."""
    return int(cfg.mlp_mult * cfg.model_dim)


class Block(nn.Module):
    """The large matrices of one physical layer; shared by every virtual layer that maps to it."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.attn = Attention(cfg.model_dim, cfg.num_heads, cfg.num_kv_heads)
        self.mlp = MLP(cfg.model_dim, mlp_hidden(cfg), cfg.mlp_activation, cfg.mlp_negative_slope)


class RepeatMLP(nn.Module):
    """An untied MLP for one repeat pass (named `repeat_mlp.J.mlp.*`)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.mlp = MLP(cfg.model_dim, mlp_hidden(cfg), cfg.mlp_activation, cfg.mlp_negative_slope)


class BlockControls(nn.Module):
    """Per-block scalars: q gain per head, attention / MLP output scales, and the mix toward x0.

    The mix is `resid_mix[0]⊙x + resid_mix[1]⊙x0` (init 1, 0), or with Birkhoff mixing the convex
    `σ(λ)⊙x + (1−σ(λ))⊙x0` (λ init 0, so 0.5 / 0.5).
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d = cfg.model_dim
        self.q_gain = nn.Parameter(torch.full((cfg.num_heads,), cfg.qk_gain_init))
        self.attn_scale = nn.Parameter(torch.ones(d))
        self.mlp_scale = nn.Parameter(torch.ones(d))
        self.birkhoff = cfg.birkhoff_mix
        if self.birkhoff:
            self.mix_logit = nn.Parameter(torch.zeros(d))
        else:
            self.resid_mix = nn.Parameter(torch.stack((torch.ones(d), torch.zeros(d))))

    def mix(self, x: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        """Blend the residual stream x with the normed embedding x0."""
        if self.birkhoff:
            a = torch.sigmoid(self.mix_logit).to(x.dtype)
            return a * x + (1 - a) * x0
        m = self.resid_mix.to(x.dtype)
        return m[0] * x + m[1] * x0
