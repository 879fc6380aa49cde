"""torch.distributed for training: gradient averaging, clipping across shards, agreement between ranks.

Gradients that every rank needs whole (AdamW's) are averaged with one flat all-reduce per step,
launched asynchronously; Muon's matrices are reduce-scattered by Muon itself (see train/muon.py).
Every rank holds identical weights; only rank 0 writes files. Joining and leaving the process
group is `golfcli.distributed`, shared with evaluation (its names are re-exported here).
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from golfcli.distributed import DistInfo, barrier, pick_device, setup, teardown

__all__ = ["DistInfo", "setup", "teardown", "barrier", "pick_device",
           "average_gradients", "average_gradients_async", "clip_factor", "LaggedClock", "all_reduce_max", "broadcast_flag"]


def average_gradients(params: list[torch.nn.Parameter], info: DistInfo) -> None:
    """Average `.grad` over ranks with one flat all-reduce (params without a grad are skipped)."""
    if not info.active:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat.div_(info.world_size)
    offset = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[offset : offset + n].view_as(g))
        offset += n


class PendingAverage:
    """An all-reduce of flattened gradients in flight; `wait()` writes the averages back into `.grad`."""

    def __init__(self, grads: list[torch.Tensor], flat: torch.Tensor | None, handle, world_size: int):
        self.grads, self.flat, self.handle, self.world_size = grads, flat, handle, world_size

    def wait(self) -> list[torch.Tensor]:
        """The averaged gradients (the same tensors as `.grad`)."""
        if self.handle is not None:
            self.handle.wait()
            self.flat.div_(self.world_size)
            torch._foreach_copy_(self.grads, [t.view_as(g) for t, g in
                                              zip(self.flat.split([g.numel() for g in self.grads]), self.grads)])
            self.handle = None
        return self.grads


def average_gradients_async(params: list[torch.nn.Parameter], info: DistInfo) -> PendingAverage:
    """Launch the flat all-reduce of `params`' gradients; the caller waits on the result."""
    grads = [p.grad for p in params if p.grad is not None]
    if not info.active or not grads:
        return PendingAverage(grads, None, None, info.world_size)
    flat = torch.cat([g.reshape(-1) for g in grads])
    return PendingAverage(grads, flat, dist.all_reduce(flat, async_op=True), info.world_size)


def clip_factor(replicated: list[torch.Tensor], shard_sq: torch.Tensor, max_norm: float, info: DistInfo) -> torch.Tensor:
    """min(1, max_norm / (‖g‖ + 1e-6)) over gradients held whole on every rank plus sharded ones.

    `shard_sq` is this rank's sum of squares of its shard of the sharded gradients; it is summed
    over ranks on the device (no host read), as `clip_grad_norm_` would over whole gradients.
    """
    if info.active:
        dist.all_reduce(shard_sq)
    total = shard_sq
    if replicated:
        total = total + torch.stack(torch._foreach_norm(replicated)).square().sum()
    return (max_norm / (total.sqrt() + 1e-6)).clamp(max=1.0)


class LaggedClock:
    """Elapsed training seconds agreed between ranks (the max), read one step late.

    Each `agree` launches this step's all-reduce and returns the previous step's result, so the
    host never waits for the step just queued. All ranks get the same value, so they stop at the
    same step; with one rank the local time is returned at once.
    """

    def __init__(self, info: DistInfo, start: float):
        self.info, self.value = info, start
        self._pending: tuple[torch.Tensor, object] | None = None

    def agree(self, local: float) -> float:
        """Launch the agreement on `local`; the agreed value of the step before."""
        if not self.info.active:
            self.value = local
            return local
        t = torch.full((1,), local, dtype=torch.float64, device=self.info.device)
        previous, self._pending = self._pending, (t, dist.all_reduce(t, op=dist.ReduceOp.MAX, async_op=True))
        if previous is not None:
            self.value = self._read(previous)
        return self.value

    def settle(self) -> float:
        """Wait for the agreement in flight (if any) and return it."""
        if self._pending is not None:
            self.value, self._pending = self._read(self._pending), None
        return self.value

    @staticmethod
    def _read(pending: tuple[torch.Tensor, object]) -> float:
        t, handle = pending
        handle.wait()
        return float(t.item())


def all_reduce_max(value: float, info: DistInfo) -> float:
    """The largest `value` over ranks (e.g. elapsed time, so every rank stops at the same step)."""
    if not info.active:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=info.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return float(t.item())


def broadcast_flag(flag: bool, info: DistInfo) -> bool:
    """True on every rank if `flag` is True on any rank."""
    return all_reduce_max(1.0 if flag else 0.0, info) > 0.5
