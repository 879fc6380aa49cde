"""The training-state checkpoint: everything `--resume` needs to continue bit for bit.

A golf `train_state` safetensors file. Tensors, by prefix:
    model/<name>            the model's state dict
    ema/<name>              the float32 EMA shadow (when EMA is on)
    swa/<name>              the float32 SWA sum (when SWA is on)
    optim/<i>/<p>/<key>     tensor state of optimizer i for its p-th parameter (AdamW moments, Muon momentum)
    rng/cpu, rng/cuda       torch RNG states as uint8 tensors
Metadata `golf.train_state` (JSON): step, training seconds, tokens, recurrence phase, QAT flag,
loader state, EMA update count, SWA snapshot count, and each optimizer's param groups and
non-tensor state; plus `golf.config` (the resolved config). No pickle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from golfcli.config import GolfConfig, config_from_dict, config_to_dict
from golfcli.errors import FormatError
from golfcli.io import load_tensors, provenance, save_tensors

TRAIN_STATE_FORMAT = "train_state"


@dataclass
class TrainState:
    """Loop counters and everything beside the tensors that a resume restores."""

    step: int = 0
    elapsed: float = 0.0  # training seconds (validation, checkpointing and compile warmup excluded)
    tokens: int = 0
    phase: int = 0
    qat_on: bool = False
    loader: dict[str, Any] = field(default_factory=dict)
    ema_updates: int = 0
    swa_count: int = 0


def optimizer_to_tensors(opt: torch.optim.Optimizer, index: int) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimizer's state dict into tensors (by prefix) and JSON (groups, non-tensor state)."""
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, entry in sd["state"].items():
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim/{index}/{pid}/{key}"] = value
            else:
                scalars.setdefault(str(pid), {})[key] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def optimizer_from_tensors(
    opt: torch.optim.Optimizer, index: int, tensors: dict[str, torch.Tensor], info: dict[str, Any]
) -> None:
    """Load what `optimizer_to_tensors` produced back into `opt`."""
    state: dict[int, dict[str, Any]] = {}
    prefix = f"optim/{index}/"
    for name, value in tensors.items():
        if name.startswith(prefix):
            pid, key = name[len(prefix):].split("/", 1)
            state.setdefault(int(pid), {})[key] = value
    for pid, entry in info.get("scalars", {}).items():
        state.setdefault(int(pid), {}).update(entry)
    groups = info["param_groups"]
    for group in groups:
        if "betas" in group and isinstance(group["betas"], list):
            group["betas"] = tuple(group["betas"])
    opt.load_state_dict({"state": state, "param_groups": groups})


def rng_tensors(device: torch.device) -> dict[str, torch.Tensor]:
    """The torch RNG states (CPU, and the CUDA device's when training there) as uint8 tensors."""
    out = {"rng/cpu": torch.get_rng_state()}
    if device.type == "cuda":
        out["rng/cuda"] = torch.cuda.get_rng_state(device)
    return out


def restore_rng(tensors: dict[str, torch.Tensor], device: torch.device) -> None:
    """Set the RNG states saved by `rng_tensors`."""
    if "rng/cpu" in tensors:
        torch.set_rng_state(tensors["rng/cpu"].to(torch.uint8))
    if device.type == "cuda" and "rng/cuda" in tensors:
        torch.cuda.set_rng_state(tensors["rng/cuda"].to(torch.uint8), device)


def save_train_state(
    path: str | Path,
    cfg: GolfConfig,
    state: TrainState,
    model_state: dict[str, torch.Tensor],
    optimizers: list[torch.optim.Optimizer],
    device: torch.device,
    ema: dict[str, torch.Tensor] | None = None,
    swa: dict[str, torch.Tensor] | None = None,
) -> None:
    """Write one training-state checkpoint atomically."""
    save_tensors(path, *train_state_payload(cfg, state, model_state, optimizers, device, ema, swa))


def train_state_payload(
    cfg: GolfConfig,
    state: TrainState,
    model_state: dict[str, torch.Tensor],
    optimizers: list[torch.optim.Optimizer],
    device: torch.device,
    ema: dict[str, torch.Tensor] | None = None,
    swa: dict[str, torch.Tensor] | None = None,
) -> tuple[dict[str, torch.Tensor], str, dict[str, Any]]:
    """(tensors, kind, meta) of a training-state checkpoint, for `save_tensors` (now or later)."""
    tensors: dict[str, torch.Tensor] = {f"model/{k}": v for k, v in model_state.items()}
    for k, v in (ema or {}).items():
        tensors[f"ema/{k}"] = v
    for k, v in (swa or {}).items():
        tensors[f"swa/{k}"] = v
    optim_info = []
    for i, opt in enumerate(optimizers):
        t, info = optimizer_to_tensors(opt, i)
        tensors.update(t)
        optim_info.append(info)
    tensors.update(rng_tensors(device))
    meta = {
        "train_state": {**state.__dict__, "optimizers": optim_info},
        "config": config_to_dict(cfg),
        "preset": cfg.preset,
        "provenance": provenance(seed=cfg.train.seed),
    }
    return tensors, TRAIN_STATE_FORMAT, meta


@dataclass
class LoadedState:
    """A training-state checkpoint read back."""

    state: TrainState
    config: GolfConfig
    model: dict[str, torch.Tensor]
    ema: dict[str, torch.Tensor]
    swa: dict[str, torch.Tensor]
    tensors: dict[str, torch.Tensor]  # everything, for optimizer and RNG restore
    optimizers: list[dict[str, Any]]


def _strip(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


def load_train_state(path: str | Path) -> LoadedState:
    """Read a training-state checkpoint (FormatError if it is not one)."""
    tensors, meta = load_tensors(path, TRAIN_STATE_FORMAT)
    info = meta.get("train_state")
    tables = meta.get("config")
    if not isinstance(info, dict) or not isinstance(tables, dict):
        raise FormatError("training state without golf.train_state / golf.config metadata", path)
    optimizers = info.pop("optimizers", [])
    try:
        state = TrainState(**info)
    except TypeError as exc:
        raise FormatError(f"unexpected training state fields ({exc})", path) from None
    return LoadedState(
        state=state,
        config=config_from_dict(tables, preset=meta.get("preset")),
        model=_strip(tensors, "model/"),
        ema=_strip(tensors, "ema/"),
        swa=_strip(tensors, "swa/"),
        tensors=tensors,
        optimizers=optimizers,
    )


def read_model_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """Only the model weights of a training-state checkpoint (for averaging over snapshots)."""
    tensors, _ = load_tensors(path, TRAIN_STATE_FORMAT)
    return _strip(tensors, "model/")
