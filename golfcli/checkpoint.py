"""Float checkpoints: a model state dict plus the resolved config that rebuilds the model.

On disk: a golf `checkpoint` safetensors file whose tensors are the model's state dict and whose
metadata holds `golf.config` (the resolved config tables), `golf.provenance` and whatever the
writer adds (`golf.step`, `golf.source`, ...).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from golfcli.config import GolfConfig, config_from_dict, config_to_dict
from golfcli.errors import FormatError
from golfcli.io import load_tensors, provenance, save_tensors

CHECKPOINT_FORMAT = "checkpoint"


def save_checkpoint(
    path: str | Path, state: dict[str, torch.Tensor], cfg: GolfConfig, **meta: Any
) -> None:
    """Write a float checkpoint atomically, with config and provenance in its metadata."""
    header = {"config": config_to_dict(cfg), "preset": cfg.preset}
    header["provenance"] = meta.pop("provenance", None) or provenance(seed=cfg.train.seed, tokenizer=cfg.data.tokenizer)
    header.update(meta)
    save_tensors(path, state, CHECKPOINT_FORMAT, header)


def load_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], GolfConfig, dict[str, Any]]:
    """Read a float checkpoint: (state dict, resolved config, remaining metadata)."""
    tensors, meta = load_tensors(path, CHECKPOINT_FORMAT)
    tables = meta.pop("config", None)
    if not isinstance(tables, dict):
        raise FormatError("checkpoint has no config (golf.config)", path)
    return tensors, config_from_dict(tables, preset=meta.get("preset")), meta
