"""Clip rules: which per-row clip values (hence fp16 scales) a tensor's grid may use.

A clip rule turns a 2-D weight into one or more candidate per-row clip values c (rows,); the grid
scale of a row is c / grid_max(bits). `search` offers several percentiles of |w| per row and lets
the quantizer keep, for every row, the candidate with the smallest (Hessian-weighted) error;
`sdclip:K` uses c = K·std(row) (unbiased, as the records); `percentile:P` uses the P-quantile of |w| in each row (P in (0, 1]).
`quant.clip_rules` (REGEX=CLIP) give tensors a rule of their own, e.g. record-1493's k = 20 for the
embedding beside k = 12.85 for the matrices. Parsing them is `golfcli.bitwidths`.
"""

from __future__ import annotations

import math
import re

import torch

from golfcli.bitwidths import ClipRule, parse_clip, parse_clip_rules  # torch-free, for config validation
from golfcli.qtensor import grid_max

# Percentiles of |w| per row tried by `search` (1.0 = the row maximum, i.e. no clipping).
SEARCH_PERCENTILES = (0.99, 0.995, 0.999, 0.9999, 1.0)
# Smallest stored scale (fp16 tiny, as golfcli.qtensor): keeps all-zero rows finite.
MIN_SCALE = float(torch.finfo(torch.float16).tiny)


def clip_for(name: str, default: ClipRule, rules: list[tuple[re.Pattern, ClipRule]]) -> ClipRule:
    """The clip rule of one tensor: the last matching `clip_rules` entry, else `default`."""
    rule = default
    for pattern, clip in rules:
        if pattern.search(name):
            rule = clip
    return rule


def row_quantiles(w: torch.Tensor, qs: tuple[float, ...]) -> torch.Tensor:
    """Per-row quantiles of |w| (linear interpolation), shape (len(qs), rows).

    One partial sort serves all of them: only the largest values are needed for high quantiles.
    """
    a = w.abs().float()
    n = a.shape[1]
    top = min(n, int(math.ceil((1 - min(qs)) * (n - 1))) + 2)
    largest = a.topk(top, dim=1, sorted=True).values  # descending: rank r from the top = index n-1-r
    out = []
    for q in qs:
        pos = q * (n - 1)
        lo = int(pos)
        hi = min(lo + 1, n - 1)
        frac = pos - lo
        out.append(largest[:, n - 1 - lo] * (1 - frac) + largest[:, n - 1 - hi] * frac)
    return torch.stack(out)


def candidate_clips(w: torch.Tensor, rule: ClipRule) -> torch.Tensor:
    """Candidate per-row clip values for 2-D `w`: (candidates, rows)."""
    if rule.kind == "search":
        return row_quantiles(w, SEARCH_PERCENTILES)
    if rule.kind == "percentile":
        return row_quantiles(w, (rule.value,))
    std = w.float().std(dim=1)  # the records' SDClip: the unbiased (n − 1) row std
    return (rule.value * std)[None]


def scales_for(clips: torch.Tensor, bits: int) -> torch.Tensor:
    """fp16-representable grid scales (as float32) for per-row clip values at `bits`."""
    s = (clips.float() / grid_max(bits)).clamp_min(MIN_SCALE)
    return s.to(torch.float16).float().clamp_min(MIN_SCALE)
