"""QAT switching: when late STE / Noisy QAT turns on, and which grid each weight trains against.

The grid of each weight is its export grid: the [quant] section's width for the weight's role
(attn/mlp/embed/other), then `quant.rules` ("REGEX=BITS", searched in the name, later rules win),
so noise of one grid step Δ = amax_row / (2^(b−1) − 1) matches the rounding the weight will see.
The model applies the mode in a way torch.compile honours (see golfcli.model's `set_qat`).
"""

from __future__ import annotations

from typing import Callable

from golfcli.bitwidths import bits_for, parse_rules
from golfcli.config import QuantConfig
from golfcli.config.train import TrainConfig


def export_bits(qc: QuantConfig) -> Callable[[str], int]:
    """name → bit width of the tensor's export grid, from the [quant] role widths and rules."""
    rules = parse_rules(qc.rules)
    return lambda name: bits_for(name, qc, rules)[0]


def qat_due(tc: TrainConfig, step: int, lr_scale: float) -> bool:
    """True once QAT should be on: a mode is set, the lr scale fell below the threshold, step ≥ min."""
    return tc.qat_mode != "off" and lr_scale < tc.qat_threshold and step >= tc.qat_min_step
