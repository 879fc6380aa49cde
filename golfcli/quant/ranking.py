"""Record-1204's mixed-width rule: the N attention/MLP matrices with the largest tr(H) get the high
width, matrices of looped (recurrent) layers first; every other attention/MLP matrix gets the low width.

tr(H) of a weight is the summed squared input activation over the calibration tokens: how much signal
the matrix sees. Weights without a Hessian count 0. Ties keep name order.
"""

from __future__ import annotations

from typing import Callable

import torch


def ranked_widths(
    names: list[str], hessians: dict[str, torch.Tensor], looped: Callable[[str], bool], top_n: int,
    high: int, low: int,
) -> dict[str, int]:
    """{name: width} for the attention/MLP matrices `names` under the rule above."""
    trace = {n: float(hessians[n].diagonal().sum()) if n in hessians else 0.0 for n in names}
    by_trace = sorted(names, key=lambda n: -trace[n])
    chosen = [n for n in by_trace if looped(n)][:top_n]
    chosen += [n for n in by_trace if n not in chosen][: max(top_n - len(chosen), 0)]
    picked = set(chosen)
    return {n: high if n in picked else low for n in names}
