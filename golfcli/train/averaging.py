"""Weight averaging: an EMA shadow, SWA snapshot sums, and an exponential average over snapshots.

All accumulate in float32 and hand back weights cast to each tensor's own dtype (embeddings kept
in bf16 return to bf16). Non-float tensors (none in our models) are copied from the latest weights.
"""

from __future__ import annotations

from typing import Iterable, Mapping

import torch


def _float_items(state: Mapping[str, torch.Tensor]) -> list[str]:
    return [k for k, v in state.items() if v.is_floating_point()]


class EMA:
    """ema ← decay·ema + (1 − decay)·w after every optimizer step, over a whole state dict."""

    def __init__(self, state: Mapping[str, torch.Tensor], decay: float):
        self.decay = decay
        self.dtypes = {k: v.dtype for k, v in state.items()}
        self.shadow = {k: v.detach().float().clone() for k, v in state.items()}
        self.updates = 0
        self._keys = _float_items(state)

    @torch.no_grad()
    def update(self, state: Mapping[str, torch.Tensor]) -> None:
        """Fold the current weights into the shadow."""
        cur = [state[k].detach().float() for k in self._keys]
        torch._foreach_lerp_([self.shadow[k] for k in self._keys], cur, 1.0 - self.decay)
        self.updates += 1

    def weights(self) -> dict[str, torch.Tensor]:
        """The averaged weights, each cast back to its training dtype."""
        return {k: v.to(self.dtypes[k]) for k, v in self.shadow.items()}

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """The float32 shadow, for the training-state checkpoint."""
        return dict(self.shadow)

    def load(self, shadow: Mapping[str, torch.Tensor], updates: int) -> None:
        """Restore a shadow saved by `state_tensors` (must have the same keys)."""
        missing = set(self.shadow) ^ set(shadow)
        if missing:
            raise KeyError(f"EMA state keys differ: {sorted(missing)[:3]}")
        for k in self.shadow:
            self.shadow[k].copy_(shadow[k])
        self.updates = updates


class SWA:
    """A float32 running sum of weight snapshots and their count; the mean is the SWA weights."""

    def __init__(self, state: Mapping[str, torch.Tensor]):
        self.dtypes = {k: v.dtype for k, v in state.items()}
        self.total = {k: torch.zeros(v.shape, dtype=torch.float32, device=v.device) for k, v in state.items()}
        self.count = 0

    @torch.no_grad()
    def add(self, state: Mapping[str, torch.Tensor]) -> None:
        """Add one snapshot."""
        for k, t in self.total.items():
            t.add_(state[k].detach().float())
        self.count += 1

    def weights(self) -> dict[str, torch.Tensor]:
        """Mean of the snapshots in each tensor's training dtype (empty if there were none)."""
        if self.count == 0:
            return {}
        return {k: (v / self.count).to(self.dtypes[k]) for k, v in self.total.items()}

    def load(self, total: Mapping[str, torch.Tensor], count: int) -> None:
        """Restore a saved sum."""
        for k in self.total:
            self.total[k].copy_(total[k])
        self.count = count


def exponential_average(snapshots: Iterable[Mapping[str, torch.Tensor]], decay: float) -> dict[str, torch.Tensor]:
    """avg ← decay·avg + (1 − decay)·w over snapshots in order (the first one starts the average).

    Returned in the dtypes of the last snapshot.
    """
    avg: dict[str, torch.Tensor] | None = None
    last: Mapping[str, torch.Tensor] = {}
    for snap in snapshots:
        last = snap
        if avg is None:
            avg = {k: v.detach().float().clone() for k, v in snap.items()}
            continue
        for k, v in avg.items():
            v.lerp_(snap[k].detach().float(), 1.0 - decay)
    if avg is None:
        return {}
    return {k: v.to(last[k].dtype) for k, v in avg.items()}
