"""The torchrun process group: rank detection, device choice, joining and leaving the group.

`torchrun --nproc_per_node=N -m golfcli ...` sets RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR /
MASTER_PORT; without them a command runs as one process. NCCL on CUDA, gloo on CPU. Training and
evaluation both join the group through `setup` and leave it through `teardown`.

One convention: a `DistInfo` says where this process stands, and every collective takes it
(`current()` describes a group someone else joined). Training's own collectives are in
`golfcli/train/distributed.py`; the two evaluation needs (`gather_rows`, `sum_tensor`) are here.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
from dataclasses import dataclass
from typing import Iterator

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
        raise GolfError(f"device must be auto, cpu, cuda or cuda:N, got {requested!r}")
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


_held: list[DistInfo] = []


def teardown(info: DistInfo) -> None:
    """Leave the process group (if this module joined one), unless a `held` block keeps it."""
    if info.active and dist.is_initialized() and not _held:
        dist.destroy_process_group()


@contextlib.contextmanager
def held(requested_device: str = "auto") -> Iterator[DistInfo]:
    """Join the group once for several stages in one job (an exported train_gpt.py).

    Each stage still calls `setup` and `teardown`; inside the block the group stays joined until
    the block ends, since a destroyed group cannot be joined again under torchrun.
    """
    info = setup(requested_device)
    _held.append(info)
    try:
        yield info
    finally:
        _held.pop()
        teardown(info)


def barrier(info: DistInfo) -> None:
    """Wait for every rank."""
    if info.active:
        dist.barrier()


def current() -> DistInfo:
    """This process's place in the process group already joined; one process when none is."""
    if not (dist.is_available() and dist.is_initialized()):
        return DistInfo()
    rank = dist.get_rank()
    nccl = dist.get_backend() == "nccl"
    device = torch.device("cuda", torch.cuda.current_device()) if nccl else torch.device("cpu")
    return DistInfo(rank, dist.get_world_size(), _env_int("LOCAL_RANK", rank), device)


def gather_rows(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Concatenate every rank's tensor along dim 0, in rank order (ranks may hold different row counts)."""
    if not info.active:
        return t
    n = torch.tensor([t.shape[0]], device=info.device)
    sizes = [torch.zeros_like(n) for _ in range(info.world_size)]
    dist.all_gather(sizes, n)
    rows = [int(s) for s in sizes]
    padded = torch.zeros((max(rows), *t.shape[1:]), dtype=t.dtype, device=info.device)
    padded[: t.shape[0]] = t.to(info.device)
    parts = [torch.empty_like(padded) for _ in rows]
    dist.all_gather(parts, padded)
    return torch.cat([p[:r] for p, r in zip(parts, rows)]).to(t.device)


def sum_tensor(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Element-wise sum over ranks (a copy when summed; `t` itself is unchanged)."""
    if not info.active:
        return t
    out = t.to(info.device).clone()
    dist.all_reduce(out)
    return out.to(t.device)
