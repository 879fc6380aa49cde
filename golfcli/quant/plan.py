"""Byte-budget bit planning: pick each tensor's width so the total fits and the error is smallest.

Each tensor offers options (bits, estimated bytes, error). On each tensor's lower convex hull of
(bytes, error) every step up buys an error drop at some price per byte; the planner starts every
tensor at its cheapest option and then takes steps in order of error drop per byte, across all
tensors, as long as they fit the budget (greedy marginal analysis; exact at hull breakpoints).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from golfcli.errors import GolfError


@dataclass(frozen=True)
class PlanOption:
    """One choice for a tensor."""

    bits: int
    bytes: int
    error: float


def lower_hull(options: list[PlanOption]) -> list[PlanOption]:
    """Options worth buying, cheapest first: error strictly falling, at a falling error drop per byte."""
    by_cost = sorted(options, key=lambda o: (o.bytes, o.error))
    frontier: list[PlanOption] = []
    for opt in by_cost:  # Pareto: drop anything no better than a cheaper option
        if frontier and opt.error >= frontier[-1].error:
            continue
        if frontier and opt.bytes == frontier[-1].bytes:
            frontier[-1] = opt
            continue
        frontier.append(opt)
    hull: list[PlanOption] = []
    for opt in frontier:  # convexity: each step must drop error less per byte than the one before
        while len(hull) >= 2 and _gain(hull[-2], hull[-1]) <= _gain(hull[-1], opt):
            hull.pop()
        hull.append(opt)
    return hull


def _gain(a: PlanOption, b: PlanOption) -> float:
    return (a.error - b.error) / max(b.bytes - a.bytes, 1)


def plan_bits(options: dict[str, list[PlanOption]], budget: int) -> dict[str, PlanOption]:
    """The option per tensor that spends at most `budget` bytes where error drops most per byte."""
    hulls = {name: lower_hull(opts) for name, opts in options.items() if opts}
    chosen = {name: 0 for name in hulls}
    spent = sum(h[0].bytes for h in hulls.values())
    if spent > budget:
        left = f"only {budget:,} bytes are left for them" if budget >= 0 else f"the budget is already {-budget:,} bytes short"
        raise GolfError(f"the byte budget cannot be met: the planned tensors need {spent:,} bytes at their narrowest "
                        f"widths and {left}")
    heap = [(-_gain(h[0], h[1]), name) for name, h in hulls.items() if len(h) > 1]
    heapq.heapify(heap)
    while heap:
        _, name = heapq.heappop(heap)
        hull, i = hulls[name], chosen[name]
        extra = hull[i + 1].bytes - hull[i].bytes
        if spent + extra > budget:
            continue  # later steps of this tensor need this one first
        spent += extra
        chosen[name] = i + 1
        if i + 2 < len(hull):
            heapq.heappush(heap, (-_gain(hull[i + 1], hull[i + 2]), name))
    return {name: hulls[name][i] for name, i in chosen.items()}
