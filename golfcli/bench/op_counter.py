"""Counting what a piece of torch code issues: aten ops by section, bytes sent by collectives, host reads.

A dispatch mode sees every aten op below autograd. View ops are counted apart (they launch no
kernel). Collectives (the c10d namespace) are counted by name, with the bytes this rank sends on
a ring: all-reduce 2(N−1)/N·size, reduce-scatter and all-gather (N−1)/N·size of the full buffer.
"""

from __future__ import annotations

from collections import Counter

import torch
from torch.utils._python_dispatch import TorchDispatchMode


class OpCounter(TorchDispatchMode):
    """Counts aten ops by section, bytes sent by collectives, and blocking host reads."""

    def __init__(self, world_size: int):
        super().__init__()
        self.world_size = world_size
        self.section = "other"
        self.ops: Counter[str] = Counter()
        self.views: Counter[str] = Counter()
        self.collectives: Counter[str] = Counter()
        self.bytes_sent = 0.0
        self.host_reads = 0

    def _record_collective(self, func, args) -> None:
        n, name = self.world_size, func.__name__.split(".")[0]
        share = (n - 1) / n
        if name.startswith("allreduce"):
            tensors = args[0] if isinstance(args[0], (list, tuple)) else [args[0]]
            self.bytes_sent += 2 * share * sum(t.nbytes for t in tensors)
        elif name.startswith("_reduce_scatter_base") or name.startswith("reduce_scatter_tensor"):
            self.bytes_sent += share * args[1].nbytes
        elif name.startswith("_allgather_base") or name.startswith("allgather_into_tensor"):
            self.bytes_sent += share * args[0].nbytes
        self.collectives[name] += 1

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.namespace == "c10d":
            self._record_collective(func, args)
        elif not _is_view(func):
            self.ops[self.section] += 1
        else:
            self.views[self.section] += 1
        if func is torch.ops.aten._local_scalar_dense.default:
            self.host_reads += 1
        return func(*args, **(kwargs or {}))


def _is_view(func) -> bool:
    """Whether an aten op only makes a view (or a detached alias) of its input."""
    return bool(func.is_view) or func in (torch.ops.aten.detach.default, torch.ops.aten.alias.default)
