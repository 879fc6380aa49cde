"""Learning-rate and momentum schedules: constant, then a linear warmdown to zero.

Time mode (the records' rule, spec record-1204.md §C.1): with training time E (validation
excluded) after k steps, the warmdown lasts `warmdown_iters` × the running mean step time E/k
and ends at the wallclock cap exactly:
    rem = max(cap − E, 0);  wd = warmdown_iters · E / k;  scale = rem / wd if rem ≤ wd else 1
Step mode: scale = min(1, (iterations − step) / warmdown_iters).
With `warmdown_fraction` f > 0 either mode decays over the final fraction f of the run instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from golfcli.config.train import WARMDOWN_CLOCKS, TrainConfig
from golfcli.errors import GolfError


@dataclass(frozen=True)
class Schedule:
    """Where the run stands and how far it goes; `lr_scale` and `progress` read from it."""

    clock: str  # "time" or "steps"
    iterations: int
    max_seconds: float
    warmdown_iters: int
    warmdown_fraction: float = 0.0

    @classmethod
    def from_config(cls, tc: TrainConfig, max_seconds: float | None = None) -> "Schedule":
        """The schedule of a TrainConfig (`max_seconds` overrides the config's cap)."""
        if tc.warmdown_clock not in WARMDOWN_CLOCKS:
            raise GolfError(f"train.warmdown_clock must be one of {', '.join(WARMDOWN_CLOCKS)}, got {tc.warmdown_clock!r}")
        cap = tc.max_seconds if max_seconds is None else max_seconds
        clock = tc.warmdown_clock if cap and cap > 0 else "steps"
        return cls(clock, tc.iterations, float(cap or 0.0), tc.warmdown_iters, tc.warmdown_fraction)

    def progress(self, step: int, elapsed: float) -> float:
        """Fraction of the run done, in [0, 1]: by wallclock in time mode, else by steps."""
        if self.clock == "time":
            return min(max(elapsed / self.max_seconds, 0.0), 1.0)
        return min(max(step / max(self.iterations, 1), 0.0), 1.0)

    def lr_scale(self, step: int, elapsed: float) -> float:
        """Multiplier of every learning rate at `step` after `elapsed` training seconds."""
        if self.warmdown_fraction > 0:
            left = 1.0 - self.progress(step, elapsed)
            return min(1.0, left / self.warmdown_fraction)
        if self.warmdown_iters <= 0:
            return 1.0
        if self.clock == "steps":
            return min(1.0, max(self.iterations - step, 0) / self.warmdown_iters)
        if step <= 0:
            return 1.0
        warmdown_s = self.warmdown_iters * elapsed / step
        remaining = max(self.max_seconds - elapsed, 0.0)
        return remaining / max(warmdown_s, 1e-9) if remaining <= warmdown_s else 1.0


def muon_momentum(step: int, start: float, end: float, warmup_steps: int) -> float:
    """Muon momentum warmed linearly from `start` to `end` over `warmup_steps` steps."""
    if warmup_steps <= 0:
        return end
    frac = min(step / warmup_steps, 1.0)
    return (1 - frac) * start + frac * end
