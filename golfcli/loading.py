"""Turning any model file golf writes into a ready GPT: checkpoint, quantized file or artifact.

The kind is detected from the file's content, never its name: an artifact by its container
magic, a checkpoint or quantized file by its safetensors `golf.format`. Quantized weights (from
a quantized file or an artifact) are dequantized to floats; the model is rebuilt from the config
the file carries, switched to its final (full-depth) recurrence phase, and loaded strictly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from golfcli.config import GolfConfig, config_from_dict
from golfcli.errors import FormatError, GolfError
from golfcli.io import read_metadata, require_file

MODEL_KINDS = ("checkpoint", "quantized", "artifact")


def model_kind(path: str | Path) -> str:
    """'artifact', 'checkpoint' or 'quantized', from the file's bytes; a GolfError otherwise."""
    p = require_file(path, "model file")
    from golfcli.artifact import is_artifact

    if is_artifact(p):
        return "artifact"
    try:
        fmt = read_metadata(p).get("format")
    except FormatError:
        raise GolfError("not a golf checkpoint, quantized file or artifact", p) from None
    if fmt in ("checkpoint", "quantized"):
        return fmt
    raise GolfError(f"expected a checkpoint, quantized file or artifact, found {fmt or 'a non-golf file'}", p)


@dataclass
class ModelFile:
    """What one read of a model file gives: float weights, config, kind and recorded provenance."""

    state: dict[str, torch.Tensor]
    config: GolfConfig
    kind: str
    provenance: dict


def read_model_file(path: str | Path) -> ModelFile:
    """Read (and for an artifact, decode) a model file once; quantized weights come back dequantized."""
    kind = model_kind(path)
    if kind == "checkpoint":
        from golfcli.checkpoint import load_checkpoint

        state, cfg, meta = load_checkpoint(path)
        return ModelFile(state, cfg, kind, _provenance(meta))
    if kind == "artifact":
        from golfcli.artifact import read_artifact

        qm = read_artifact(path)
    else:
        from golfcli.qtensor import load_quantized

        qm = load_quantized(str(path))
    if not qm.config:
        raise FormatError("the file carries no model config (golf.config)", path)
    try:
        cfg = config_from_dict(qm.config, preset=qm.meta.get("preset") if isinstance(qm.meta, dict) else None)
    except GolfError as exc:
        raise FormatError(f"bad model config: {exc}", path) from None
    return ModelFile(qm.state_dict(), cfg, kind, _provenance(qm.meta))


def _provenance(meta: object) -> dict:
    found = meta.get("provenance") if isinstance(meta, dict) else None
    return found if isinstance(found, dict) else {}


def load_state(path: str | Path) -> tuple[dict[str, torch.Tensor], GolfConfig, str]:
    """(float state dict, config, kind) of a model file; quantized weights come back dequantized."""
    f = read_model_file(path)
    return f.state, f.config, f.kind


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, GolfConfig]:
    """(GPT at model.final_phase in eval mode on `device`, GolfConfig) from any golf model file."""
    model, f = open_model(path, device)
    return model, f.config


def open_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, ModelFile]:
    """(GPT at model.final_phase in eval mode on `device`, the file as read): one read, one decode."""
    from golfcli.model import build_model

    f = read_model_file(path)
    return build_model(f.config.model, f.state, device, path=path), f


def model_provenance(path: str | Path) -> dict:
    """The provenance a model file records (golf and torch versions, seed, tokenizer sha256, ...)."""
    if model_kind(path) == "artifact":
        from golfcli.artifact import read_artifact

        return _provenance(read_artifact(path).meta)
    return _provenance(read_metadata(path))


def check_tokenizer_matches(model_path: str | Path, tokenizer: str | Path, provenance: dict | None = None) -> None:
    """Refuse a tokenizer other than the one the model was trained with, when the file recorded it.

    `provenance` is the file's, when already read (`ModelFile.provenance`); else it is read here.
    """
    from golfcli.io import sha256_file

    recorded = (model_provenance(model_path) if provenance is None else provenance).get("tokenizer_sha256")
    if recorded and recorded != sha256_file(tokenizer):
        raise GolfError(
            f"is not the tokenizer this model was trained with (sha256 {recorded[:12]}… recorded in "
            f"{Path(model_path).name}); its bpb would be meaningless", tokenizer)
