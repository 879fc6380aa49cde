"""Which attention kernel runs: FlashAttention-3 when available, SDPA's flash kernel otherwise.

On CUDA, `select_kernel` picks, in order:
- "fa3-sdpa": torch's own FlashAttention-3 route (`torch.nn.attention.activate_flash_attention_impl
  ("FA3")`, where the installed torch lists it and the GPU supports it): SDPA's flash backend then
  runs FA3, so the model code is unchanged;
- "fa3": `flash_attn_interface.flash_attn_func` called directly on (B, T, H, D) tensors;
- "sdpa-flash": SDPA with its flash backend (FA2-class).
On CPU it is "sdpa": SDPA with its default choice, as before.

Training on CUDA runs under `flash_only()`, which disables SDPA's math, memory-efficient and cuDNN
backends, so an input flash cannot take fails loudly instead of silently materialising the scores.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import torch
import torch.nn.functional as F

KERNELS = ("fa3-sdpa", "fa3", "sdpa-flash", "sdpa")

_active = "sdpa"
_fa3_func: Callable | None = None


def _torch_fa3() -> bool:
    """Activate torch's FA3 route for SDPA's flash backend; False where torch or the GPU lacks it."""
    try:
        from torch.nn.attention import activate_flash_attention_impl, list_flash_attention_impls
    except ImportError:
        return False
    if "FA3" not in list_flash_attention_impls():
        return False
    try:
        activate_flash_attention_impl("FA3")
    except Exception:  # the provider library is missing or refuses this GPU
        return False
    return True


def _interface_fa3() -> Callable | None:
    try:
        from flash_attn_interface import flash_attn_func
    except ImportError:
        return None
    return flash_attn_func


def select_kernel(device: torch.device) -> str:
    """Choose (and activate) the attention kernel for `device`; returns its name (one of KERNELS)."""
    global _active, _fa3_func
    if device.type != "cuda":
        _active, _fa3_func = "sdpa", None
    elif _torch_fa3():
        _active, _fa3_func = "fa3-sdpa", None
    elif (fn := _interface_fa3()) is not None:
        _active, _fa3_func = "fa3", fn
    else:
        _active, _fa3_func = "sdpa-flash", None
    return _active


def active_kernel() -> str:
    """The kernel `attention` uses now."""
    return _active


def use_kernel(name: str, fa3_func: Callable | None = None) -> None:
    """Set the kernel by hand (tests; "fa3" needs the function, a CPU twin there)."""
    global _active, _fa3_func
    if name not in KERNELS:
        raise ValueError(f"attention kernel must be one of {', '.join(KERNELS)}, got {name!r}")
    if name == "fa3" and fa3_func is None:
        raise ValueError("the fa3 kernel needs flash_attn_func")
    _active, _fa3_func = name, fa3_func


@contextlib.contextmanager
def flash_only(enabled: bool = True) -> Iterator[None]:
    """SDPA restricted to its flash backend while inside (no-op when not `enabled`)."""
    if not enabled:
        yield
        return
    b = torch.backends.cuda
    saved = (b.math_sdp_enabled(), b.mem_efficient_sdp_enabled(), b.cudnn_sdp_enabled(), b.flash_sdp_enabled())
    b.enable_math_sdp(False)
    b.enable_mem_efficient_sdp(False)
    b.enable_cudnn_sdp(False)
    b.enable_flash_sdp(True)
    try:
        yield
    finally:
        b.enable_math_sdp(saved[0])
        b.enable_mem_efficient_sdp(saved[1])
        b.enable_cudnn_sdp(saved[2])
        b.enable_flash_sdp(saved[3])


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, is_causal: bool = False,
              mask: torch.Tensor | None = None) -> torch.Tensor:
    """Scaled dot-product attention of (B, H, T, D) tensors (K/V may have fewer heads: GQA)."""
    if _fa3_func is not None and mask is None:
        out = _fa3_func(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), causal=is_causal)
        if isinstance(out, tuple):  # some versions also return the log-sum-exp
            out = out[0]
        return out.transpose(1, 2)
    gqa = {"enable_gqa": True} if k.size(1) != q.size(1) else {}
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal, **gqa)
