"""Models for benchmarks: a preset's GPT with random weights, no training needed."""

from __future__ import annotations

import torch

from golfcli.config import load_config


def random_model(preset: str, seed: int = 0):
    """(GPT at its final phase with N(0, 0.02) matrices, its GolfConfig); eval mode, on the CPU."""
    from golfcli.model import build_model

    cfg = load_config(preset)
    torch.manual_seed(seed)
    model = build_model(cfg.model, None)
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim == 2:
                p.normal_(0.0, 0.02)
    return model, cfg
