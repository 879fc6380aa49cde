"""torch.distributed for training: rank detection, process group, gradient averaging.

`torchrun --nproc_per_node=N -m golfcli train ...` sets RANK / WORLD_SIZE / LOCAL_RANK /
MASTER_ADDR / MASTER_PORT; without them training runs as one process. NCCL on CUDA, gloo on CPU.
Gradients are averaged DDP-style (one flat all-reduce per step, after backward), so every rank
holds identical weights and optimizer state; only rank 0 writes files.
"""

from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from golfcli.errors import GolfError


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise GolfError(f"environment variable {name} must be an integer, got {value!r}") from None


def pick_device(requested: str, local_rank: int = 0) -> torch.device:
    """'auto' → cuda:LOCAL_RANK when CUDA is available, else cpu; 'cpu' / 'cuda' / 'cuda:N' as given."""
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda"):
        if not torch.cuda.is_available():
            raise GolfError(f"device {requested!r} requested but CUDA is not available")
        return torch.device(requested if ":" in requested else f"cuda:{local_rank}")
    if requested != "cpu":
        raise GolfError(f"train.device must be auto, cpu, cuda or cuda:N, got {requested!r}")
    return torch.device("cpu")


def setup(requested_device: str = "auto") -> DistInfo:
    """Read the torchrun environment, pick the device and join the process group when WORLD_SIZE > 1."""
    world = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local = _env_int("LOCAL_RANK", rank)
    if world < 1 or not 0 <= rank < world:
        raise GolfError(f"bad RANK={rank} for WORLD_SIZE={world}")
    device = pick_device(requested_device, local)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        kwargs = {"device_id": device} if device.type == "cuda" else {}
        dist.init_process_group(backend=backend, rank=rank, world_size=world,
                                timeout=_dt.timedelta(minutes=30), **kwargs)
    return DistInfo(rank, world, local, device)


def teardown(info: DistInfo) -> None:
    """Leave the process group (if this module joined one)."""
    if info.active and dist.is_initialized():
        dist.destroy_process_group()


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


def barrier(info: DistInfo) -> None:
    """Wait for every rank."""
    if info.active:
        dist.barrier()
