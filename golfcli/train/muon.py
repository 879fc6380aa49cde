"""Muon: momentum, then an approximate orthogonalisation of each matrix update (Newton–Schulz 5).

Per parameter W (rows × cols, or a batch of such matrices in the leading dims), per step:
    buf ← μ·buf + g ;  u ← g + μ·buf                     (Nesterov)
    W   ← W·(1 − lr·wd)                                    (decoupled weight decay)
    W   ← W − lr·√max(1, rows/cols)·NS5(u)
NS5 normalises u by its Frobenius norm and runs five steps of X ← aX + (bA + cA²)X with A = XXᵀ
and (a, b, c) = (3.4445, −4.7750, 2.0315), on the wide orientation of the matrix.

With several ranks (gradients already averaged), each rank can run NS5 for its own share of the
parameters and the updates are summed across ranks in one flat all-reduce; momentum buffers are
kept on every rank so any rank's state is the whole optimizer state.
"""

from __future__ import annotations

import math

import torch
import torch.distributed as dist

NS_COEFFS = (3.4445, -4.7750, 2.0315)


def newton_schulz5(g: torch.Tensor, steps: int = 5, eps: float = 1e-7, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Approximately orthogonalise the last two dims of `g` (batched over leading dims).

    Computed in `dtype` (bf16 on GPU for speed; float32 on CPU); returned in that dtype.
    """
    a, b, c = NS_COEFFS
    x = g.to(dtype or g.dtype)
    x = x / (x.norm(dim=(-2, -1), keepdim=True) + eps)
    tall = x.size(-2) > x.size(-1)
    if tall:
        x = x.mT
    for _ in range(steps):
        s = x @ x.mT
        poly = b * s + c * (s @ s)
        x = a * x + poly @ x
    return x.mT if tall else x


def shape_scale(p: torch.Tensor) -> float:
    """√max(1, rows/cols) over the last two dims."""
    return math.sqrt(max(1.0, p.size(-2) / p.size(-1)))


class Muon(torch.optim.Optimizer):
    """Muon for matrices (ndim ≥ 2). `momentum` is set by the caller each step (warmup schedule)."""

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
    ):
        defaults = dict(lr=lr, momentum=momentum, weight_decay=weight_decay, ns_steps=ns_steps)
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                if p.ndim < 2:
                    raise ValueError(f"Muon takes matrices only, got a parameter of shape {tuple(p.shape)}")
        self.ns_dtype = ns_dtype
        self.rank, self.world_size = rank, world_size

    def _direction(self, p: torch.Tensor, group: dict) -> torch.Tensor:
        """Update momentum and return the Nesterov direction u for `p`."""
        state = self.state[p]
        if "momentum_buffer" not in state:
            state["momentum_buffer"] = torch.zeros_like(p)
        buf = state["momentum_buffer"]
        mu = group["momentum"]
        buf.mul_(mu).add_(p.grad)
        return p.grad.add(buf, alpha=mu)

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[override]
        """One Muon step over every parameter that has a gradient."""
        sharded = self.world_size > 1 and dist.is_available() and dist.is_initialized()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            updates = []
            for i, p in enumerate(params):
                u = self._direction(p, group)
                if sharded and i % self.world_size != self.rank:
                    updates.append(torch.zeros_like(p))
                    continue
                o = newton_schulz5(u, group["ns_steps"], dtype=self.ns_dtype)
                updates.append(o.to(p.dtype) * shape_scale(p))
            if sharded:
                flat = torch.cat([u.reshape(-1) for u in updates])
                dist.all_reduce(flat)
                updates = [t.view_as(p) for t, p in zip(flat.split([p.numel() for p in params]), params)]
            lr, wd = group["lr"], group["weight_decay"]
            for p, u in zip(params, updates):
                if wd:
                    p.mul_(1 - lr * wd)
                p.add_(u, alpha=-lr)
        return None
