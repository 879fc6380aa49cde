"""A codes section under the rANS codecs: frequency tables, lane states, 16-bit words.

Two payloads share one layout (docs/ARTIFACT.md §4):

    u8 prec            tables sum to 2^prec
    u8 log2_steps      lanes per tensor = ceil(n / 2^log2_steps)
    u8 side codec, varint stored length, varint raw length, side bytes
    u32 state of every lane (little-endian), lanes in rANS layout order
    u16 words (little-endian), to the end of the payload

The side bytes, before the general codec, differ:

- codec `rans` (order-0): one table per tensor, in section order;
- codec `rans-classes`: varint table count, the tables, then per tensor a u8 axis (1 = rows,
  2 = columns) and one varint table id per row or column (encoded by golfcli.artifact.classes,
  which the decoder does not need).

A table is varint zigzag(lowest code), varint symbol count, then one varint frequency per
symbol from the lowest code up (0 = never occurs).
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
ROWS, COLUMNS = 1, 2  # the line axis of a tensor under rans-classes


def symbol_tables(axis: int, line_ids: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Row-major table ids of a rows × cols tensor whose rows (or columns) use `line_ids`."""
    rows, cols = shape
    ids = line_ids.astype(np.int16, copy=False)
    return np.repeat(ids, cols) if axis == ROWS else np.tile(ids, rows)


def table_bytes(tables: list[rans.Table]) -> bytes:
    out = bytearray()
    for tab in tables:
        write_varint(out, zigzag(tab.lo))
        write_varint(out, int(tab.freqs.size))
        for f in tab.freqs.tolist():
            write_varint(out, f)
    return bytes(out)


def _read_table(raw: Cursor, prec: int, what: str) -> rans.Table:
    lo = unzigzag(raw.varint(1 << 16))
    nsym = raw.varint(MAX_SYMBOLS)
    freqs = np.array([raw.varint(1 << prec) for _ in range(nsym)], dtype=np.int64)
    if nsym and int(freqs.sum()) != 1 << prec:
        raise FormatError(f"{what}: a frequency table does not sum to 2^{prec}")
    if lo < -128 or lo + nsym > 128:
        raise FormatError(f"{what}: a frequency table covers codes outside int8")
    return rans.Table(lo, freqs)


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


def payload_bytes(prec: int, log2_steps: int, side: bytes, states: np.ndarray, words: np.ndarray) -> tuple[bytes, int]:
    """(payload bytes, bytes of its header and side block)."""
    codec, blob = _smallest(side)
    head = bytearray([prec, log2_steps, codec])
    write_varint(head, len(blob))
    write_varint(head, len(side))
    return bytes(head) + blob + states.astype("<u4").tobytes() + words.astype("<u2").tobytes(), len(head) + len(blob)


def byte_shares(sizes: list[int], tensor_words: list[int], side_bytes: int, side_weights: list[float],
            log2_steps: int) -> list[float]:
    """Each tensor's bytes: its words and lane states exactly, the side block by `side_weights`."""
    steps = 1 << log2_steps
    total = sum(side_weights) or 1.0
    return [2 * w + rans.STATE_BYTES * rans.lane_count(n, steps) + side_bytes * sw / total
            for n, w, sw in zip(sizes, tensor_words, side_weights)]


def encode_codes(codes: list[np.ndarray], prec: int = rans.DEFAULT_PREC,
                 log2_steps: int = LOG2_STEPS) -> tuple[bytes, list[float]]:
    """The order-0 rANS payload for a list of int8 code arrays (one per tensor, in section order),
    and each tensor's share of it in bytes (its words and lane states exactly, the table block and
    header apportioned by raw table size); the shares add up to the payload size."""
    tables, _ = build_tables(codes, prec)
    states, words, tensor_words = rans.encode(codes, tables, prec, 1 << log2_steps)
    payload, side_bytes = payload_bytes(prec, log2_steps, table_bytes(tables), states, words)
    weights = [float(len(table_bytes([t]))) for t in tables]
    return payload, byte_shares([c.size for c in codes], tensor_words, side_bytes, weights, log2_steps)


def _read_head(payload: bytes | memoryview, sizes: list[int], lines: int, what: str
               ) -> tuple[int, int, Cursor, Cursor]:
    """(prec, steps, side cursor, rest cursor) of a rANS payload whose side block may hold up to
    `lines` table ids besides the tables."""
    cur = Cursor(payload, what)
    prec, log2_steps, codec = cur.u8(), cur.u8(), cur.u8()
    if not 1 <= prec <= rans.MAX_PREC or not 0 <= log2_steps <= MAX_LOG2_STEPS:
        raise FormatError(f"{what}: bad rANS parameters (precision {prec}, steps 2^{log2_steps})")
    stored = cur.varint(cur.remaining())
    limit = (rans.MAX_TABLES + len(sizes)) * (2 * 10 + MAX_SYMBOLS * 3) + 3 * lines + len(sizes) + 10
    raw_len = cur.varint(limit)
    side = Cursor(decompress(codec, cur.take(stored), raw_len, f"{what} tables"), f"{what} tables")
    return prec, 1 << log2_steps, side, cur


def _decode_words(cur: Cursor, sizes: list[int], tables: list[rans.Table], prec: int, steps: int, what: str,
                  lines: list[tuple[int, np.ndarray, tuple[int, int]]] | None = None) -> list[np.ndarray]:
    """Decode the lane states and words; `lines` = per tensor (axis, line table ids, shape) under
    rans-classes, expanded to per-code table ids only once the payload's size checks out."""
    lanes = sum(rans.lane_count(n, steps) for n in sizes)
    state_bytes = lanes * rans.STATE_BYTES
    if cur.remaining() < state_bytes or (cur.remaining() - state_bytes) % 2:
        raise FormatError(f"{what}: payload size does not fit {lanes} lane states and 16-bit words")
    states = np.frombuffer(cur.take(state_bytes), dtype="<u4")
    words = np.frombuffer(cur.take(cur.remaining()), dtype="<u2")
    table_ids = None if lines is None else [symbol_tables(axis, ids, shape) for axis, ids, shape in lines]
    try:
        return rans.decode(states, words, sizes, tables, prec, steps, table_ids)
    except rans.RansError as exc:
        raise FormatError(f"{what}: {exc}") from None


def decode_codes(payload: bytes | memoryview, sizes: list[int], what: str) -> list[np.ndarray]:
    """Inverse of `encode_codes` given each tensor's code count; FormatError on any inconsistency."""
    prec, steps, side, cur = _read_head(payload, sizes, 0, what)
    tables = []
    for n in sizes:
        tab = _read_table(side, prec, what)
        if n and not tab.freqs.size:
            raise FormatError(f"{what}: a frequency table does not sum to 2^{prec}")
        tables.append(tab)
    side.done()
    return _decode_words(cur, sizes, tables, prec, steps, what)


def decode_classed_codes(payload: bytes | memoryview, shapes: list[tuple[int, int]], what: str) -> list[np.ndarray]:
    """Inverse of `encode_classed_codes` given each tensor's (rows, cols); FormatError on damage."""
    sizes = [r * c for r, c in shapes]
    prec, steps, side, cur = _read_head(payload, sizes, sum(max(r, c) for r, c in shapes), what)
    n_tables = side.varint(rans.MAX_TABLES)
    tables = [_read_table(side, prec, what) for _ in range(n_tables)]
    lines = []
    for shape in shapes:
        axis = side.u8()
        if axis not in (ROWS, COLUMNS):
            raise FormatError(f"{what}: a tensor's line axis is {axis}, not rows (1) or columns (2)")
        n_lines = shape[0] if axis == ROWS else shape[1]
        ids = np.array([side.varint(n_tables - 1) for _ in range(n_lines)], dtype=np.int32)
        if ids.size and any(not tables[t].freqs.size for t in np.unique(ids).tolist()):
            raise FormatError(f"{what}: a tensor's lines use an empty frequency table")
        lines.append((axis, ids, shape))
    side.done()
    return _decode_words(cur, sizes, tables, prec, steps, what, lines)


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
