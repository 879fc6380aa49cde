"""The artifact container's constants and its byte-level reading and writing primitives.

docs/ARTIFACT.md describes the layout byte by byte; this module is its vocabulary: magic,
version, section kinds, codec and transform ids, the sanity bounds a reader enforces before it
allocates anything, and a bounds-checked cursor that turns every overrun into a FormatError.
"""

from __future__ import annotations

import struct

from golfcli.errors import FormatError

MAGIC = b"\x89GLF"  # a high first byte catches text-mode mangling, like PNG's
VERSION = 1
CHECKSUM_BYTES = 4  # CRC-32 (zlib polynomial) of every byte before it, little-endian

# Section kinds, in the order sections are written. The manifest always comes first.
MANIFEST, CODES, SCALES, PASSTHROUGH = range(4)
SECTION_NAMES = {MANIFEST: "manifest", CODES: "codes", SCALES: "scales", PASSTHROUGH: "passthrough"}

# Codecs (one byte per section) and byte transforms (one byte per section).
RAW, RANS, BROTLI, ZSTD, LZMA, RANS_CLASSES = range(6)
CODEC_NAMES = {RAW: "raw", RANS: "rans", BROTLI: "brotli", ZSTD: "zstd", LZMA: "lzma", RANS_CLASSES: "rans-classes"}
ENTROPY_CODECS = (RANS, RANS_CLASSES)  # codes-only codecs: no other section may use them
CODEC_IDS = {name: cid for cid, name in CODEC_NAMES.items()}
NO_TRANSFORM, BYTE_PLANES = 0, 1
TRANSFORM_NAMES = {NO_TRANSFORM: "none", BYTE_PLANES: "planes"}

# Dtypes a tensor may have (stored as one byte) and their element sizes.
DTYPES = ("float32", "float16", "bfloat16", "float64", "int64", "int32", "int16", "int8", "uint8", "bool")
ITEMSIZE = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8, "int64": 8, "int32": 4, "int16": 2,
            "int8": 1, "uint8": 1, "bool": 1}
ROLES = ("attn", "mlp", "embed", "other")

# Sanity bounds checked before any allocation (a damaged or hostile file cannot ask for more).
MAX_SECTIONS = len(SECTION_NAMES)
MAX_MANIFEST_BYTES = 16 << 20
MAX_SECTION_BYTES = 1 << 30  # decoded bytes of one section
MAX_ELEMENTS = 1 << 28  # elements over all tensors (268 M weights)
MAX_TENSORS = 1 << 16
MAX_NDIM = 8
MAX_NAME_BYTES = 1024


def write_varint(out: bytearray, value: int) -> None:
    """Append an unsigned LEB128 integer (7 bits per byte, high bit = more)."""
    if value < 0:
        raise ValueError("varint must be non-negative")
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return


def zigzag(value: int) -> int:
    """Map signed to unsigned: 0, -1, 1, -2, ... → 0, 1, 2, 3, ..."""
    return (value << 1) if value >= 0 else ((-value << 1) - 1)


def unzigzag(value: int) -> int:
    return (value >> 1) if not value & 1 else -((value + 1) >> 1)


def varint_size(value: int) -> int:
    """Bytes `write_varint` uses for `value`."""
    return max(1, -(-value.bit_length() // 7))


class Cursor:
    """Reads fields from a bytes buffer; reading past its end raises FormatError naming `what`."""

    def __init__(self, data: bytes | memoryview, what: str):
        self.data = memoryview(data)
        self.pos = 0
        self.what = what

    def remaining(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise FormatError(f"{self.what} is truncated (needs {n} more bytes at offset {self.pos})")
        view = self.data[self.pos:self.pos + n]
        self.pos += n
        return view

    def u8(self) -> int:
        return self.take(1)[0]

    def u32(self) -> int:
        return struct.unpack("<I", self.take(4))[0]

    def varint(self, limit: int = 1 << 62) -> int:
        value = shift = 0
        while True:
            byte = self.u8()
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                break
            shift += 7
            if shift > 63:
                raise FormatError(f"{self.what} holds an overlong integer")
        if value > limit:
            raise FormatError(f"{self.what} declares {value}, above the limit {limit}")
        return value

    def done(self) -> None:
        if self.remaining():
            raise FormatError(f"{self.what} has {self.remaining()} unexpected trailing bytes")
