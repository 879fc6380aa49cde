"""Round to nearest: the same symmetric per-row grids as GPTQ, without error feedback."""

from __future__ import annotations

import torch


def rtn_codes(w: torch.Tensor, scales: torch.Tensor, qmax: torch.Tensor) -> torch.Tensor:
    """Integer codes (float tensor) of 2-D `w` rounded on per-row grids `scales` (rows,), clamped to ±qmax."""
    hi = qmax.float()[:, None]
    return torch.clamp(torch.round(w.float() / scales.float()[:, None]), -hi, hi)
