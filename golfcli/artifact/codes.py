"""A codes section under the rANS codec: per-tensor frequency tables, lane states, 16-bit words.

Payload layout (docs/ARTIFACT.md §4):

    u8 prec            tables sum to 2^prec
    u8 log2_steps      lanes per tensor = ceil(n / 2^log2_steps)
    u8 table codec, varint stored length, varint raw length, table bytes
        raw tables, per tensor in section order: varint zigzag(lowest code), varint symbol count,
        then one varint frequency per symbol from the lowest code up (0 = never occurs)
    u32 state of every lane (little-endian), lanes in rANS layout order
    u16 words (little-endian), to the end of the payload
"""

from __future__ import annotations

import numpy as np

from golfcli.artifact import rans
from golfcli.artifact.codecs import GENERAL_CODECS, compress, decompress
from golfcli.artifact.format import RAW, Cursor, unzigzag, varint_size, write_varint, zigzag
from golfcli.errors import FormatError

LOG2_STEPS = 13
MAX_LOG2_STEPS = 16  # bounds the decode loop at 65,536 steps
MAX_SYMBOLS = 256


def _table_bytes(tables: list[rans.Table]) -> bytes:
    out = bytearray()
    for tab in tables:
        write_varint(out, zigzag(tab.lo))
        write_varint(out, int(tab.freqs.size))
        for f in tab.freqs.tolist():
            write_varint(out, f)
    return bytes(out)


def _smallest(data: bytes) -> tuple[int, bytes]:
    """(codec, bytes) of the smallest encoding of `data`; ties go to the lower codec id."""
    best = (RAW, data)
    for codec in GENERAL_CODECS:
        packed = compress(codec, data)
        if len(packed) < len(best[1]):
            best = (codec, packed)
    return best


def build_tables(codes: list[np.ndarray], prec: int = rans.DEFAULT_PREC) -> tuple[list[rans.Table], list[np.ndarray]]:
    """Quantized frequency tables and raw counts of each code array."""
    tables, counts = [], []
    for c in codes:
        lo, cnt = rans.symbol_counts(c)
        tables.append(rans.Table(lo, rans.quantize_counts(cnt, prec)))
        counts.append(cnt)
    return tables, counts


def encode_codes(codes: list[np.ndarray], prec: int = rans.DEFAULT_PREC,
                 log2_steps: int = LOG2_STEPS) -> tuple[bytes, list[float]]:
    """The rANS payload for a list of int8 code arrays (one per tensor, in section order), and
    each tensor's share of it in bytes (its words and lane states exactly, the table block and
    header apportioned by raw table size); the shares add up to the payload size."""
    tables, _ = build_tables(codes, prec)
    states, words, tensor_words = rans.encode(codes, tables, prec, 1 << log2_steps)
    raw_tables = _table_bytes(tables)
    codec, table_blob = _smallest(raw_tables)
    head = bytearray([prec, log2_steps, codec])
    write_varint(head, len(table_blob))
    write_varint(head, len(raw_tables))
    payload = bytes(head) + table_blob + states.astype("<u4").tobytes() + words.astype("<u2").tobytes()
    steps = 1 << log2_steps
    overhead = (len(head) + len(table_blob)) / max(1, len(raw_tables))
    shares = [2 * w + rans.STATE_BYTES * rans.lane_count(c.size, steps) + overhead * len(_table_bytes([t]))
              for c, t, w in zip(codes, tables, tensor_words)]
    return payload, shares


def decode_codes(payload: bytes | memoryview, sizes: list[int], what: str) -> list[np.ndarray]:
    """Inverse of `encode_codes` given each tensor's code count; FormatError on any inconsistency."""
    cur = Cursor(payload, what)
    prec, log2_steps, codec = cur.u8(), cur.u8(), cur.u8()
    if not 1 <= prec <= rans.MAX_PREC or not 0 <= log2_steps <= MAX_LOG2_STEPS:
        raise FormatError(f"{what}: bad rANS parameters (precision {prec}, steps 2^{log2_steps})")
    stored = cur.varint(cur.remaining())
    raw_len = cur.varint(len(sizes) * (2 * 10 + MAX_SYMBOLS * 3))
    raw = Cursor(decompress(codec, cur.take(stored), raw_len, f"{what} tables"), f"{what} tables")
    tables = []
    for n in sizes:
        lo = unzigzag(raw.varint(1 << 16))
        nsym = raw.varint(MAX_SYMBOLS)
        freqs = np.array([raw.varint(1 << prec) for _ in range(nsym)], dtype=np.int64)
        if n and (nsym == 0 or int(freqs.sum()) != 1 << prec):
            raise FormatError(f"{what}: a frequency table does not sum to 2^{prec}")
        if lo < -128 or lo + nsym > 128:
            raise FormatError(f"{what}: a frequency table covers codes outside int8")
        tables.append(rans.Table(lo, freqs))
    raw.done()
    steps = 1 << log2_steps
    lanes = sum(rans.lane_count(n, steps) for n in sizes)
    state_bytes = lanes * rans.STATE_BYTES
    if cur.remaining() < state_bytes or (cur.remaining() - state_bytes) % 2:
        raise FormatError(f"{what}: payload size does not fit {lanes} lane states and 16-bit words")
    states = np.frombuffer(cur.take(state_bytes), dtype="<u4")
    words = np.frombuffer(cur.take(cur.remaining()), dtype="<u2")
    try:
        return rans.decode(states, words, sizes, tables, prec, steps)
    except rans.RansError as exc:
        raise FormatError(f"{what}: {exc}") from None


def estimate_packed_bytes(codes) -> float:
    """Bytes the rANS codec spends on one tensor's codes: the coded bits under its quantized
    frequency table, plus the table, plus the lane states (a torch tensor or numpy array)."""
    arr = codes.detach().cpu().numpy() if hasattr(codes, "detach") else np.asarray(codes)
    lo, counts = rans.symbol_counts(arr)
    if not counts.size:
        return 0.0
    freqs = rans.quantize_counts(counts, rans.DEFAULT_PREC)
    table = varint_size(zigzag(lo)) + varint_size(counts.size) + sum(varint_size(int(f)) for f in freqs)
    lanes = rans.lane_count(int(arr.size), 1 << LOG2_STEPS)
    # Each lane ends holding ~16 bits beyond its data (its initial state) plus half a word of slack.
    return rans.coded_bits(counts, freqs, rans.DEFAULT_PREC) / 8 + table + lanes * 3.0
