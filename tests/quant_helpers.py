"""A random tiny GPT checkpoint and its Hessians from random tokens, for the quantization tests."""

from __future__ import annotations

from pathlib import Path

import torch

from golfcli.checkpoint import save_checkpoint
from golfcli.config import GolfConfig
from golfcli.model import GPT
from golfcli.quant.calibrate import calibrate


def random_checkpoint(folder: Path, cfg: GolfConfig) -> tuple[Path, Path]:
    """(checkpoint, hessians) of a seeded GPT with perturbed weights, calibrated on random tokens."""
    torch.manual_seed(0)
    model = GPT(cfg.model)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    ckpt = folder / "model.safetensors"
    save_checkpoint(ckpt, model.state_dict(), cfg)
    hessians = folder / "hessians.safetensors"
    calibrate(ckpt, hessians, source="random", seqs=4, seq_len=32, batch=4, device="cpu")
    return ckpt, hessians
