"""CastedLinear: the one linear layer of the model (fp32 master weight, cast to the input dtype), with QAT.

QAT modes (set per module by `GPT.set_qat`):
- "off":   plain weight.
- "ste":   fake-quantize to the symmetric per-row grid of `qat_bits` (Δ = amax_row / grid_max),
           forward `W + (Q(W) − W).detach()` so the backward is the identity (straight-through).
- "noise": Noisy QAT, `W + (U − ½)·Δ` with U ~ Uniform(0,1) per element per call; Δ carries no gradient.

The mode and bit width are plain Python attributes read in forward: torch.compile guards on them, so
changing them recompiles instead of being constant-folded away (tests check this with a compiled model).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

QAT_MODES = ("off", "ste", "noise")


def grid_step(w: torch.Tensor, bits: int) -> torch.Tensor:
    """Per-row grid step Δ = amax_row(|W|) / (2^(bits−1) − 1), shape (rows, 1), without gradient."""
    qmax = (1 << (bits - 1)) - 1
    with torch.no_grad():
        amax = w.detach().abs().amax(dim=1, keepdim=True).float()
        return (amax / qmax).clamp_min(1e-12)


def fake_quant_ste(w: torch.Tensor, bits: int) -> torch.Tensor:
    """Round W to its per-row grid in the forward; identity gradient in the backward."""
    qmax = (1 << (bits - 1)) - 1
    step = grid_step(w, bits)
    q = torch.clamp(torch.round(w.float() / step), -qmax, qmax) * step
    return w + (q.to(w.dtype) - w).detach()


def fake_quant_noise(w: torch.Tensor, bits: int) -> torch.Tensor:
    """W plus uniform noise of one grid step per element (variance Δ²/12, the rounding error's)."""
    step = grid_step(w, bits)
    noise = (torch.rand_like(w, dtype=torch.float32) - 0.5) * step
    return w + noise.to(w.dtype)


class CastedLinear(nn.Linear):
    """nn.Linear without bias whose weight is cast to the input's dtype; optional fake quantization."""

    def __init__(self, in_features: int, out_features: int, zero_init: bool = False):
        super().__init__(in_features, out_features, bias=False)
        self.zero_init = zero_init
        self.qat_mode = "off"
        self.qat_bits = 8

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight
        if self.training and self.qat_mode == "ste":
            w = fake_quant_ste(w, self.qat_bits)
        elif self.training and self.qat_mode == "noise":
            w = fake_quant_noise(w, self.qat_bits)
        return F.linear(x, w.to(x.dtype))
