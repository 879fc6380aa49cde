"""Interleaved rANS in numpy: order-0 entropy coding of many integer-code streams at once.

Every stream (one quantized tensor) is coded with frequency tables quantized to sum to 2^PREC:
its own one (order-0), or, given per-symbol table ids, any table of a shared list (the
context-classed coder in golfcli.artifact.classes picks one per row or column). Its
symbols are dealt round-robin onto `lanes` rANS coders (symbol i → lane i mod lanes, step
i // lanes), so all lanes of all streams advance together, one numpy operation per step.

Each lane keeps a 32-bit state x in [2^16, 2^32) and moves 16-bit words in and out:

    encode s (reverse order):  if x ≥ f_s·2^(32−PREC): emit x & 0xFFFF, x >>= 16
                               x = (x // f_s)·2^PREC + x mod f_s + c_s
    decode (forward order):    slot = x mod 2^PREC, s = symbol owning slot
                               x = f_s·(x >> PREC) + slot − c_s
                               if x < 2^16: x = x·2^16 + next word

Lanes are laid out stream after stream, streams sorted by lane length (longest first), so the
lanes still running at any step are a prefix of the lane array. The words of one step are
written in lane order, steps in decode order; every lane starts its encoding at x = 2^16, so a
decoder that ends with every state back at 2^16 and every word consumed has checked the stream.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np

STATE_LOW = 1 << 16  # lower bound of a normalized state; also every lane's initial state
WORD_BITS = 16
DEFAULT_PREC = 15  # frequency tables sum to 2^15
MAX_PREC = 16
DEFAULT_STEPS = 8192  # target symbols per lane: fewer lanes cost fewer state bytes, more steps cost time
STATE_BYTES = 4
MAX_TABLES = 512  # decode keeps 9 bytes per table slot: ≤ 512 · 2^16 slots (300 MB) whatever a file says
MAX_SPARE_CELLS = 1 << 28  # decode buffer cells allowed beyond 2 per symbol (lanes shorter than the longest)


class RansError(ValueError):
    """A stream that cannot be decoded: its words or states are inconsistent."""


@dataclass(frozen=True)
class Table:
    """A quantized order-0 model of one stream: symbols lo..lo+len(freqs)-1, freqs sum to 2^prec."""

    lo: int
    freqs: np.ndarray  # int64, zero for symbols that never occur

    @property
    def cum(self) -> np.ndarray:
        return (np.cumsum(self.freqs) - self.freqs).astype(np.int64)  # same length as freqs, even when empty


def symbol_counts(codes: np.ndarray) -> tuple[int, np.ndarray]:
    """(lowest code, counts of lo..hi) of an integer array (empty → (0, [])."""
    if codes.size == 0:
        return 0, np.zeros(0, dtype=np.int64)
    flat = codes.reshape(-1).astype(np.int64)
    lo, hi = int(flat.min()), int(flat.max())
    return lo, np.bincount(flat - lo, minlength=hi - lo + 1).astype(np.int64)


def quantize_counts(counts: np.ndarray, prec: int = DEFAULT_PREC) -> np.ndarray:
    """Frequencies summing to 2^prec, ≥ 1 for every symbol that occurs, close in KL to `counts`.

    Start from rounded proportional shares, then move the remaining units one at a time to (or
    from) the symbol where that costs the fewest bits: the gain of f → f+1 is c·log2((f+1)/f).
    """
    total = int(counts.sum())
    m = 1 << prec
    present = counts > 0
    n_present = int(present.sum())
    if n_present == 0:
        return np.zeros_like(counts)
    if n_present > m:
        raise ValueError(f"{n_present} distinct symbols do not fit a 2^{prec} table")
    freqs = np.where(present, np.maximum(1, np.round(counts * (m / total))), 0).astype(np.int64)
    diff = m - int(freqs.sum())
    idx = np.flatnonzero(present)
    c = counts[idx].astype(np.float64)
    if diff > 0:  # add units where they save the most bits
        heap = [(-(ci * math.log2((f + 1) / f)), int(i)) for ci, f, i in zip(c, freqs[idx], idx)]
        heapq.heapify(heap)
        for _ in range(diff):
            _, i = heapq.heappop(heap)
            freqs[i] += 1
            f = freqs[i]
            heapq.heappush(heap, (-(counts[i] * math.log2((f + 1) / f)), i))
    elif diff < 0:  # take units where they cost the fewest bits (never below 1)
        inf = float("inf")
        heap = [((ci * math.log2(f / (f - 1)) if f > 1 else inf), int(i)) for ci, f, i in zip(c, freqs[idx], idx)]
        heapq.heapify(heap)
        for _ in range(-diff):
            _, i = heapq.heappop(heap)
            freqs[i] -= 1
            f = freqs[i]
            heapq.heappush(heap, ((counts[i] * math.log2(f / (f - 1)) if f > 1 else inf), i))
    return freqs


def coded_bits(counts: np.ndarray, freqs: np.ndarray, prec: int) -> float:
    """Bits rANS spends on symbols with these counts under these quantized frequencies."""
    used = counts > 0
    return float(np.sum(counts[used] * (prec - np.log2(freqs[used]))))


def entropy_bits(counts: np.ndarray) -> float:
    """Order-0 Shannon bound in bits: n·H(p̂) with p̂ the empirical histogram."""
    used = counts[counts > 0].astype(np.float64)
    n = used.sum()
    if n == 0:
        return 0.0
    return float(-np.sum(used * np.log2(used / n)))


def lane_count(n: int, steps: int = DEFAULT_STEPS) -> int:
    """Lanes for a stream of n symbols: enough that no lane runs more than `steps` steps."""
    return max(1, -(-n // steps))


@dataclass
class _Layout:
    order: list[int]  # stream indices, longest lanes first
    lanes: list[int]  # lanes per stream (in stream index order)
    lengths: list[int]  # steps per lane of each stream
    starts: list[int]  # first lane of each stream (in stream index order)
    active: np.ndarray  # active[t] = number of lanes still running at step t
    total_lanes: int


def _layout(sizes: list[int], steps: int) -> _Layout:
    lanes = [lane_count(n, steps) for n in sizes]
    lengths = [-(-n // k) if n else 0 for n, k in zip(sizes, lanes)]
    order = sorted(range(len(sizes)), key=lambda i: -lengths[i])  # stable: ties keep stream order
    starts = [0] * len(sizes)
    pos = 0
    lane_len = []
    for i in order:
        starts[i] = pos
        pos += lanes[i]
        lane_len += [lengths[i]] * lanes[i]
    t_max = max(lengths, default=0)
    # active[t] = lanes longer than t = all lanes − lanes of length ≤ t
    hist = np.bincount(np.asarray(lane_len, dtype=np.int64), minlength=t_max + 1)
    active = pos - np.cumsum(hist)[:t_max]
    return _Layout(order, lanes, lengths, starts, active.astype(np.int64), pos)


def _grid(layout: _Layout, sizes: list[int], values: list[np.ndarray], fill: list[int], dtype) -> np.ndarray:
    """Deal each stream's values onto its lanes: grid[t, lane]; padding cells take `fill`."""
    t_max = int(layout.active.size)
    grid = np.zeros((t_max, layout.total_lanes), dtype=dtype)
    for i, n in enumerate(sizes):
        k, length, a = layout.lanes[i], layout.lengths[i], layout.starts[i]
        if n == 0:
            continue
        padded = np.full(k * length, fill[i], dtype=dtype)
        padded[:n] = values[i]
        grid[:length, a:a + k] = padded.reshape(length, k)
    return grid


def _symbol_tables(sizes: list[int], n_tables: int, table_ids: list[np.ndarray] | None) -> list[np.ndarray | int]:
    """Per stream, the table index of each symbol: stream i → table i (one int, not an array per
    symbol) unless `table_ids` says."""
    if table_ids is None:
        if n_tables != len(sizes):
            raise ValueError(f"{len(sizes)} streams need {len(sizes)} tables without table ids, got {n_tables}")
        return list(range(len(sizes)))
    if len(table_ids) != len(sizes) or any(t.size != n for t, n in zip(table_ids, sizes)):
        raise ValueError("table ids must give one table per symbol of every stream")
    return [t.reshape(-1).astype(np.int32, copy=False) for t in table_ids]


def encode(streams: list[np.ndarray], tables: list[Table], prec: int = DEFAULT_PREC,
           steps: int = DEFAULT_STEPS, table_ids: list[np.ndarray] | None = None
           ) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Encode symbol streams (int arrays) with their tables.

    Without `table_ids`, stream i is coded with tables[i]; with them, symbol j of stream i is
    coded with tables[table_ids[i][j]].

    Returns (final lane states uint32, words uint16, words written for each stream).

    Streams padded to a whole number of steps per lane are padded with a symbol their last
    table gives the largest frequency; the decoder drops the padding.
    """
    if len(tables) > MAX_TABLES:
        raise ValueError(f"{len(tables)} frequency tables, more than the {MAX_TABLES} a stream may use")
    sizes = [int(s.size) for s in streams]
    layout = _layout(sizes, steps)
    shift = 32 - prec
    offsets = np.cumsum([0] + [t.freqs.size for t in tables])
    lows = np.array([t.lo for t in tables] + [0], dtype=np.int64)
    widths = np.array([t.freqs.size for t in tables] + [0], dtype=np.int64)
    freq_all = np.concatenate([t.freqs for t in tables] + [np.zeros(1, np.int64)]).astype(np.int64)
    cum_all = np.concatenate([t.cum for t in tables] + [np.zeros(1, np.int64)]).astype(np.int64)
    # Global symbol ids: table k's symbol j → offsets[k] + j.
    gids, fills = [], []
    for s, tid in zip(streams, _symbol_tables(sizes, len(tables), table_ids)):
        idx = s.reshape(-1).astype(np.int64) - lows[tid]
        if idx.size and (idx.min() < 0 or np.any(idx >= widths[tid]) or np.any(freq_all[offsets[tid] + idx] == 0)):
            raise ValueError("stream holds a symbol its table gives no frequency")
        gids.append(idx + offsets[tid])
        last = int(tid) if np.ndim(tid) == 0 else (int(tid[-1]) if tid.size else 0)
        fills.append(int(offsets[last]) + (int(np.argmax(tables[last].freqs)) if s.size else 0))
    gid = _grid(layout, sizes, gids, fills, np.int32)
    x = np.full(layout.total_lanes, STATE_LOW, dtype=np.int64)
    lane_words = np.zeros(layout.total_lanes, dtype=np.int64)
    chunks: list[np.ndarray] = []
    for t in range(gid.shape[0] - 1, -1, -1):
        a = int(layout.active[t])
        g = gid[t, :a]
        f = freq_all[g]
        xa = x[:a]
        over = xa >= (f << shift)
        if over.any():
            lane_words[:a] += over
            chunks.append((xa[over] & 0xFFFF).astype(np.uint16))
            xa[over] >>= WORD_BITS
        else:
            chunks.append(np.zeros(0, np.uint16))
        q, r = np.divmod(xa, f)
        x[:a] = (q << prec) + r + cum_all[g]
    words = np.concatenate(chunks[::-1]) if chunks else np.zeros(0, np.uint16)
    per_stream = [int(lane_words[layout.starts[i]:layout.starts[i] + layout.lanes[i]].sum()) for i in range(len(sizes))]
    return x.astype(np.uint32), words, per_stream


def decode(states: np.ndarray, words: np.ndarray, sizes: list[int], tables: list[Table],
           prec: int = DEFAULT_PREC, steps: int = DEFAULT_STEPS,
           table_ids: list[np.ndarray] | None = None) -> list[np.ndarray]:
    """Inverse of `encode`: the int8 code streams. Raises RansError on inconsistent input.

    Tables must cover codes inside int8, and table ids must index `tables` (the caller checks)."""
    layout = _layout(sizes, steps)
    if states.size != layout.total_lanes:
        raise RansError(f"expected {layout.total_lanes} lane states, found {states.size}")
    if layout.active.size * layout.total_lanes > 2 * sum(sizes) + MAX_SPARE_CELLS:
        raise RansError("lane layout would need an unreasonably large decode buffer")
    if len(tables) > MAX_TABLES:
        raise RansError(f"{len(tables)} frequency tables, more than the {MAX_TABLES} a stream may use")
    m = 1 << prec
    # Per table slot: the code it stands for, its symbol's frequency and its offset inside the symbol.
    slot_code, slot_freq, slot_bias = [], [], []
    for tab in tables:
        if tab.freqs.size and int(tab.freqs.sum()) != m:
            raise RansError(f"frequency table sums to {int(tab.freqs.sum())}, not 2^{prec}")
        if not tab.freqs.size:
            slot_code.append(np.zeros(m, np.int8))
            slot_freq.append(np.ones(m, np.int32))
            slot_bias.append(np.zeros(m, np.int32))
            continue
        sym = np.repeat(np.arange(tab.freqs.size), tab.freqs)
        slot_code.append((sym + tab.lo).astype(np.int8))
        slot_freq.append(tab.freqs[sym].astype(np.int32))
        slot_bias.append((np.arange(m) - tab.cum[sym]).astype(np.int32))
    code_all = np.concatenate(slot_code) if slot_code else np.zeros(0, np.int8)
    # int32 tables halve the cache footprint of the two gathers per step.
    freq_all = np.concatenate(slot_freq) if slot_freq else np.zeros(0, np.int32)
    bias_all = np.concatenate(slot_bias) if slot_bias else np.zeros(0, np.int32)
    if table_ids is None:
        base = np.zeros(layout.total_lanes, dtype=np.int64)
        for i in range(len(sizes)):
            base[layout.starts[i]:layout.starts[i] + layout.lanes[i]] = i * m
        grid = None
    else:
        per_symbol = _symbol_tables(sizes, len(tables), table_ids)
        fills = [int(t[-1]) if t.size else 0 for t in per_symbol]
        grid = _grid(layout, sizes, per_symbol, fills, np.int16)  # table of every cell
    x = states.astype(np.int64)
    if x.size and (x.min() < STATE_LOW):
        raise RansError("a lane state is below 2^16")
    w = words.astype(np.int64)
    t_max = int(layout.active.size)
    out = np.empty((t_max, layout.total_lanes), dtype=np.int8)  # decoded codes, one byte each
    pos = 0
    mask = m - 1
    for t in range(t_max):
        a = int(layout.active[t])
        xa = x[:a]
        slot = (base[:a] if grid is None else grid[t, :a].astype(np.int64) << prec) + (xa & mask)
        out[t, :a] = code_all[slot]
        xa = freq_all[slot] * (xa >> prec) + bias_all[slot]
        low = np.flatnonzero(xa < STATE_LOW)
        k = low.size
        if k:
            if pos + k > w.size:
                raise RansError("stream ends before its symbols do")
            xa[low] = (xa[low] << WORD_BITS) | w[pos:pos + k]
            pos += k
        x[:a] = xa
    if pos != w.size or (x.size and np.any(x != STATE_LOW)):
        raise RansError("stream does not decode to its initial state (damaged words or states)")
    result = []
    for i, n in enumerate(sizes):
        k, length, a0 = layout.lanes[i], layout.lengths[i], layout.starts[i]
        if n == 0:
            result.append(np.zeros(0, np.int8))
            continue
        result.append(out[:length, a0:a0 + k].reshape(-1)[:n])
    return result
