"""Quantize one weight at one or more bit widths, choosing each row's clip by measured error.

Every (bit width, clip candidate) pair is a grid per row; all of them are stacked as extra rows
and quantized together (GPTQ when a Hessian is given, else round to nearest). For each bit width
every row keeps the clip candidate whose error is smallest: GPTQ's own objective
(w−ŵ) H_damped (w−ŵ)ᵀ for GPTQ, (w−ŵ) H (w−ŵ)ᵀ for RTN with a Hessian, plain squared error
without one. Reported errors are always against the undamped H.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from golfcli.qtensor import as_rows, grid_max
from golfcli.quant.clip import ClipRule, candidate_clips, scales_for
from golfcli.quant.gptq import gptq_codes, prepare_hessian
from golfcli.quant.rtn import rtn_codes
from golfcli.quant.size import quantized_bytes


@dataclass
class QuantOption:
    """One bit width's result for a tensor."""

    bits: int
    codes: torch.Tensor  # int8 (rows, cols)
    scales: torch.Tensor  # float16 (rows,)
    error: float  # tr((W−Ŵ) H (W−Ŵ)ᵀ), or ‖W−Ŵ‖² without a Hessian
    sq_error: float  # ‖W−Ŵ‖²
    bytes: int  # estimated packed bytes (entropy of the codes + table + scales)


@dataclass
class TensorQuant:
    """A tensor quantized at every requested bit width."""

    method: str  # "gptq" or "rtn"
    weighted: bool  # error is Hessian-weighted
    reference: float  # tr(W H Wᵀ) (or ‖W‖²): the error of quantizing everything to zero
    options: dict[int, QuantOption] = field(default_factory=dict)
    damp: float | None = None
    damp_retries: int = 0
    seconds: float = 0.0


def weighted_row_error(diff: torch.Tensor, h: torch.Tensor | None) -> torch.Tensor:
    """Per-row error of a 2-D difference: rows of (D H) ⊙ D summed, or of D² without H."""
    if h is None:
        return (diff * diff).sum(dim=1)
    return ((diff @ h) * diff).sum(dim=1)


def quantize_tensor(
    w: torch.Tensor,
    bits: list[int],
    clip: ClipRule,
    h: torch.Tensor | None = None,
    method: str = "gptq",
    damp: float = 0.01,
    block: int = 128,
    act_order: bool = True,
) -> TensorQuant:
    """Quantize `w` (viewed as rows) at each width in `bits`; GPTQ needs `h` (cols × cols), else RTN."""
    start = time.perf_counter()
    w2 = as_rows(w.detach()).float()
    rows, cols = w2.shape
    hf = None if h is None else h.float()
    use_gptq = method == "gptq" and hf is not None
    clips = candidate_clips(w2, clip)  # (C, rows)
    n_clip = clips.shape[0]
    scales = torch.stack([scales_for(clips, b) for b in bits])  # (B, C, rows)
    qmax = torch.tensor([float(grid_max(b)) for b in bits])[:, None, None].expand_as(scales)
    flat_scales = scales.reshape(-1)
    flat_qmax = qmax.reshape(-1)
    stacked = w2.repeat(len(bits) * n_clip, 1)
    result = TensorQuant(method="gptq" if use_gptq else "rtn", weighted=hf is not None, reference=0.0)
    if use_gptq:
        prep = prepare_hessian(hf, damp, act_order)
        result.damp, result.damp_retries = prep.damp, prep.retries
        codes, damped_error = gptq_codes(stacked, prep, flat_scales, flat_qmax, block)
        selection = damped_error  # GPTQ's own objective: (w−ŵ) H_damped (w−ŵ)ᵀ per row
    else:
        codes = rtn_codes(stacked, flat_scales, flat_qmax)
        selection = weighted_row_error(stacked - codes * flat_scales[:, None], hf)
    del stacked
    best = selection.reshape(len(bits), n_clip, rows).argmin(dim=1)  # (B, rows)
    codes = codes.reshape(len(bits), n_clip, rows, cols)
    row_index = torch.arange(rows)
    for i, b in enumerate(bits):
        chosen = codes[i, best[i], row_index]
        chosen_scales = scales[i, best[i], row_index].to(torch.float16)
        diff = w2 - chosen * chosen_scales.float()[:, None]
        chosen = chosen.to(torch.int8)
        result.options[b] = QuantOption(
            bits=b,
            codes=chosen,
            scales=chosen_scales,
            error=float(weighted_row_error(diff, hf).double().sum()),
            sq_error=float((diff * diff).double().sum()),
            bytes=quantized_bytes(chosen),
        )
    result.reference = float(weighted_row_error(w2, hf).double().sum())
    result.seconds = time.perf_counter() - start
    return result
