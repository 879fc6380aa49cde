"""The quantized-model layout shared by quantize (writes it), pack (compresses it) and eval (reads it).

A quantized tensor is a symmetric per-row integer grid: codes in ±(2^(bits−1)−1) stored as int8,
one fp16 scale per row (row = first dimension; the rest is flattened), and the original shape
and dtype. Dequantization is `codes · scale[row]`, cast back to the original dtype.

Small tensors stay float ("passthrough"), stored as fp16 or, for control tensors, fp32.

On disk (`golf.format = "quantized"` safetensors): `<name>.q` (int8 codes, 2-D) and
`<name>.scale` (fp16, one per row) for each quantized tensor; `<name>` for each passthrough
tensor; metadata `golf.tensors` = {name: {"kind": "q"|"p", "role", "dtype", "shape", "bits"}},
`golf.config` (the resolved config, enough to rebuild the model) and `golf.provenance`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from golfcli.bitwidths import MAX_BITS, MIN_BITS, role_of
from golfcli.errors import FormatError
from golfcli.io import load_tensors, save_tensors

QUANTIZED_FORMAT = "quantized"
ROLES = ("attn", "mlp", "embed", "other")

_DTYPES = {
    "float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16, "float64": torch.float64,
    "int64": torch.int64, "int32": torch.int32, "int16": torch.int16, "int8": torch.int8, "uint8": torch.uint8,
    "bool": torch.bool,
}


def dtype_name(dtype: torch.dtype) -> str:
    """'float32' for torch.float32, etc."""
    return str(dtype).removeprefix("torch.")


def dtype_from_name(name: str) -> torch.dtype:
    """Inverse of dtype_name; a FormatError for names golf never writes."""
    try:
        return _DTYPES[name]
    except KeyError:
        raise FormatError(f"unknown dtype {name!r}") from None


def grid_max(bits: int) -> int:
    """Largest code of the symmetric intN grid: 2^(bits−1) − 1 (int5 → 15, int7 → 63, int8 → 127)."""
    if not MIN_BITS <= bits <= MAX_BITS:
        raise ValueError(f"bit width must be in {MIN_BITS}..{MAX_BITS}, got {bits}")
    return (1 << (bits - 1)) - 1


def as_rows(t: torch.Tensor) -> torch.Tensor:
    """View a tensor as 2-D rows: (shape[0], rest) for ndim ≥ 2, one row for ndim ≤ 1."""
    if t.ndim >= 2:
        return t.reshape(t.shape[0], -1)
    return t.reshape(1, -1)


def quantize_with_scales(w: torch.Tensor, scales: torch.Tensor, bits: int) -> torch.Tensor:
    """Round-to-nearest codes of 2-D `w` on the grid with per-row `scales` (used as their fp16 values)."""
    qmax = grid_max(bits)
    s = scales.to(torch.float16).float().clamp_min(torch.finfo(torch.float16).tiny)
    return torch.clamp(torch.round(w.float() / s[:, None]), -qmax, qmax).to(torch.int8)


@dataclass
class QuantizedTensor:
    """Integer codes on a symmetric grid with one fp16 scale per row."""

    codes: torch.Tensor  # int8, (rows, cols)
    scales: torch.Tensor  # float16, (rows,)
    bits: int
    shape: tuple[int, ...]
    dtype: str = "float32"
    role: str = "other"

    def dequantize(self) -> torch.Tensor:
        """The float tensor these codes stand for, in its original shape and dtype."""
        w = self.codes.float() * self.scales.float()[:, None]
        return w.reshape(self.shape).to(dtype_from_name(self.dtype))

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


@dataclass
class QuantizedModel:
    """Every tensor of a model, quantized or kept float, plus the config that rebuilds the model."""

    quantized: dict[str, QuantizedTensor] = field(default_factory=dict)
    passthrough: dict[str, torch.Tensor] = field(default_factory=dict)
    passthrough_dtypes: dict[str, str] = field(default_factory=dict)  # original dtype of each passthrough
    config: dict[str, Any] = field(default_factory=dict)  # resolved GolfConfig as tables
    meta: dict[str, Any] = field(default_factory=dict)  # extra golf.* metadata (provenance, report)

    def names(self) -> list[str]:
        """All tensor names, sorted."""
        return sorted([*self.quantized, *self.passthrough])

    def state_dict(self) -> dict[str, torch.Tensor]:
        """A float state dict: dequantized weights and passthrough tensors in their original dtypes."""
        out = {name: q.dequantize() for name, q in self.quantized.items()}
        for name, t in self.passthrough.items():
            out[name] = t.to(dtype_from_name(self.passthrough_dtypes.get(name, dtype_name(t.dtype))))
        return out


def save_quantized(path: str, model: QuantizedModel) -> None:
    """Write a QuantizedModel as a golf `quantized` safetensors file (atomically)."""
    tensors: dict[str, torch.Tensor] = {}
    index: dict[str, dict[str, Any]] = {}
    for name, q in sorted(model.quantized.items()):
        tensors[f"{name}.q"] = q.codes.to(torch.int8)
        tensors[f"{name}.scale"] = q.scales.to(torch.float16)
        index[name] = {"kind": "q", "bits": q.bits, "shape": list(q.shape), "dtype": q.dtype, "role": q.role}
    for name, t in sorted(model.passthrough.items()):
        tensors[name] = t
        index[name] = {
            "kind": "p", "shape": list(t.shape), "dtype": model.passthrough_dtypes.get(name, dtype_name(t.dtype)),
            "role": role_of(name),
        }
    meta = dict(model.meta)
    meta.update({"tensors": index, "config": model.config})
    save_tensors(path, tensors, QUANTIZED_FORMAT, meta)


def load_quantized(path: str) -> QuantizedModel:
    """Read a golf `quantized` file back into a QuantizedModel, checking its index against its tensors."""
    tensors, meta = load_tensors(path, QUANTIZED_FORMAT)
    index = meta.pop("tensors", None)
    if not isinstance(index, dict):
        raise FormatError("quantized file has no tensor index (golf.tensors)", path)
    model = QuantizedModel(config=meta.pop("config", {}) or {})
    meta.pop("format", None)
    meta.pop("format_version", None)
    model.meta = meta
    for name, info in index.items():
        try:
            if info["kind"] == "q":
                model.quantized[name] = QuantizedTensor(
                    codes=tensors[f"{name}.q"], scales=tensors[f"{name}.scale"], bits=int(info["bits"]),
                    shape=tuple(int(s) for s in info["shape"]), dtype=info["dtype"], role=info.get("role", "other"),
                )
            else:
                model.passthrough[name] = tensors[name]
                model.passthrough_dtypes[name] = info["dtype"]
        except (KeyError, TypeError, ValueError) as exc:
            raise FormatError(f"tensor {name!r} is missing or malformed ({exc})", path) from None
    return model
