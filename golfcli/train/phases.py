"""Weights at full depth: what the end of training does to weights saved in an earlier recurrence phase."""

from __future__ import annotations

import torch

from golfcli.config import GolfConfig


def final_phase_weights(cfg: GolfConfig, weights: dict[str, torch.Tensor], phase: int) -> dict[str, torch.Tensor]:
    """Weights as they would be at full depth: untied repeat copies made from their base weights.

    Weights already at the final phase come back unchanged (as CPU copies).
    """
    from golfcli.model import build_model

    m = build_model(cfg.model, {k: v.cpu() for k, v in weights.items()}, "cpu", phase)
    m.set_phase(m.final_phase, copy_untied=True)
    return {k: v.detach().clone() for k, v in m.state_dict().items()}


def final_phase(cfg: GolfConfig) -> int:
    """Index of the model's last (full-depth) recurrence phase."""
    from golfcli.model import GPT

    with torch.device("meta"):
        return GPT(cfg.model).final_phase
