"""Reading an artifact: check everything that can be checked before allocating, then decode.

Order of checks: magic and version, CRC-32 of the whole file, the section table against the file
length and the sanity bounds, the manifest, every section's declared size against what the
manifest implies — and only then the decoding. Any failure is a FormatError.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from golfcli.artifact import codecs
from golfcli.artifact.codes import decode_classed_codes, decode_codes
from golfcli.artifact.format import (
    BYTE_PLANES, CHECKSUM_BYTES, CODEC_NAMES, CODES, ENTROPY_CODECS, ITEMSIZE, MAGIC, MANIFEST,
    MAX_MANIFEST_BYTES, MAX_SECTION_BYTES, MAX_SECTIONS, NO_TRANSFORM, PASSTHROUGH, RANS, RANS_CLASSES, SCALES,
    SECTION_NAMES, TRANSFORM_NAMES, VERSION, Cursor,
)
from golfcli.artifact.manifest import Manifest, PEntry, decode_manifest
from golfcli.errors import FormatError, GolfError
from golfcli.io import read_bytes
from golfcli.qtensor import QuantizedModel, QuantizedTensor, dtype_from_name, grid_max

HEADER_BYTES = len(MAGIC) + 2  # magic, version, section count


@dataclass
class Section:
    """One entry of the section table, with its payload."""

    kind: int
    codec: int
    transform: int
    raw_bytes: int
    payload: memoryview

    @property
    def name(self) -> str:
        return SECTION_NAMES[self.kind]


def is_artifact(path: str | Path) -> bool:
    """True when `path` is a file that starts with the artifact magic (nothing else is checked)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def parse_container(data: bytes) -> list[Section]:
    """Check magic, version and checksum, and split the file into its sections (not decoded)."""
    if len(data) < len(MAGIC) or data[:len(MAGIC)] != MAGIC:
        raise FormatError("not a golf artifact (wrong magic bytes)")
    if len(data) < HEADER_BYTES + CHECKSUM_BYTES:
        raise FormatError("artifact is truncated (shorter than its header)")
    if data[len(MAGIC)] != VERSION:
        raise FormatError(f"unsupported artifact format version {data[len(MAGIC)]} (this golf reads {VERSION})")
    body = memoryview(data)[:-CHECKSUM_BYTES]
    stored_crc = int.from_bytes(data[-CHECKSUM_BYTES:], "little")
    if zlib.crc32(body) != stored_crc:
        raise FormatError("artifact checksum mismatch (the file is damaged or truncated)")
    cur = Cursor(body, "artifact header")
    cur.take(len(MAGIC) + 1)
    count = cur.u8()
    if not 1 <= count <= MAX_SECTIONS:
        raise FormatError(f"artifact declares {count} sections (1..{MAX_SECTIONS} allowed)")
    table = []
    for _ in range(count):
        kind, codec, transform = cur.u8(), cur.u8(), cur.u8()
        stored = cur.varint(len(data))
        raw = cur.varint(MAX_SECTION_BYTES)
        if kind not in SECTION_NAMES or codec not in CODEC_NAMES or transform not in TRANSFORM_NAMES:
            raise FormatError(f"artifact section table holds an unknown kind/codec/transform "
                              f"({kind}/{codec}/{transform})")
        table.append((kind, codec, transform, stored, raw))
    kinds = [t[0] for t in table]
    if kinds[0] != MANIFEST or kinds != sorted(set(kinds)):
        raise FormatError("artifact sections are missing the manifest, repeated or out of order")
    if sum(t[3] for t in table) != cur.remaining():
        raise FormatError(f"artifact section sizes add up to {sum(t[3] for t in table)} bytes, "
                          f"the file holds {cur.remaining()}")
    return [Section(kind, codec, transform, raw, cur.take(stored)) for kind, codec, transform, stored, raw in table]


def _passthrough_groups(entries: list[PEntry]) -> tuple[list[PEntry], list[tuple[int, int]]]:
    """Passthrough byte layout: tensors grouped by element size (ascending), manifest order inside."""
    ordered = sorted(entries, key=lambda p: ITEMSIZE[p.stored])
    groups: dict[int, int] = {}
    for p in ordered:
        groups[ITEMSIZE[p.stored]] = groups.get(ITEMSIZE[p.stored], 0) + p.nbytes
    return ordered, [(n, k) for k, n in groups.items()]


def expected_sections(man: Manifest) -> dict[int, int]:
    """Section kind → decoded byte count, as the manifest implies."""
    out = {}
    if man.quantized:
        out[CODES] = sum(q.numel for q in man.quantized)
        out[SCALES] = 2 * sum(q.rows for q in man.quantized)
    if man.passthrough:
        out[PASSTHROUGH] = sum(p.nbytes for p in man.passthrough)
    return out


def _section_bytes(sec: Section) -> bytes:
    return codecs.decompress(sec.codec, sec.payload, sec.raw_bytes, sec.name)


def read_manifest(sections: list[Section]) -> Manifest:
    """The manifest of an artifact's parsed sections (its config, meta and entries); nothing else is decoded."""
    head = sections[0]
    if head.codec in ENTROPY_CODECS or head.transform != NO_TRANSFORM or head.raw_bytes > MAX_MANIFEST_BYTES:
        raise FormatError("artifact manifest section has an impossible codec, transform or size")
    return decode_manifest(_section_bytes(head))


def decode_artifact(data: bytes) -> QuantizedModel:
    """The QuantizedModel an artifact's bytes hold (FormatError without a path on any damage)."""
    sections = parse_container(data)
    man = read_manifest(sections)
    wanted = expected_sections(man)
    found = {s.kind: s for s in sections[1:]}
    if set(found) != set(wanted):
        raise FormatError(f"artifact sections {sorted(SECTION_NAMES[k] for k in found)} do not match its "
                          f"manifest, which needs {sorted(SECTION_NAMES[k] for k in wanted)}")
    for kind, size in wanted.items():
        if found[kind].raw_bytes != size:
            raise FormatError(f"artifact section {SECTION_NAMES[kind]} declares {found[kind].raw_bytes} bytes, "
                              f"its manifest implies {size}")
    model = QuantizedModel(config=man.config, meta=man.meta)

    codes: dict[str, np.ndarray] = {}
    if man.quantized:
        sec = found[CODES]
        entries = man.quantized
        if sec.transform != NO_TRANSFORM:
            raise FormatError(f"artifact section {sec.name} has a byte transform codes never use")
        if sec.codec == RANS:
            arrays = decode_codes(sec.payload, [q.numel for q in entries], sec.name)
        elif sec.codec == RANS_CLASSES:
            shapes = [(q.rows, q.numel // q.rows if q.rows else 0) for q in entries]
            arrays = decode_classed_codes(sec.payload, shapes, sec.name)
        else:
            flat = np.frombuffer(_section_bytes(sec), dtype=np.int8)
            bounds = np.cumsum([0] + [q.numel for q in entries])
            arrays = [flat[bounds[i]:bounds[i + 1]] for i in range(len(entries))]
        for q, arr in zip(entries, arrays):
            if arr.size and int(np.abs(arr.astype(np.int16)).max()) > grid_max(q.bits):
                raise FormatError(f"artifact codes of {q.name!r} leave the int{q.bits} grid")
            codes[q.name] = arr

    if man.quantized:
        sec = found[SCALES]
        if sec.codec in ENTROPY_CODECS:
            raise FormatError("artifact scales section cannot use a rANS codec")
        raw = _section_bytes(sec)
        if sec.transform == BYTE_PLANES:
            raw = codecs.from_planes(raw, [(len(raw), 2)])
        scales = np.frombuffer(raw, dtype="<f2")
        pos = 0
        for q in man.quantized:
            cols = q.numel // q.rows if q.rows else 0
            model.quantized[q.name] = QuantizedTensor(
                codes=torch.from_numpy(codes[q.name].astype(np.int8)).reshape(q.rows, cols),
                scales=torch.from_numpy(scales[pos:pos + q.rows].astype(np.float16)),
                bits=q.bits, shape=tuple(q.shape), dtype=q.dtype, role=q.role,
            )
            pos += q.rows

    if man.passthrough:
        sec = found[PASSTHROUGH]
        if sec.codec in ENTROPY_CODECS:
            raise FormatError("artifact passthrough section cannot use a rANS codec")
        ordered, groups = _passthrough_groups(man.passthrough)
        raw = _section_bytes(sec)
        if sec.transform == BYTE_PLANES:
            raw = codecs.from_planes(raw, groups)
        pos = 0
        tensors = {}
        for p in ordered:
            chunk = raw[pos:pos + p.nbytes]
            pos += p.nbytes
            dtype = dtype_from_name(p.stored)
            if math.prod(p.shape) == 0:
                tensors[p.name] = torch.empty(p.shape, dtype=dtype)
            else:
                tensors[p.name] = torch.frombuffer(bytearray(chunk), dtype=dtype).reshape(p.shape)
        for p in man.passthrough:
            model.passthrough[p.name] = tensors[p.name]
            model.passthrough_dtypes[p.name] = p.dtype
    return model


def read_artifact(path: str | Path) -> QuantizedModel:
    """Load an artifact file into the QuantizedModel it was packed from, bit for bit.

    Every kind of damage (wrong magic or version, checksum mismatch, truncation, impossible
    sizes, undecodable payloads) raises one FormatError naming the file.
    """
    data = read_bytes(path, "artifact")
    try:
        return decode_artifact(data)
    except GolfError as exc:
        raise FormatError(exc.args[0] if exc.args else "damaged artifact", path) from None
    except (MemoryError, RecursionError, OverflowError, ValueError, IndexError, KeyError, TypeError,
            RuntimeError) as exc:  # a safety net: the checks above should have caught the damage
        raise FormatError(f"damaged artifact ({type(exc).__name__}: {exc})", path) from None
