"""The little torch.distributed the evaluators need: rank, world size, gathers and sums."""

from __future__ import annotations

import torch
import torch.distributed as dist


def active() -> bool:
    """True under an initialised process group."""
    return dist.is_available() and dist.is_initialized()


def rank_and_world() -> tuple[int, int]:
    """(rank, world size); (0, 1) outside torchrun."""
    if not active():
        return 0, 1
    return dist.get_rank(), dist.get_world_size()


def _comm_device(t: torch.Tensor) -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def gather_rows(t: torch.Tensor) -> torch.Tensor:
    """Concatenate every rank's tensor along dim 0, in rank order (ranks may hold different row counts)."""
    if not active():
        return t
    device = _comm_device(t)
    n = torch.tensor([t.shape[0]], device=device)
    sizes = [torch.zeros_like(n) for _ in range(dist.get_world_size())]
    dist.all_gather(sizes, n)
    rows = [int(s) for s in sizes]
    width = max(rows)
    padded = torch.zeros((width, *t.shape[1:]), dtype=t.dtype, device=device)
    padded[: t.shape[0]] = t.to(device)
    parts = [torch.empty_like(padded) for _ in rows]
    dist.all_gather(parts, padded)
    return torch.cat([p[:r] for p, r in zip(parts, rows)]).to(t.device)


def sum_tensor(t: torch.Tensor) -> torch.Tensor:
    """Element-wise sum over ranks (a copy; `t` itself is unchanged)."""
    if not active():
        return t
    device = _comm_device(t)
    out = t.to(device).clone()
    dist.all_reduce(out)
    return out.to(t.device)
