"""CalibConfig and QuantConfig: `golf gptq-calibrate` and `golf quantize` defaults."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class CalibConfig:
    """Calibration: where activations come from and how many."""

    source: str = "selfgen"
    seqs: int = 64
    seq_len: int = 2048
    temperature: float = 0.8
    batch: int = 8


@dataclass
class QuantConfig:
    """Quantization: method, bit widths per role, clipping."""

    method: str = "gptq"
    attn_bits: int = 6
    mlp_bits: int = 6
    embed_bits: int = 8
