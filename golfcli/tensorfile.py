"""The safetensors byte format in plain torch, for when the `safetensors` package is absent.

An exported `train_gpt.py` runs with torch, numpy, sentencepiece and brotli only, yet its stages
hand tensors to each other through golf's safetensors files. These two functions have the
signatures of `safetensors.torch.save` / `load` and read and write the same format (8-byte
little-endian header length, a JSON header padded with spaces to 8 bytes, then the tensors'
little-endian bytes back to back), so either implementation reads the other's files.
"""

from __future__ import annotations

import json
from typing import Mapping

import torch

_CODES = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
    torch.bool: "BOOL",
}
_DTYPES = {code: dtype for dtype, code in _CODES.items()}


def save(tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str] | None = None) -> bytes:
    """The safetensors bytes of `tensors` (CPU, contiguous) with string `metadata`."""
    header: dict = {"__metadata__": dict(metadata)} if metadata else {}
    blobs, offset = [], 0
    for name in sorted(tensors):
        t = tensors[name]
        if t.dtype not in _CODES:
            raise ValueError(f"tensor {name}: dtype {t.dtype} has no safetensors code")
        data = t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
        header[name] = {"dtype": _CODES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text + b"".join(blobs)


def load(data: bytes) -> dict[str, torch.Tensor]:
    """The tensors of safetensors bytes; ValueError for bytes that are not a whole, valid file."""
    n = int.from_bytes(data[:8], "little")
    if len(data) < 8 or 8 + n > len(data):
        raise ValueError("header length beyond the end of the data")
    header = json.loads(data[8:8 + n])
    body = memoryview(data)[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        dtype, shape = _DTYPES[info["dtype"]], info["shape"]
        if not 0 <= begin <= end <= len(body):
            raise ValueError(f"tensor {name}: offsets outside the data")
        flat = torch.frombuffer(bytearray(body[begin:end]), dtype=torch.uint8) if end > begin else \
            torch.zeros(0, dtype=torch.uint8)
        out[name] = flat.view(dtype).reshape(shape)
    return out
