"""Muon: momentum, then an approximate orthogonalisation of each matrix update (Newton–Schulz 5).

Per parameter W (rows × cols), per step:
    buf ← μ·buf + g ;  u ← g + μ·buf                     (Nesterov)
    u   ← u / ‖row‖ for every row                          (MuonEq-R, optional; record 1493)
    W   ← W·(1 − lr·wd)                                    (decoupled weight decay)
    W   ← W − lr·√max(1, rows/cols)·NS5(u)
NS5 normalises u by its Frobenius norm and runs five steps of X ← aX + (bA + cA²)X with A = XXᵀ
and (a, b, c) = (3.4445, −4.7750, 2.0315), on the wide orientation of the matrix.

Matrices of one shape are stacked into a bank and orthogonalised in one batched Newton–Schulz
(compiled on CUDA), so a step issues a few dozen launches instead of hundreds. With several ranks
each bank is padded with zero matrices to a multiple of the world size and split evenly, so every
rank orthogonalises the same number of matrices of every shape (equal FLOPs):
    reduce-scatter of the bank's gradients (bf16 on GPU) → this rank's shard, averaged
    momentum and Newton–Schulz on the shard → all-gather of the updates (bf16 on GPU),
launched asynchronously bank by bank, so one bank's all-gather overlaps the next one's
Newton–Schulz. A rank keeps the momentum of the matrices it owns only; `gather_state` (a
collective) fills in the others before a checkpoint is written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.distributed as dist

NS_COEFFS = (3.4445, -4.7750, 2.0315)
ROW_NORM_EPS = 1e-7


def newton_schulz5(g: torch.Tensor, steps: int = 5, eps: float = 1e-7, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Approximately orthogonalise the last two dims of `g` (batched over leading dims).

    Computed in `dtype` (bf16 on GPU for speed; float32 on CPU); returned in that dtype.
    """
    a, b, c = NS_COEFFS
    shape = g.shape
    x = g.to(dtype or g.dtype).reshape(-1, shape[-2], shape[-1])
    x = x / (x.norm(dim=(-2, -1), keepdim=True) + eps)
    tall = x.size(-2) > x.size(-1)
    if tall:
        x = x.mT
    for _ in range(steps):
        s = torch.bmm(x, x.mT)
        poly = torch.baddbmm(s, s, s, beta=b, alpha=c)
        x = torch.baddbmm(x, poly, x, beta=a)
    return (x.mT if tall else x).reshape(shape)


def row_normalize(u: torch.Tensor) -> torch.Tensor:
    """MuonEq-R: every row (last dim) divided by its L2 norm (at least 1e-7)."""
    return u / u.float().norm(dim=-1, keepdim=True).clamp_min(ROW_NORM_EPS).to(u.dtype)


def shape_scale(p: torch.Tensor) -> float:
    """√max(1, rows/cols) over the last two dims."""
    return math.sqrt(max(1.0, p.size(-2) / p.size(-1)))


@dataclass
class _Bank:
    """Same-shape matrices of one param group, and this rank's share of them."""

    params: list[torch.nn.Parameter]
    lo: int  # this rank owns params[lo:hi]
    hi: int
    per_rank: int  # matrices per rank (the bank padded with zeros to per_rank × world size)
    send: torch.Tensor | None = None  # padded stacked gradients (sharded only)
    shard: torch.Tensor | None = None  # this rank's reduced gradients
    gathered: torch.Tensor | None = None  # everyone's updates
    upd: torch.Tensor | None = None  # this rank's updates, sent by the all-gather
    momentum: torch.Tensor | None = None  # (hi − lo, rows, cols); state entries are views of it
    views: list = field(default_factory=list)  # momentum.unbind(0), the objects held in the state
    handle: object | None = field(default=None, repr=False)


class Muon(torch.optim.Optimizer):
    """Muon for matrices (ndim = 2). `momentum` is set by the caller each step (warmup schedule).

    `world_size > 1` with an initialised process group shards the work: gradients must then be
    the ranks' un-averaged local gradients, handed over by `reduce_gradients()` (asynchronous;
    call it before clipping) — `step` waits for them.
    """

    def __init__(
        self,
        params,
        lr: float = 0.02,
        momentum: float = 0.95,
        weight_decay: float = 0.0,
        ns_steps: int = 5,
        ns_dtype: torch.dtype | None = None,
        rank: int = 0,
        world_size: int = 1,
        row_normalize: bool = False,
        comm_dtype: torch.dtype = torch.float32,
        compile_ns: bool = False,
    ):
        defaults = dict(lr=lr, momentum=momentum, weight_decay=weight_decay, ns_steps=ns_steps,
                        row_normalize=row_normalize)
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                if p.ndim != 2:
                    raise ValueError(f"Muon takes matrices only, got a parameter of shape {tuple(p.shape)}")
        self.ns_dtype = ns_dtype
        self.rank, self.world_size = rank, world_size
        self.comm_dtype = comm_dtype
        self._ns = torch.compile(newton_schulz5, fullgraph=True, dynamic=False) if compile_ns else newton_schulz5
        self._banks: dict[int, list[_Bank]] = {}
        self._bank_keys: dict[int, tuple] = {}
        self._reduced = False

    @property
    def sharded(self) -> bool:
        """True when this rank does only its share (several ranks, process group up)."""
        return self.world_size > 1 and dist.is_available() and dist.is_initialized()

    # --- banks ---------------------------------------------------------------------------------
    def _group_banks(self, gi: int, group: dict) -> list[_Bank]:
        """This group's banks for the parameters that have gradients now (rebuilt when that changes)."""
        params = [p for p in group["params"] if p.grad is not None]
        key = tuple(id(p) for p in params)
        if self._bank_keys.get(gi) != key:
            by_shape: dict[tuple, list[torch.nn.Parameter]] = {}
            for p in params:
                by_shape.setdefault((tuple(p.shape), p.dtype), []).append(p)
            n = self.world_size if self.sharded else 1
            banks = []
            for members in by_shape.values():
                per = -(-len(members) // n)
                lo, hi = min(self.rank * per, len(members)), min((self.rank + 1) * per, len(members))
                banks.append(_Bank(members, lo if n > 1 else 0, hi if n > 1 else len(members), per))
            self._banks[gi], self._bank_keys[gi] = banks, key
        return self._banks[gi]

    def _momentum(self, bank: _Bank) -> torch.Tensor:
        """The bank's momentum; rebuilt from the per-parameter state when that was replaced (load)."""
        owned = bank.params[bank.lo : bank.hi]
        m = bank.momentum
        if m is None or any(self.state[p].get("momentum_buffer") is not v for p, v in zip(owned, bank.views)):
            ref = owned[0] if owned else bank.params[0]
            m = torch.zeros((len(owned), *ref.shape), dtype=ref.dtype, device=ref.device)
            for i, p in enumerate(owned):
                if "momentum_buffer" in self.state[p]:
                    m[i].copy_(self.state[p]["momentum_buffer"])
            bank.momentum, bank.views = m, list(m.unbind(0))
            for p, v in zip(owned, bank.views):
                self.state[p]["momentum_buffer"] = v
        return m

    # --- communication -------------------------------------------------------------------------
    def reduce_gradients(self) -> None:
        """Launch the reduce-scatter of every bank's gradients (sharded only; asynchronous)."""
        if not self.sharded:
            return
        for gi, group in enumerate(self.param_groups):
            for bank in self._group_banks(gi, group):
                ref = bank.params[0]
                total = bank.per_rank * self.world_size
                if bank.send is None or bank.send.size(0) != total:
                    bank.send = torch.zeros((total, *ref.shape), dtype=self.comm_dtype, device=ref.device)
                    bank.shard = torch.empty((bank.per_rank, *ref.shape), dtype=self.comm_dtype, device=ref.device)
                    bank.gathered = torch.empty_like(bank.send)
                torch._foreach_copy_(list(bank.send[: len(bank.params)].unbind(0)), [p.grad for p in bank.params])
                bank.handle = dist.reduce_scatter_single(bank.shard, bank.send, async_op=True)
        self._reduced = True

    def _wait_reduced(self) -> None:
        if not self._reduced:
            self.reduce_gradients()
        for banks in self._banks.values():
            for bank in banks:
                if bank.handle is not None:
                    bank.handle.wait()
                    bank.handle = None

    def local_grad_sq(self) -> torch.Tensor:
        """Sum of squares of this rank's shard of the averaged gradients (sharded only; a 0-d tensor)."""
        self._wait_reduced()
        shards = [b.shard[: b.hi - b.lo] for bs in self._banks.values() for b in bs if b.hi > b.lo]
        ref = next(iter(self._banks.values()))[0].params[0]
        if not shards:
            return torch.zeros((), device=ref.device)
        norms = torch._foreach_norm([s.float() for s in shards])
        return torch.stack(norms).square().sum() / self.world_size ** 2

    # --- the step ------------------------------------------------------------------------------
    @torch.no_grad()
    def step(self, closure=None, grad_scale: torch.Tensor | None = None):  # type: ignore[override]
        """One Muon step over every parameter that has a gradient (`grad_scale`: the clip factor)."""
        if self.sharded:
            self._wait_reduced()
        pending: list[tuple[dict, _Bank, torch.Tensor | None]] = []
        for gi, group in enumerate(self.param_groups):
            for bank in self._group_banks(gi, group):
                pending.append((group, bank, self._bank_update(group, bank, grad_scale)))
        for group, bank, update in pending:
            self._apply(group, bank, update)
        self._reduced = False
        return None

    def _bank_update(self, group: dict, bank: _Bank, grad_scale: torch.Tensor | None) -> torch.Tensor | None:
        """Momentum and Newton–Schulz for this rank's share; launches the all-gather when sharded."""
        owned = bank.hi - bank.lo
        ref = bank.params[0]
        if self.sharded:
            g = bank.shard[:owned].to(ref.dtype)
            scale = 1.0 / self.world_size
            g = g.mul_(grad_scale * scale) if grad_scale is not None else g.mul_(scale)
        else:
            g = torch.stack([p.grad for p in bank.params]).to(ref.dtype)
            if grad_scale is not None:
                g.mul_(grad_scale)
        buf = self._momentum(bank)
        mu = group["momentum"]
        if owned:
            buf.mul_(mu).add_(g)
            u = g.add_(buf, alpha=mu)
            if group["row_normalize"]:
                u = row_normalize(u)
            o = self._ns(u, group["ns_steps"], dtype=self.ns_dtype)
        if not self.sharded:
            return o.to(ref.dtype).mul_(shape_scale(ref))
        if bank.upd is None:
            bank.upd = torch.empty((bank.per_rank, *ref.shape), dtype=self.comm_dtype, device=ref.device)
        if owned:  # rows past `owned` land on the padding of the gathered bank and are never read
            bank.upd[:owned].copy_(o.mul_(shape_scale(ref)))
        bank.handle = dist.all_gather_single(bank.gathered, bank.upd, async_op=True)
        return None

    def _apply(self, group: dict, bank: _Bank, update: torch.Tensor | None) -> None:
        lr, wd = group["lr"], group["weight_decay"]
        if update is None:
            bank.handle.wait()
            bank.handle = None
            update = bank.gathered[: len(bank.params)].to(bank.params[0].dtype)
        if wd:
            torch._foreach_mul_(bank.params, 1 - lr * wd)
        torch._foreach_add_(bank.params, list(update.unbind(0)), alpha=-lr)

    # --- state ---------------------------------------------------------------------------------
    @torch.no_grad()
    def gather_state(self) -> None:
        """Collective: give every rank the momentum of every matrix (before `state_dict` for a checkpoint)."""
        if not self.sharded:
            return
        for banks in self._banks.values():
            for bank in banks:
                m = self._momentum(bank)
                ref = bank.params[0]
                mine = torch.zeros((bank.per_rank, *ref.shape), dtype=ref.dtype, device=ref.device)
                mine[: m.size(0)].copy_(m)
                full = torch.empty((bank.per_rank * self.world_size, *ref.shape), dtype=ref.dtype, device=ref.device)
                dist.all_gather_single(full, mine)
                for i, p in enumerate(bank.params):
                    if not bank.lo <= i < bank.hi:
                        self.state[p]["momentum_buffer"] = full[i].clone()
