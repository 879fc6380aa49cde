"""Window plans: which tokens each forward pass sees and which of its targets it scores.

A stream of N tokens has N − 1 targets; target t (1 ≤ t < N) is token t predicted from tokens
< t. Its slot in the per-target arrays is t − 1. A window starting at token `start` with
`length` positions feeds tokens [start, start + length) and predicts tokens
[start + 1, start + length]; it scores its positions [score_from, length), i.e. the slots
[start + score_from, start + length). A plan lists windows in stream order, and the scored
slots of consecutive windows are consecutive: together they cover 0 .. N − 2 exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class WindowPlan:
    """Windows in stream order: start token, length and first scored position of each."""

    starts: torch.Tensor  # int64 (W,)
    lengths: torch.Tensor  # int64 (W,)
    score_from: torch.Tensor  # int64 (W,)

    def __len__(self) -> int:
        return int(self.starts.numel())

    def __getitem__(self, index: slice) -> "WindowPlan":
        return WindowPlan(self.starts[index], self.lengths[index], self.score_from[index])

    @property
    def first_slot(self) -> torch.Tensor:
        """Slot (target index − 1) of each window's first scored target."""
        return self.starts + self.score_from

    @property
    def end_slot(self) -> torch.Tensor:
        """One past the slot of each window's last scored target."""
        return self.starts + self.lengths

    @property
    def scored(self) -> int:
        """Targets scored by the whole plan."""
        return int((self.lengths - self.score_from).sum().item())

    def check(self, n_tokens: int) -> None:
        """Assert that the scored slots tile 0 .. n_tokens − 2 exactly once, in order."""
        if len(self) == 0:
            raise AssertionError("empty window plan")
        first, end = self.first_slot, self.end_slot
        if int(first[0]) != 0 or int(end[-1]) != n_tokens - 1 or not torch.equal(first[1:], end[:-1]):
            raise AssertionError("window plan does not score every target exactly once")
        if bool((self.score_from >= self.lengths).any()) or bool((self.score_from < 0).any()):
            raise AssertionError("window plan has a window that scores nothing")

    def batches(self, size: int) -> list["WindowPlan"]:
        """Consecutive groups of at most `size` windows."""
        return [self[i:i + size] for i in range(0, len(self), size)]

    def rank_part(self, rank: int, world_size: int) -> "WindowPlan":
        """Rank `rank`'s contiguous share of these windows (earlier ranks take earlier windows)."""
        n = len(self)
        lo, hi = n * rank // world_size, n * (rank + 1) // world_size
        return self[lo:hi]

    def chunks(self, chunk_tokens: int) -> list["WindowPlan"]:
        """Group windows by the chunk of their first scored target: chunk c holds slots [c·C, (c+1)·C)."""
        if len(self) == 0:
            return []
        ids = torch.div(self.first_slot, chunk_tokens, rounding_mode="floor")
        cuts = (torch.nonzero(ids[1:] != ids[:-1]).flatten() + 1).tolist()
        bounds = [0, *cuts, len(self)]
        return [self[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def make_plan(starts: list[int], lengths: list[int], score_from: list[int]) -> WindowPlan:
    """A WindowPlan from Python lists."""
    as_tensor = lambda v: torch.tensor(v, dtype=torch.int64)  # noqa: E731
    return WindowPlan(as_tensor(starts), as_tensor(lengths), as_tensor(score_from))
