"""torch.distributed for training: DDP-style gradient averaging and agreement between ranks.

Gradients are averaged with one flat all-reduce per step, after backward, so every rank holds
identical weights and optimizer state; only rank 0 writes files. Joining and leaving the process
group is `golfcli.distributed`, shared with evaluation (its names are re-exported here).
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from golfcli.distributed import DistInfo, barrier, pick_device, setup, teardown

__all__ = ["DistInfo", "setup", "teardown", "barrier", "pick_device",
           "average_gradients", "all_reduce_max", "broadcast_flag"]


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
