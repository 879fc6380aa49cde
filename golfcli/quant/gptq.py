"""GPTQ: round a weight column by column on a fixed per-row grid, feeding each column's error forward.

For W (rows = outputs, cols = inputs) and the input Hessian H = E[x xᵀ], GPTQ minimises
tr((W−Ŵ) H (W−Ŵ)ᵀ). Steps (IST-DASLab's algorithm): dead inputs (diag H = 0) are dropped, H is
damped by `damp·mean(diag H)` (raised automatically when the Cholesky factorisation fails),
columns are processed in order of decreasing diag H (act-order), U = upper Cholesky factor of H⁻¹
gives the error-feedback rows, and updates are applied lazily: rank-1 inside a block of columns,
one matrix product for all later columns after each block.

Rows are independent given H, so callers stack several candidate grids (clips × bit widths) of the
same weight as extra rows and run GPTQ once for all of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from golfcli.errors import GolfError

MAX_DAMP_RETRIES = 8
SUB_BLOCK = 16  # columns per rank-1 update group inside a lazy-update block


@dataclass
class PreparedHessian:
    """What GPTQ needs from H: the processing order and the upper Cholesky factor of the damped H⁻¹."""

    u: torch.Tensor  # (cols, cols) float32, upper triangular, rows/cols in processing order
    perm: torch.Tensor  # processing order of the columns (act-order) as indices into the original columns
    dead: torch.Tensor  # bool (cols,): inputs that never fired (zero diagonal), original order
    damp: float  # damping actually used, as a fraction of mean(diag H)
    retries: int  # how many times the damping had to be raised


def prepare_hessian(h: torch.Tensor, damp: float = 0.01, act_order: bool = True) -> PreparedHessian:
    """Dead columns, damping (raised ×10 while H + δI is not safely positive definite), act-order, U."""
    h = h.detach().to(torch.float32).clone()  # float32 like the reference implementations
    cols = h.shape[0]
    diag = h.diagonal()
    dead = diag <= 0
    h[dead, :] = 0
    h[:, dead] = 0
    h.diagonal()[dead] = 1.0
    perm = torch.argsort(h.diagonal(), descending=True, stable=True) if act_order else torch.arange(cols)
    h = h[perm][:, perm]
    mean_diag = float(h.diagonal().mean())
    eye = torch.eye(cols, dtype=torch.float32)
    frac = damp if damp > 0 else 1e-6
    for retry in range(MAX_DAMP_RETRIES + 1):
        u = upper_inverse_factor(h + (frac * mean_diag) * eye, frac * mean_diag)
        if u is not None:
            return PreparedHessian(u, perm, dead, frac, retry)
        frac *= 10.0
    raise GolfError(f"GPTQ: the Hessian is not positive definite even with damping {frac / 10:g}")


def upper_inverse_factor(h: torch.Tensor, damping: float) -> torch.Tensor | None:
    """U upper triangular with UᵀU = h⁻¹, or None when h is not safely positive definite.

    With J the order-reversing permutation, chol(J h J) = L gives h = R Rᵀ for the upper triangular
    R = J L J, so h⁻¹ = (R⁻¹)ᵀ R⁻¹ and U = R⁻¹: one factorisation and one triangular inverse
    (instead of cholesky → cholesky_inverse → cholesky).
    """
    lower, info = torch.linalg.cholesky_ex(h.flip(0, 1))
    # For a positive semi-definite H every pivot of H + δI is at least δ; a smaller one means H
    # has a negative direction that the damping only just covers (an ill-conditioned factor).
    if int(info) != 0 or float(lower.diagonal().min()) ** 2 < 0.5 * damping:
        return None
    r = lower.flip(0, 1)
    eye = torch.eye(h.shape[0], dtype=h.dtype)
    u = torch.linalg.solve_triangular(r, eye, upper=True)
    return u if bool(torch.isfinite(u).all()) else None


def gptq_codes(
    w: torch.Tensor, prep: PreparedHessian, scales: torch.Tensor, qmax: torch.Tensor, block: int = 128
) -> tuple[torch.Tensor, torch.Tensor]:
    """Integer codes (float tensor, original column order) of 2-D `w` on per-row grids, and each row's error.

    `scales` (rows,) and `qmax` (rows,) give each row's grid step and largest code; dead columns
    get code 0. The second result is Σ_j e_j² per row (e_j the scaled column errors), which equals
    (w−ŵ) H_damped (w−ŵ)ᵀ exactly: the objective GPTQ minimises, for free. Works on Wᵀ so that a
    column is a contiguous row in memory; inside a block, rank-1 updates only touch a sub-block of
    SUB_BLOCK columns and the rest of the block is updated by one matrix product (less memory traffic).
    """
    rows, cols = w.shape
    wt = w.detach().float()[:, prep.perm].t().contiguous()  # (cols, rows) in processing order
    wt[prep.dead[prep.perm]] = 0.0
    qt = torch.empty_like(wt)
    scales = scales.float()
    inv_scales = 1.0 / scales
    hi = qmax.float()
    lo = -hi
    u = prep.u
    inv_diag = (1.0 / u.diagonal()).tolist()
    row_error = torch.zeros(rows, dtype=torch.float64)
    for i1 in range(0, cols, block):
        i2 = min(i1 + block, cols)
        errs = torch.empty(i2 - i1, rows)
        for k1 in range(i1, i2, SUB_BLOCK):
            k2 = min(k1 + SUB_BLOCK, i2)
            wb = wt[k1:k2]
            eb = errs[k1 - i1:k2 - i1]
            for j in range(k2 - k1):
                x = wb[j]
                q = torch.clamp(torch.round(x * inv_scales), lo, hi)
                qt[k1 + j] = q
                e = eb[j]
                torch.sub(x, q * scales, out=e)
                e.mul_(inv_diag[k1 + j])
                if j + 1 < k2 - k1:
                    wb[j + 1:].addr_(u[k1 + j, k1 + j + 1:k2], e, alpha=-1.0)
            if k2 < i2:
                wt[k2:i2].addmm_(u[k1:k2, k2:i2].t(), eb, alpha=-1.0)
        if i2 < cols:
            wt[i2:].addmm_(u[i1:i2, i2:].t(), errs, alpha=-1.0)
        row_error += (errs * errs).sum(dim=0, dtype=torch.float64)
    codes = torch.empty((rows, cols), dtype=torch.float32)
    codes[:, prep.perm] = qt.t()
    return codes, row_error
