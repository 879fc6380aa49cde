"""Hardening: thousands of damaged artifacts each give one clean FormatError — no crash, hang or bloat.

Two kinds of damage: plain (truncation, bit flips, random bytes, wrong magic/version), which the
checksum or header checks must reject; and forged (damage with the CRC recomputed, or crafted
section tables and manifests declaring huge sizes), which the deeper validation must reject —
or, where the damage happens to leave a well-formed file, decode without any other exception.
"""

from __future__ import annotations

import random
import tracemalloc
import zlib

import pytest

from golfcli.artifact import pack_bytes
from golfcli.artifact.codecs import decompress
from golfcli.artifact.format import MAGIC, Cursor, write_varint
from golfcli.artifact.manifest import decode_manifest, encode_manifest
from golfcli.artifact.reader import decode_artifact, parse_container
from golfcli.errors import FormatError
from golfcli.qtensor import QuantizedModel
from test_artifact import make_model

SMALL = [
    ("blocks.0.attn.c_q.weight", (12, 8), 6, "gauss"),
    ("blocks.0.mlp.fc.weight", (16, 8), 5, "laplace"),
    ("tok_emb.weight", (10, 8), 8, "gauss"),
    ("head.weight", (3, 2, 2), 7, "laplace"),
]


@pytest.fixture(scope="module", params=["rans", "rans-classes"])
def blob(request) -> bytes:
    # Few steps per lane so the rANS part has several lanes and decodes in microseconds.
    data, report = pack_bytes(make_model(5, SMALL), request.param, log2_steps=3)
    assert report["codecs"]["codes"] == request.param
    return data


def _seal(body: bytes) -> bytes:
    return body + zlib.crc32(body).to_bytes(4, "little")


def _assemble(entries: list[tuple[int, int, int, int, int, bytes]], version: int = 1) -> bytes:
    """Container bytes from (kind, codec, transform, stored_len, raw_len, payload) entries."""
    head = bytearray(MAGIC) + bytes([version, len(entries)])
    for kind, codec, tr, stored, raw, _ in entries:
        head += bytes([kind, codec, tr])
        write_varint(head, stored)
        write_varint(head, raw)
    return _seal(bytes(head) + b"".join(e[5] for e in entries))


def _entries(data: bytes) -> list[list]:
    return [[s.kind, s.codec, s.transform, len(s.payload), s.raw_bytes, bytes(s.payload)]
            for s in parse_container(data)]


def _boundaries(data: bytes) -> list[int]:
    cur = Cursor(data, "t")
    cur.take(len(MAGIC) + 2)
    marks = [0, len(MAGIC), len(MAGIC) + 1, len(MAGIC) + 2]
    for s in parse_container(data):
        cur.take(3)
        cur.varint()
        cur.varint()
        marks.append(cur.pos)
    pos = cur.pos
    for s in parse_container(data):
        pos += len(s.payload)
        marks.append(pos)
    marks.append(len(data))
    return sorted({m + d for m in marks for d in (-1, 0, 1) if 0 <= m + d < len(data)})


def plain_damage(data: bytes, rng: random.Random) -> list[tuple[str, bytes]]:
    cases = [(f"truncate@{n}", data[:n]) for n in range(len(data))]  # every prefix, boundaries included
    cases += [(f"truncate-boundary@{n}", data[:n]) for n in _boundaries(data)]
    for i in range(700):
        b = bytearray(data)
        for _ in range(rng.choice((1, 1, 2, 3, 8))):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        cases.append((f"bitflip#{i}", bytes(b)))
    for i in range(150):
        b = bytearray(data)
        start = rng.randrange(len(b))
        b[start:start + rng.randint(1, 64)] = rng.randbytes(rng.randint(1, 64))
        cases.append((f"random-run#{i}", bytes(b)))
    for i in range(50):
        cases.append((f"random-file#{i}", rng.randbytes(rng.randint(0, 4 * len(data)))))
        cases.append((f"magic+random#{i}", MAGIC + rng.randbytes(rng.randint(0, len(data)))))
    cases.append(("wrong-magic", b"GOLF" + data[4:]))
    cases.append(("appended", data + b"\0"))
    cases.append(("empty", b""))
    return cases


def forged_damage(data: bytes, rng: random.Random) -> list[tuple[str, bytes]]:
    """Damage behind a valid checksum."""
    body = data[:-4]
    cases = [(f"version={v}", _seal(body[:4] + bytes([v]) + body[5:])) for v in (0, 2, 255)]
    for i in range(500):
        b = bytearray(body)
        for _ in range(rng.choice((1, 1, 2, 4))):
            b[rng.randrange(4, len(b))] ^= 1 << rng.randrange(8)
        cases.append((f"forged-bitflip#{i}", _seal(bytes(b))))
    entries = _entries(data)
    for idx in range(len(entries)):
        for field, value in ((3, 1 << 40), (4, 1 << 40), (4, (1 << 30) - 1), (4, 0), (3, 0), (1, 99), (2, 7), (0, 9)):
            e = [list(x) for x in entries]
            e[idx][field] = value
            cases.append((f"section{idx}.field{field}={value}", _assemble(e)))
    cases.append(("no-sections", _assemble([])))
    cases.append(("duplicated-section", _assemble(entries + [entries[-1]])))
    cases.append(("missing-section", _assemble(entries[:-1])))
    cases.append(("reordered", _assemble([entries[0], *entries[1:][::-1]])))
    # Manifests that declare huge tensors, with every size field made consistent where possible.
    man_entry = entries[0]
    # The manifest is re-encoded raw (codec 0), so any declared size is reachable.
    man = decode_manifest(decompress(man_entry[1], man_entry[5], man_entry[4], "manifest"))
    for dims in [(1 << 14, 1 << 14), (1 << 20, 1 << 8), (1 << 28, 1), (1 << 31, 1 << 31), (0, 5)]:
        for target in ("quantized", "passthrough"):
            m = decode_manifest(encode_manifest(man))
            entry = getattr(m, target)[0]
            entry.shape = dims
            if target == "quantized":
                entry.rows = dims[0]
            raw = encode_manifest(m)
            e = [list(x) for x in entries]
            e[0] = [0, 0, 0, len(raw), len(raw), raw]
            cases.append((f"manifest-{target}-{dims}", _assemble(e)))
            for k in range(1, len(e)):  # also claim the matching decoded size in the section table
                e2 = [list(x) for x in e]
                e2[k][4] = min(1 << 40, dims[0] * dims[1] * 4)
                cases.append((f"manifest-{target}-{dims}-section{k}", _assemble(e2)))
    return cases


def test_thousands_of_damaged_artifacts_fail_cleanly(blob):
    rng = random.Random(1234)
    plain = plain_damage(blob, rng)
    forged = forged_damage(blob, rng)
    assert len(plain) + len(forged) >= 2000
    tracemalloc.start()
    decoded_anyway = 0
    for label, data in plain + forged:
        try:
            result = decode_artifact(data)
        except FormatError as exc:
            assert str(exc) and "\n" not in str(exc), label
        else:
            # Only forged damage may leave a decodable file (e.g. a flipped bit inside a brotli
            # literal); plain damage never passes the checksum.
            assert (label, data) in forged and isinstance(result, QuantizedModel), label
            decoded_anyway += 1
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 200 * 2**20, f"peak traced memory {peak / 2**20:.0f} MiB"
    assert decoded_anyway < len(forged) // 4  # the deep checks reject most forged damage
    assert decode_artifact(blob) is not None  # the undamaged file still reads
