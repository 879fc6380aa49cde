"""The training clock: seconds spent training, the budget they are held to, and when the run stops.

Only training counts: validation and checkpoints run inside `paused()`. After each step `tick()`
agrees the running total with the other ranks, read one step late (`distributed.LaggedClock`:
the host never waits for the step just queued), so every rank sees the same `elapsed` and stops
at the same step. The export's GPTQ reserve is already taken out of the budget it trains with.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator


@dataclass
class TrainClock:
    """Training seconds of a run (`spent` banks those before the current stretch) and its stop rule.

    agreement: `agree(local)` launches the ranks' agreement and returns the step before's, `settle()`
    waits for the one in flight (a `LaggedClock`); budget: seconds of training allowed (0 = no
    cap); iterations, max_steps: the step caps.
    """

    agreement: Any
    budget: float
    spent: float
    iterations: int
    max_steps: int | None = None
    sync: Callable[[], None] = lambda: None  # waits for queued device work before a reading counts
    now: Callable[[], float] = time.perf_counter

    def __post_init__(self) -> None:
        self.elapsed = self.spent
        self._t0 = self._lap = self.now()

    def tick(self) -> float:
        """After a step: launch this step's agreement; `elapsed` becomes the step before's agreed value."""
        self.elapsed = self.agreement.agree(self.spent + self.now() - self._t0)
        return self.elapsed

    def stop_reason(self, step: int) -> str | None:
        """Why training stops after `step` steps ("iterations", "max_steps", "max_seconds"), or None."""
        if step >= min(self.iterations, self.max_steps if self.max_steps is not None else self.iterations):
            return "iterations" if step >= self.iterations else "max_steps"
        return "max_seconds" if 0 < self.budget <= self.elapsed else None

    def lap(self) -> float:
        """Seconds since the last lap or the end of the last pause."""
        now = self.now()
        seconds, self._lap = now - self._lap, now
        return seconds

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Time inside does not count; `spent` holds the training seconds so far."""
        self.sync()
        self.spent += self.now() - self._t0
        yield
        self._t0 = self._lap = self.now()

    def stop(self) -> float:
        """End the last stretch and settle the agreement in flight; the run's training seconds."""
        self.sync()
        self.agreement.settle()
        self.spent += self.now() - self._t0
        self.elapsed = self.spent
        return self.spent
