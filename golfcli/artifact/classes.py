"""The rans-classes encoder: each row or column of a code matrix picks one of a few shared tables.

Order-0 coding gives a tensor one table, which is the floor only when all its codes are alike.
Trained, quantized weights are not: a row whose clip was set by one outlier has small codes
everywhere else, a row with light tails uses its whole grid, and embedding columns differ in
size. Classing lines (rows, or columns where they differ more) and coding each line with the
table of its class captures that, for the price of a few tables per bit width and one table id
per line.

The plan is a Lloyd-style alternating minimisation over all tensors of one bit width at once:
assign every line to the table that codes it in the fewest bits (each tensor keeping whichever
axis, rows or columns, is cheaper overall), re-estimate the tables from their lines, repeat.
The number of classes is chosen by the estimated total: coded bits + table bytes + line ids.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from golfcli.artifact import rans
from golfcli.artifact.codes import COLUMNS, LOG2_STEPS, ROWS, byte_shares, payload_bytes, symbol_tables, table_bytes
from golfcli.artifact.format import write_varint
CLASS_COUNTS = (1, 2, 4, 8, 16, 32)
MAX_ITERATIONS = 12
SMOOTHING = 0.5  # pseudo-count per symbol while clustering (the final tables use exact counts)
TABLE_BITS_PER_SYMBOL = 10.0  # a stored frequency after the general codec, roughly
# Code lengths in 1/4096 bit, rounded to integers: every cost is then an integer below 2^53, so
# float64 matrix products are exact whatever order a BLAS sums in, and the plan (hence the
# artifact bytes) is the same on every machine.
COST_SCALE = 4096.0


@dataclass
class ClassPlan:
    """Which table codes each line: shared tables, and per tensor its axis and line → table ids."""

    tables: list[rans.Table]
    axes: list[int]  # ROWS or COLUMNS, per tensor
    line_tables: list[np.ndarray]  # int32 table id per line (row or column), per tensor

    def symbol_tables(self, shapes: list[tuple[int, int]]) -> list[np.ndarray]:
        """The table id of every code, in row-major order, per tensor."""
        return [symbol_tables(axis, ids, shape) for axis, ids, shape in zip(self.axes, self.line_tables, shapes)]


def _line_histograms(codes: np.ndarray, lo: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows × width, cols × width) symbol counts of a 2-D code matrix, symbols lo..lo+width-1."""
    rows, cols = codes.shape
    sym = codes.astype(np.int64) - lo
    by_row = np.bincount((np.arange(rows)[:, None] * width + sym).ravel(), minlength=rows * width)
    by_col = np.bincount((np.arange(cols)[None, :] * width + sym).ravel(), minlength=cols * width)
    return by_row.reshape(rows, width).astype(np.float64), by_col.reshape(cols, width).astype(np.float64)


def _initial_classes(hist: np.ndarray, k: int) -> np.ndarray:
    """Equal-sized classes of lines ordered by their mean |symbol − centre| (their spread)."""
    centre = (hist.shape[1] - 1) / 2
    spread = hist @ np.abs(np.arange(hist.shape[1]) - centre) / np.maximum(hist.sum(1), 1)
    classes = np.empty(hist.shape[0], dtype=np.int64)
    for j, chunk in enumerate(np.array_split(np.argsort(spread, kind="stable"), k)):
        classes[chunk] = j
    return classes


def _class_counts(hist: np.ndarray, classes: np.ndarray, k: int) -> np.ndarray:
    """(k × width) symbol counts summed over the lines of each class."""
    width = hist.shape[1]
    cells = (classes[:, None] * width + np.arange(width)).ravel()
    return np.bincount(cells, weights=hist.ravel(), minlength=k * width).reshape(k, width)


def _cluster(lines: list[tuple[np.ndarray, np.ndarray]], k: int) -> tuple[list[int], list[np.ndarray], float]:
    """Cluster the lines of several tensors into k classes.

    `lines` holds per tensor (row histograms, column histograms). Returns per tensor the axis and
    the class of each of its lines, and the estimated coded bits of the data."""
    by_axis = {axis: np.concatenate([h[n] for h in lines]) for n, axis in enumerate((ROWS, COLUMNS))}
    starts = {axis: np.cumsum([0] + [h[n].shape[0] for h in lines])[:-1] for n, axis in enumerate((ROWS, COLUMNS))}
    owner = {axis: np.repeat(np.arange(len(lines)), [h[n].shape[0] for h in lines]) for n, axis in enumerate((ROWS, COLUMNS))}
    axes = np.full(len(lines), ROWS)
    picks = {ROWS: _initial_classes(by_axis[ROWS], k), COLUMNS: np.zeros(by_axis[COLUMNS].shape[0], np.int64)}
    bits = 0.0
    for _ in range(MAX_ITERATIONS):
        counts = sum(_class_counts(by_axis[a][axes[owner[a]] == a], picks[a][axes[owner[a]] == a], k)
                     for a in (ROWS, COLUMNS)) + SMOOTHING
        code_length = np.round(-np.log2(counts / counts.sum(1, keepdims=True)) * COST_SCALE)
        new_picks, tensor_bits = {}, {}
        for a in (ROWS, COLUMNS):
            cost = by_axis[a] @ code_length.T
            new_picks[a] = cost.argmin(1)
            best = cost[np.arange(cost.shape[0]), new_picks[a]]
            tensor_bits[a] = np.add.reduceat(best, starts[a]) if best.size else np.zeros(len(lines))
        new_axes = np.where(tensor_bits[COLUMNS] < tensor_bits[ROWS], COLUMNS, ROWS)
        bits = float(np.where(new_axes == ROWS, tensor_bits[ROWS], tensor_bits[COLUMNS]).sum()) / COST_SCALE
        stable = np.array_equal(new_axes, axes) and all(np.array_equal(new_picks[a], picks[a]) for a in picks)
        axes, picks = new_axes, new_picks
        if stable:
            break
    per_tensor = {a: np.split(picks[a], starts[a][1:]) for a in (ROWS, COLUMNS)}
    return [int(a) for a in axes], [per_tensor[int(a)][t] for t, a in enumerate(axes)], bits


def _id_bits(assigned: list[np.ndarray], k: int) -> float:
    """Bits the line ids cost: their order-0 entropy per tensor (the general codec gets near it)."""
    total = 0.0
    for ids in assigned:
        if k > 1 and ids.size:
            total += rans.entropy_bits(np.bincount(ids, minlength=k))
    return total


def plan_classes(codes: list[np.ndarray], bits: list[int], class_counts=CLASS_COUNTS) -> tuple[ClassPlan, float]:
    """The class plan for 2-D int code matrices (grouped by bit width) and its estimated bytes."""
    groups: dict[int, list[int]] = {}
    for i, b in enumerate(bits):
        groups.setdefault(b, []).append(i)
    tables: list[rans.Table] = []
    axes = [ROWS] * len(codes)
    line_tables = [np.zeros(0, np.int32)] * len(codes)
    estimate = 0.0
    for i, c in enumerate(codes):  # an empty tensor has no lines on one axis: it needs no ids
        if not c.size:
            axes[i] = ROWS if c.shape[0] == 0 else COLUMNS
            groups[bits[i]].remove(i)
    for members in groups.values():
        if not members:
            continue
        lo = min(int(codes[i].min()) for i in members)
        hi = max(int(codes[i].max()) for i in members)
        lines = [_line_histograms(codes[i], lo, hi - lo + 1) for i in members]
        best = None
        for k in class_counts:
            k = min(k, sum(r.shape[0] for r, _ in lines))  # no more classes than the group has rows
            g_axes, assigned, data_bits = _cluster(lines, k)
            total = data_bits + k * (hi - lo + 1) * TABLE_BITS_PER_SYMBOL + _id_bits(assigned, k)
            if best is None or total < best[0]:
                best = (total, k, g_axes, assigned)
        total, k, g_axes, assigned = best
        used = np.unique(np.concatenate(assigned))  # classes no line chose get no table
        remap = np.zeros(k, dtype=np.int64)
        remap[used] = np.arange(used.size)
        assigned = [remap[ids] for ids in assigned]
        first = len(tables)
        tables += _exact_tables(lines, g_axes, assigned, used.size, lo)
        for i, axis, ids in zip(members, g_axes, assigned):
            axes[i] = axis
            line_tables[i] = (ids + first).astype(np.int32)
        estimate += total / 8
    return ClassPlan(tables, axes, line_tables), estimate


def _exact_tables(lines, axes, assigned, k: int, lo: int) -> list[rans.Table]:
    """Quantized tables from the exact symbol counts of each class's lines (every class has lines)."""
    width = lines[0][0].shape[1]
    counts = np.zeros((k, width), dtype=np.int64)
    for (rows, cols), axis, ids in zip(lines, axes, assigned):
        np.add.at(counts, ids, (rows if axis == ROWS else cols).astype(np.int64))
    out = []
    for c in counts:
        used = np.flatnonzero(c)
        c = c[used[0]:used[-1] + 1]
        out.append(rans.Table(lo + int(used[0]), rans.quantize_counts(c)))
    return out


def encode_classed_codes(codes: list[np.ndarray], bits: list[int], log2_steps: int = LOG2_STEPS
                         ) -> tuple[bytes, list[float]]:
    """The `rans-classes` payload for 2-D int8 code matrices (one per tensor, in section order,
    with their bit widths), and each tensor's share of it in bytes (side block by line count)."""
    plan, _ = plan_classes(codes, bits)
    shapes = [tuple(c.shape) for c in codes]
    flat = [c.reshape(-1) for c in codes]
    states, words, tensor_words = rans.encode(flat, plan.tables, rans.DEFAULT_PREC, 1 << log2_steps,
                                              plan.symbol_tables(shapes))
    side = bytearray()
    write_varint(side, len(plan.tables))
    side += table_bytes(plan.tables)
    for axis, ids in zip(plan.axes, plan.line_tables):
        side.append(axis)
        for t in ids.tolist():
            write_varint(side, t)
    payload, side_bytes = payload_bytes(rans.DEFAULT_PREC, log2_steps, bytes(side), states, words)
    weights = [float(ids.size) for ids in plan.line_tables]
    return payload, byte_shares([c.size for c in codes], tensor_words, side_bytes, weights, log2_steps)
