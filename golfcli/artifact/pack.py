"""Packing: a QuantizedModel → artifact bytes, choosing the smallest codec per section, plus a report.

Sections: manifest, codes by role (attn, mlp, embed, other), fp16 scales, passthrough tensors.
With codec "auto" every section keeps whichever candidate is smallest: rANS or a general codec
for codes; raw/brotli/zstd/lzma with or without byte-plane splitting for the rest. General
codecs on a large codes section are first tried on an evenly spread sample (`sample_bytes`) and
run in full only when the sample says they could beat rANS — brotli-11 on 30 MB of codes takes a
minute and, on independent codes, cannot beat an order-0 coder. `sample_bytes=0` tries all in full.
"""

from __future__ import annotations

import math
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from golfcli.artifact import codecs, rans
from golfcli.artifact.classes import encode_classed_codes
from golfcli.artifact.codes import LOG2_STEPS, build_tables, encode_codes
from golfcli.artifact.format import (
    BYTE_PLANES, CODES, CODEC_IDS, CODEC_NAMES, DTYPES, ITEMSIZE, MAGIC, MANIFEST, NO_TRANSFORM,
    PASSTHROUGH, RANS, RANS_CLASSES, RAW, ROLES, SCALES, SECTION_NAMES, TRANSFORM_NAMES, VERSION, write_varint,
)
from golfcli.artifact.manifest import Manifest, PEntry, QEntry, encode_manifest
from golfcli.artifact.reader import _passthrough_groups
from golfcli import console
from golfcli.config.artifact import PACK_CODECS
from golfcli.errors import GolfError
from golfcli.io import write_bytes_atomic
from golfcli.qtensor import QuantizedModel, dtype_name, grid_max

CODECS = PACK_CODECS
DEFAULT_SAMPLE_BYTES = 1 << 20
SAMPLE_MARGIN = 1.0  # a sampled codec runs in full only when its estimate beats the best so far


class PackReport(dict):
    """What packing produced: sizes per section and per role, entropy bounds, codec winners.

    A plain dict (JSON-ready) with attribute-style access to its keys.
    """

    def __getattr__(self, key: str) -> Any:
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None


def _bad(name: str, message: str) -> GolfError:
    return GolfError(f"cannot pack tensor {name!r}: {message}")


def build_manifest(qm: QuantizedModel) -> tuple[Manifest, dict[str, np.ndarray], bytes, bytes]:
    """Validate `qm` and split it: (manifest, flat codes by name, scales bytes, passthrough bytes)."""
    man = Manifest(config=dict(qm.config or {}), meta=dict(qm.meta or {}))
    codes: dict[str, np.ndarray] = {}
    scales = []
    for name in sorted(qm.quantized):
        q = qm.quantized[name]
        if q.role not in ROLES:
            raise _bad(name, f"role {q.role!r} is not one of {', '.join(ROLES)}")
        if q.dtype not in DTYPES:
            raise _bad(name, f"dtype {q.dtype!r} is not supported")
        c, s = q.codes, q.scales
        if c.dtype != torch.int8 or c.ndim != 2:
            raise _bad(name, f"codes must be a 2-D int8 tensor, found {c.dtype} {tuple(c.shape)}")
        shape = tuple(int(d) for d in q.shape)
        if c.numel() != math.prod(shape) or s.dtype != torch.float16 or s.shape != (c.shape[0],):
            raise _bad(name, f"codes {tuple(c.shape)} / scales {tuple(s.shape)} {s.dtype} do not fit shape {shape}")
        arr = c.detach().cpu().contiguous().numpy().reshape(-1)
        if arr.size and int(np.abs(arr.astype(np.int16)).max()) > grid_max(q.bits):
            raise _bad(name, f"codes leave the int{q.bits} grid ±{grid_max(q.bits)}")
        man.quantized.append(QEntry(name, q.role, int(q.bits), q.dtype, shape, int(c.shape[0])))
        codes[name] = arr
        scales.append(s.detach().cpu().contiguous().numpy().astype("<f2").tobytes())
    for name in sorted(qm.passthrough):
        t = qm.passthrough[name].detach().cpu().contiguous()
        stored, dtype = dtype_name(t.dtype), qm.passthrough_dtypes.get(name, dtype_name(t.dtype))
        if stored not in DTYPES or dtype not in DTYPES:
            raise _bad(name, f"dtype {stored}/{dtype} is not supported")
        if name in qm.quantized:
            raise _bad(name, "it is both quantized and passthrough")
        man.passthrough.append(PEntry(name, stored, dtype, tuple(int(d) for d in t.shape)))
    ordered, _ = _passthrough_groups(man.passthrough)
    passthrough = b"".join(_tensor_bytes(qm.passthrough[p.name]) for p in ordered)
    return man, codes, b"".join(scales), passthrough


def _tensor_bytes(t: torch.Tensor) -> bytes:
    flat = t.detach().cpu().contiguous().reshape(-1)
    if flat.numel() == 0:
        return b""
    return flat.view(torch.uint8).numpy().tobytes()


def _sample_ranges(total: int, size: int, pieces: int = 8) -> list[tuple[int, int]]:
    """`pieces` evenly spread [start, end) ranges of a buffer of `total` bytes, about `size` in all."""
    step, part = total // pieces, size // pieces
    return [(i * step, i * step + part) for i in range(pieces)]


def _range_cost(ranges: list[tuple[int, int]], sizes: list[int], shares: list[float]) -> float:
    """Bytes an entropy coder spends on these byte ranges of the concatenated codes, taking each
    tensor's share as spread evenly over its codes."""
    bounds = np.cumsum([0] + sizes)
    cost = 0.0
    for a, b in ranges:
        for i, n in enumerate(sizes):
            overlap = min(b, bounds[i + 1]) - max(a, bounds[i])
            if overlap > 0 and n:
                cost += shares[i] * overlap / n
    return cost


def _best_general(data: bytes, codec: str, groups: list[tuple[int, int]] | None) -> tuple[int, int, bytes, dict]:
    """(codec id, transform, payload, candidates) of the smallest general encoding of `data`.

    `groups` enables byte-plane candidates (the element runs of `data`)."""
    ids = [RAW, *codecs.GENERAL_CODECS] if codec in ("auto", "rans") else [CODEC_IDS[codec]]
    transforms = [NO_TRANSFORM] + ([BYTE_PLANES] if groups else [])
    best = None
    candidates = {}
    for tr in transforms:
        src = codecs.to_planes(data, groups) if tr == BYTE_PLANES else data
        for cid in ids:
            out = codecs.compress(cid, src)
            key = CODEC_NAMES[cid] + ("+planes" if tr == BYTE_PLANES else "")
            candidates[key] = {"bytes": len(out), "sampled": False}
            if best is None or len(out) < len(best[2]):
                best = (cid, tr, out)
    return (*best, candidates)


def _pack_codes(arrays: list[np.ndarray], shapes: list[tuple[int, int]], bits: list[int], codec: str,
                sample_bytes: int, log2_steps: int) -> tuple[int, bytes, dict, list[float] | None]:
    """(codec id, payload, candidates, per-tensor byte shares under a rANS codec or None) for the codes."""
    candidates: dict[str, dict] = {}
    best: tuple[int, bytes, list[float] | None] | None = None
    entropy = {"auto": ("rans", "rans-classes"), "rans": ("rans",), "rans-classes": ("rans-classes",)}.get(codec, ())
    for name in entropy:
        if name == "rans":
            if len(arrays) > rans.MAX_TABLES:
                if codec == "rans":
                    raise GolfError(f"codec rans codes at most {rans.MAX_TABLES} tensors, this model has "
                                    f"{len(arrays)} (use --codec rans-classes or auto)")
                continue
            payload, shares = encode_codes(arrays, log2_steps=log2_steps)
        else:
            matrices = [a.reshape(shape) for a, shape in zip(arrays, shapes)]
            payload, shares = encode_classed_codes(matrices, bits, log2_steps=log2_steps)
        candidates[name] = {"bytes": len(payload), "sampled": False}
        if best is None or len(payload) < len(best[1]):
            best = (CODEC_IDS[name], payload, shares)
    if codec in ("rans", "rans-classes"):
        return best[0], best[1], candidates, best[2]
    raw = b"".join(a.astype(np.int8).tobytes() for a in arrays)
    if codec == "raw":
        return RAW, raw, {"raw": {"bytes": len(raw), "sampled": False}}, None
    ids = codecs.GENERAL_CODECS if codec == "auto" else (CODEC_IDS[codec],)
    sizes = [a.size for a in arrays]
    for cid in ids:
        name = CODEC_NAMES[cid]
        if best is not None and sample_bytes and len(raw) > sample_bytes:
            # Compare like with like: the codec on the sampled bytes against what the best entropy
            # coder spends on those same bytes, then scale that ratio to the whole section.
            ranges = _sample_ranges(len(raw), sample_bytes)
            piece = b"".join(raw[a:b] for a, b in ranges)
            ratio = len(codecs.compress(cid, piece)) / max(1.0, _range_cost(ranges, sizes, best[2]))
            estimate = ratio * len(best[1])
            candidates[name] = {"bytes": round(estimate), "sampled": True}
            if estimate >= len(best[1]) * SAMPLE_MARGIN:
                continue
        out = codecs.compress(cid, raw)
        candidates[name] = {"bytes": len(out), "sampled": False}
        if best is None or len(out) < len(best[1]):
            best = (cid, out, None)
    return best[0], best[1], candidates, best[2]


def pack_bytes(qm: QuantizedModel, codec: str = "auto", sample_bytes: int = DEFAULT_SAMPLE_BYTES,
               log2_steps: int = LOG2_STEPS) -> tuple[bytes, PackReport]:
    """The artifact bytes of `qm` and the report (nothing is written)."""
    if codec not in CODECS:
        raise GolfError(f"unknown codec {codec!r} (choose from {', '.join(CODECS)})")
    t0 = time.perf_counter()
    with console.progress(4, "packing") as bar:
        blob, report = _pack(qm, codec, sample_bytes, log2_steps, bar)
    report["seconds"] = round(time.perf_counter() - t0, 3)
    return blob, report


def _pack(qm: QuantizedModel, codec: str, sample_bytes: int, log2_steps: int, bar) -> tuple[bytes, PackReport]:
    man, codes, scales, passthrough = build_manifest(qm)
    sections: list[tuple[int, int, int, int, bytes, dict]] = []  # kind, codec, transform, raw, payload, cands
    tensor_rows = []
    roles: dict[str, dict[str, Any]] = {}
    if man.quantized:
        arrays = [codes[q.name] for q in man.quantized]
        tables, counts = build_tables(arrays)
        shapes = [(q.rows, q.numel // q.rows if q.rows else 0) for q in man.quantized]
        cid, payload, cands, shares = _pack_codes(arrays, shapes, [q.bits for q in man.quantized], codec,
                                                  sample_bytes, log2_steps)
        sections.append((CODES, cid, NO_TRANSFORM, sum(q.numel for q in man.quantized), payload, cands))
        total_bound = sum(rans.entropy_bits(c) for c in counts) / 8
        for i, (q, tab, cnt) in enumerate(zip(man.quantized, tables, counts)):
            h = rans.entropy_bits(cnt) / 8
            # Under a general codec, tensors get the codec's bytes in proportion to their bound.
            packed = shares[i] if shares is not None else len(payload) * (h / total_bound if total_bound else 0)
            tensor_rows.append({
                "name": q.name, "role": q.role, "bits": q.bits, "codes": q.numel,
                "entropy_bytes": round(h, 1), "bytes": round(packed, 1),
                "bits_per_code": round(8 * packed / q.numel, 4) if q.numel else 0.0,
                "ratio": round(packed / h, 5) if h else None,
            })
            r = roles.setdefault(q.role, {"tensors": 0, "codes": 0, "bytes": 0.0, "entropy_bound_bytes": 0.0})
            r["tensors"] += 1
            r["codes"] += q.numel
            r["bytes"] += packed
            r["entropy_bound_bytes"] += h
        for r in roles.values():
            r["ratio"] = round(r["bytes"] / r["entropy_bound_bytes"], 5) if r["entropy_bound_bytes"] else None
            r["bytes"] = round(r["bytes"])
            r["entropy_bound_bytes"] = round(r["entropy_bound_bytes"], 1)
    bar.advance()
    general = "auto" if codec in ("rans", "rans-classes") else codec
    if man.quantized:
        cid, tr, payload, cands = _best_general(scales, general, [(len(scales), 2)])
        sections.append((SCALES, cid, tr, len(scales), payload, cands))
    bar.advance()
    if man.passthrough:
        _, groups = _passthrough_groups(man.passthrough)
        cid, tr, payload, cands = _best_general(passthrough, general, groups)
        sections.append((PASSTHROUGH, cid, tr, len(passthrough), payload, cands))
    bar.advance()
    raw_manifest = encode_manifest(man)
    cid, tr, payload, cands = _best_general(raw_manifest, general, None)
    sections.insert(0, (MANIFEST, cid, tr, len(raw_manifest), payload, cands))
    bar.advance()

    head = bytearray(MAGIC) + bytes([VERSION, len(sections)])
    for kind, cid, tr, raw_len, payload, _ in sections:
        head += bytes([kind, cid, tr])
        write_varint(head, len(payload))
        write_varint(head, raw_len)
    body = bytes(head) + b"".join(s[4] for s in sections)
    blob = body + zlib.crc32(body).to_bytes(4, "little")

    by_kind = {s[0]: len(s[4]) for s in sections}
    codes_bytes = by_kind.get(CODES, 0)
    bound = sum(r["entropy_bound_bytes"] for r in roles.values())
    fp16_passthrough = sum(math.prod(p.shape) * (2 if p.dtype.startswith(("float", "bfloat")) else ITEMSIZE[p.stored])
                           for p in man.passthrough)
    reference = bound + len(scales) + fp16_passthrough
    report = PackReport(
        artifact_bytes=len(blob),
        codes_bytes=codes_bytes,
        entropy_bound_bytes=round(bound, 1),
        codes_ratio=codes_bytes / bound if bound else None,
        scales_bytes=by_kind.get(SCALES, 0),
        passthrough_bytes=by_kind.get(PASSTHROUGH, 0),
        manifest_bytes=by_kind[MANIFEST],
        container_bytes=len(head) + 4,
        reference_bytes=round(reference, 1),
        artifact_ratio=len(blob) / reference if reference else None,
        quantized_weights=sum(q.numel for q in man.quantized),
        codecs={SECTION_NAMES[k]: CODEC_NAMES[c] + ("+planes" if tr == BYTE_PLANES else "")
                for k, c, tr, *_ in sections},
        sections=[{"section": SECTION_NAMES[k], "codec": CODEC_NAMES[c], "transform": TRANSFORM_NAMES[tr],
                   "raw_bytes": raw, "bytes": len(p), "candidates": cands} for k, c, tr, raw, p, cands in sections],
        roles=roles,
        tensors=tensor_rows,
    )
    return blob, report


def write_artifact(qm: QuantizedModel, path: str | Path, codec: str = "auto",
                   sample_bytes: int = DEFAULT_SAMPLE_BYTES) -> PackReport:
    """Pack `qm` into an artifact file (written atomically) and return the PackReport."""
    blob, report = pack_bytes(qm, codec, sample_bytes)
    write_bytes_atomic(path, blob)
    report["path"] = str(path)
    return report
