"""Standard (non-overlapping) evaluation: the stream cut into sequences, every position scored.

Each target sees only the earlier tokens of its own sequence (record-1204.md §F.1). When the
targets do not fill whole sequences (e.g. with --max-tokens), the last sequence is shorter.
"""

from __future__ import annotations

from golfcli.eval.windows import WindowPlan, make_plan


def standard_plan(n_tokens: int, seq_len: int) -> WindowPlan:
    """Windows [0, L), [L, 2L), ... over the n_tokens − 1 targets, each scoring all its positions."""
    if n_tokens < 2:
        raise ValueError("a stream needs at least 2 tokens to have a target")
    targets = n_tokens - 1
    starts = list(range(0, targets, seq_len))
    lengths = [min(seq_len, targets - s) for s in starts]
    return make_plan(starts, lengths, [0] * len(starts))
