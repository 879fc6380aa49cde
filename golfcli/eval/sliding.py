"""Sliding-window evaluation: every target scored exactly once with the longest context available.

Windows of L = min(window, N − 1) positions start every `stride` tokens. The first window scores
all its positions (targets 1..L, each with all earlier tokens as context); every later window
scores only its last `stride` positions, so each of those targets sees ≥ L − stride + 1 tokens.
Where the stride grid stops short of the end of the stream, one last window is aligned to end
exactly at the final token and scores only the targets not scored yet (with more context than
the grid would give; `eval.grid_tail` keeps the grid's shorter last window instead, as record 1493 does). Unlike the public scripts, no tail target is scored twice
(record-1204.md §F.2 rescores the last 64 tokens ~32 times), and every window has the same
length, so batches keep one shape.
"""

from __future__ import annotations

from golfcli.eval.windows import WindowPlan, make_plan


def sliding_plan(n_tokens: int, window: int, stride: int, grid_tail: bool = False) -> WindowPlan:
    """The sliding-window plan over a stream of `n_tokens` tokens.

    With `grid_tail` the last window starts on the stride grid and is shorter instead (record 1493's
    eval): the same targets, those of the last window with up to stride − 1 fewer tokens of context.
    """
    if n_tokens < 2:
        raise ValueError("a stream needs at least 2 tokens to have a target")
    if not 0 < stride <= window:
        raise ValueError(f"stride must be in 1..window, got stride={stride}, window={window}")
    targets = n_tokens - 1
    length = min(window, targets)
    stride = min(stride, length)
    starts, score_from = [0], [0]
    while starts[-1] + stride + length <= targets:
        starts.append(starts[-1] + stride)
        score_from.append(length - stride)
    scored_end = starts[-1] + length
    lengths = [length] * len(starts)
    if scored_end < targets:
        last = starts[-1] + stride if grid_tail else targets - length
        starts.append(last)
        lengths.append(targets - last)
        score_from.append(scored_end - last)
    return make_plan(starts, lengths, score_from)
