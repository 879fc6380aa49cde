"""Packed-size estimates: what an entropy coder achieves on quantized codes.

A quantized tensor costs its codes' order-0 entropy (n·H(p̂) bits, p̂ = the tensor's code
histogram) plus a small per-tensor table (a header and one count per symbol used) plus its fp16
scales. A passthrough tensor costs its raw bytes. The artifact stage owns the real packer; this is
the estimate the byte-budget planner optimises against, kept here because stages never import
each other.
"""

from __future__ import annotations

import math

import torch

TABLE_HEADER_BYTES = 8  # per tensor: symbol range / count of symbols
TABLE_BYTES_PER_SYMBOL = 2  # per code value present in the tensor
SCALE_BYTES = 2  # one fp16 scale per row


def code_entropy_bits(codes: torch.Tensor) -> float:
    """Order-0 entropy of integer codes (|code| ≤ 127), in bits for the whole tensor."""
    counts = torch.bincount(codes.reshape(-1).to(torch.int64) + 128, minlength=256).double()
    n = float(counts.sum())
    if n == 0:
        return 0.0
    p = counts[counts > 0] / n
    return float(-(p * torch.log2(p)).sum()) * n


def codes_bytes(codes: torch.Tensor) -> int:
    """Estimated packed bytes of a code tensor: entropy plus its symbol table (no scales)."""
    symbols = int((torch.bincount(codes.reshape(-1).to(torch.int64) + 128, minlength=256) > 0).sum())
    return math.ceil(code_entropy_bits(codes) / 8) + TABLE_HEADER_BYTES + TABLE_BYTES_PER_SYMBOL * symbols


def quantized_bytes(codes: torch.Tensor) -> int:
    """Estimated packed bytes of a quantized tensor: codes (rows, cols) plus one fp16 scale per row."""
    rows = codes.shape[0] if codes.ndim >= 1 else 1
    return codes_bytes(codes) + SCALE_BYTES * rows


def passthrough_bytes(t: torch.Tensor) -> int:
    """Bytes of a tensor stored as is."""
    return t.numel() * t.element_size()
