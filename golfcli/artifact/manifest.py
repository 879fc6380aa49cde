"""The manifest: every tensor's name, shape, role, bit width, dtypes and row count, plus the model
config and metadata — everything needed to rebuild the QuantizedModel with no side file.

Binary and small: names are front-coded (bytes shared with the previous name are counted, not
repeated), small fields are single bytes, sizes are varints, config and metadata are compact JSON.
The section codec (usually brotli or lzma) then compresses it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from golfcli.artifact.format import (
    DTYPES, ITEMSIZE, MAX_ELEMENTS, MAX_NAME_BYTES, MAX_NDIM, MAX_TENSORS, ROLES, Cursor, write_varint,
)
from golfcli.errors import FormatError
from golfcli.qtensor import MAX_BITS, MIN_BITS


@dataclass
class QEntry:
    """A quantized tensor: codes (rows, numel/rows) int8 + one fp16 scale per row."""

    name: str
    role: str
    bits: int
    dtype: str  # the original (dequantized) dtype
    shape: tuple[int, ...]
    rows: int

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


@dataclass
class PEntry:
    """A passthrough tensor stored as `stored` dtype, restored as `dtype`."""

    name: str
    stored: str
    dtype: str
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * ITEMSIZE[self.stored]


@dataclass
class Manifest:
    quantized: list[QEntry] = field(default_factory=list)
    passthrough: list[PEntry] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


def _json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def encode_manifest(man: Manifest) -> bytes:
    """The manifest's raw bytes (before the section codec)."""
    out = bytearray()
    prev = b""

    def name(text: str) -> None:
        nonlocal prev
        raw = text.encode("utf-8")
        shared = 0
        while shared < min(len(raw), len(prev)) and raw[shared] == prev[shared]:
            shared += 1
        write_varint(out, shared)
        write_varint(out, len(raw) - shared)
        out.extend(raw[shared:])
        prev = raw

    def shape(dims: tuple[int, ...]) -> None:
        out.append(len(dims))
        for d in dims:
            write_varint(out, d)

    write_varint(out, len(man.quantized))
    for q in man.quantized:
        name(q.name)
        out += bytes([ROLES.index(q.role), q.bits, DTYPES.index(q.dtype)])
        shape(q.shape)
        write_varint(out, q.rows)
    write_varint(out, len(man.passthrough))
    for p in man.passthrough:
        name(p.name)
        out += bytes([DTYPES.index(p.stored), DTYPES.index(p.dtype)])
        shape(p.shape)
    for blob in (_json(man.config), _json(man.meta)):
        write_varint(out, len(blob))
        out.extend(blob)
    return bytes(out)


def decode_manifest(data: bytes) -> Manifest:
    """Parse and validate manifest bytes; every inconsistency is a FormatError."""
    cur = Cursor(data, "manifest")
    prev = b""
    seen: set[str] = set()
    total = 0

    def name() -> str:
        nonlocal prev
        shared = cur.varint(len(prev))
        rest = cur.varint(MAX_NAME_BYTES)
        raw = prev[:shared] + bytes(cur.take(rest))
        prev = raw
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise FormatError("manifest holds a tensor name that is not UTF-8") from None
        if not text or text in seen:
            raise FormatError(f"manifest holds an empty or repeated tensor name {text!r}")
        seen.add(text)
        return text

    def pick(table: tuple[str, ...], what: str) -> str:
        index = cur.u8()
        if index >= len(table):
            raise FormatError(f"manifest holds an unknown {what} id {index}")
        return table[index]

    def shape() -> tuple[int, ...]:
        nonlocal total
        ndim = cur.u8()
        if ndim > MAX_NDIM:
            raise FormatError(f"manifest declares a {ndim}-dimensional tensor (at most {MAX_NDIM})")
        dims = tuple(cur.varint(MAX_ELEMENTS) for _ in range(ndim))
        total += math.prod(dims)
        if total > MAX_ELEMENTS:
            raise FormatError(f"manifest declares more than {MAX_ELEMENTS} elements")
        return dims

    man = Manifest()
    for _ in range(cur.varint(MAX_TENSORS)):
        n = name()
        role = pick(ROLES, "role")
        bits = cur.u8()
        if not MIN_BITS <= bits <= MAX_BITS:
            raise FormatError(f"manifest gives tensor {n!r} a bit width of {bits}")
        dtype = pick(DTYPES, "dtype")
        dims = shape()
        rows = cur.varint(MAX_ELEMENTS)
        numel = math.prod(dims)
        if rows == 0 and numel or rows and numel % rows:
            raise FormatError(f"manifest gives tensor {n!r} {rows} rows for {numel} elements")
        man.quantized.append(QEntry(n, role, bits, dtype, dims, rows))
    for _ in range(cur.varint(MAX_TENSORS)):
        n = name()
        stored = pick(DTYPES, "dtype")
        dtype = pick(DTYPES, "dtype")
        man.passthrough.append(PEntry(n, stored, dtype, shape()))
    for attr in ("config", "meta"):
        blob = bytes(cur.take(cur.varint(len(data))))
        try:
            value = json.loads(blob.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            raise FormatError(f"manifest {attr} is not valid JSON") from None
        if not isinstance(value, dict):
            raise FormatError(f"manifest {attr} is not a JSON object")
        setattr(man, attr, value)
    cur.done()
    return man
