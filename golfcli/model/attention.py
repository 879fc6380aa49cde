"""Causal GQA self-attention: QK-norm, (partial) RoPE, per-head q gain, optional XSA, optional KV cache."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from golfcli.model import kernels
from golfcli.model.linear import CastedLinear

_SDPA_HAS_GQA = tuple(int(x) for x in torch.__version__.split(".")[:2]) >= (2, 5)


class Rotary(nn.Module):
    """Rotate-half RoPE on the first `dims` dims of each head (pairs (j, j + dims/2)).

    The pair (x1, x2) becomes (x1·cos + x2·sin, −x1·sin + x2·cos), the published scripts'
    direction, so their checkpoints load without touching the q/k weights.

    With `train_seq_len > 0` the base is NTK-rescaled for longer sequences:
    base' = base · (length / train_seq_len)^(dims / (dims − 2)), `length` being the sequence length
    (or the KV cache's capacity when generating).

    `dtype = "bf16"` computes the tables the scripts get from a `.bfloat16()` model (record 1493, the
    baseline): their bf16 `inv_freq` buffer, the position grid, angles and cos/sin in bf16, for every
    length the base is not rescaled for (a rescaled base is computed in float32, as there);
    "bf16_inv_freq" rounds only the frequencies (PR #363 casts that buffer back to float32).
    """

    def __init__(self, head_dim: int, dims: int, base: float, train_seq_len: int, dtype: str = "fp32"):
        super().__init__()
        self.dims = dims or head_dim
        if self.dims % 2 or self.dims > head_dim:
            raise ValueError(f"rope dims must be even and ≤ head_dim {head_dim}, got {self.dims}")
        self.base = base
        self.train_seq_len = train_seq_len
        half = self.dims // 2  # the buffer as the scripts build it on the CPU, then round it
        self.inv_bf16 = dtype != "fp32" and (1.0 / base ** (torch.arange(0, half, device="cpu") / half)).bfloat16().tolist()
        self.grid = torch.bfloat16 if dtype == "bf16" else torch.float32

    def base_for(self, length: int) -> float:
        """The RoPE base used for sequences of `length` tokens."""
        if self.train_seq_len > 0 and length > self.train_seq_len:
            return self.base * (length / self.train_seq_len) ** (self.dims / (self.dims - 2))
        return self.base

    def cos_sin(self, start: int, count: int, length: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and sin (count, dims/2) for positions start..start+count−1."""
        half, dtype = self.dims // 2, torch.float32
        inv_freq = 1.0 / (self.base_for(length) ** (torch.arange(0, half, device=device, dtype=dtype) / half))
        if self.inv_bf16 and self.base_for(length) == self.base:  # the scripts' buffer, where they use it
            dtype = self.grid
            inv_freq = torch.tensor(self.inv_bf16, device=device, dtype=dtype)
        pos = torch.arange(start, start + count, device=device, dtype=dtype)
        angles = torch.outer(pos, inv_freq)
        return angles.cos(), angles.sin()

    def apply(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        """Rotate x (B, T, H, D); cos/sin (T, dims/2)."""
        half = self.dims // 2
        rot, rest = x[..., : self.dims], x[..., self.dims:]
        x1, x2 = rot[..., :half], rot[..., half:]
        cos = cos[None, :, None, :].to(x.dtype)
        sin = sin[None, :, None, :].to(x.dtype)
        rotated = torch.cat((x1 * cos + x2 * sin, x2 * cos - x1 * sin), dim=-1)
        return torch.cat((rotated, rest), dim=-1) if rest.shape[-1] else rotated


class LayerCache:
    """K and V of one virtual layer for generation: (B, Hkv, max_len, D) each, filled up to `length`."""

    def __init__(self, batch: int, kv_heads: int, max_len: int, head_dim: int, device, dtype):
        self.k = torch.zeros(batch, kv_heads, max_len, head_dim, device=device, dtype=dtype)
        self.v = torch.zeros_like(self.k)
        self.length = 0

    def extend(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Append new k, v (B, Hkv, t, D); return all cached keys and values so far."""
        t = k.shape[2]
        end = self.length + t
        if end > self.k.shape[2]:
            raise ValueError(f"KV cache holds {self.k.shape[2]} tokens; {end} requested")
        self.k[:, :, self.length:end] = k.to(self.k.dtype)
        self.v[:, :, self.length:end] = v.to(self.v.dtype)
        self.length = end
        return self.k[:, :, :end], self.v[:, :, :end]


class Attention(nn.Module):
    """q, k, v, proj linears; per-head RMS norm of q and k; RoPE; causal SDPA (GQA)."""

    def __init__(self, dim: int, num_heads: int, num_kv_heads: int):
        super().__init__()
        if dim % num_heads or num_heads % num_kv_heads:
            raise ValueError(f"model_dim {dim} / heads {num_heads} / kv heads {num_kv_heads} do not divide")
        self.num_heads, self.num_kv_heads = num_heads, num_kv_heads
        self.head_dim = dim // num_heads
        kv_dim = num_kv_heads * self.head_dim
        self.q = CastedLinear(dim, dim)
        self.k = CastedLinear(dim, kv_dim)
        self.v = CastedLinear(dim, kv_dim)
        self.proj = CastedLinear(dim, dim, zero_init=True)

    def forward(
        self,
        x: torch.Tensor,
        q_gain: torch.Tensor,
        rope: tuple[Rotary, torch.Tensor, torch.Tensor],
        xsa: bool = False,
        v_extra: torch.Tensor | None = None,
        cache: LayerCache | None = None,
        q_extra: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Attention of x (B, T, dim) with `rope` = (rotary, cos, sin) for these positions;
        `v_extra` (B, T, kv_dim) is added to V (value embeddings, LoRA), `q_extra` (B, T, dim) to Q
        (LoRA); `cache` holds earlier K/V."""
        B, T, _ = x.shape
        q = self.q(x)
        if q_extra is not None:
            q = q + q_extra.to(q.dtype)
        q = q.view(B, T, self.num_heads, self.head_dim)
        k = self.k(x).view(B, T, self.num_kv_heads, self.head_dim)
        v = self.v(x)
        if v_extra is not None:
            v = v + v_extra.to(v.dtype)
        v = v.view(B, T, self.num_kv_heads, self.head_dim)
        q = F.rms_norm(q, (self.head_dim,))
        k = F.rms_norm(k, (self.head_dim,))
        rotary, cos, sin = rope
        q = rotary.apply(q, cos, sin)
        k = rotary.apply(k, cos, sin)
        q = q * q_gain.to(q.dtype)[None, None, :, None]
        qh, kh, vh = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        if cache is None:
            y = self._sdpa(qh, kh, vh, is_causal=True)
        else:
            kh, vh = cache.extend(kh, vh)
            mask = None
            if T > 1:  # new queries see the whole cache and the new keys up to themselves
                past = kh.shape[2] - T
                mask = torch.ones(T, kh.shape[2], dtype=torch.bool, device=x.device).tril(diagonal=past)
            y = self._sdpa(qh, kh, vh, mask=mask)
        y = y.transpose(1, 2)  # (B, T, H, D)
        if xsa:
            y = self._exclude_self(y, v)
        return self.proj(y.reshape(B, T, -1))

    def _sdpa(self, q, k, v, is_causal: bool = False, mask: torch.Tensor | None = None) -> torch.Tensor:
        if self.num_kv_heads != self.num_heads and not _SDPA_HAS_GQA:
            rep = self.num_heads // self.num_kv_heads
            k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
            return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal)
        return kernels.attention(q, k, v, is_causal=is_causal, mask=mask)

    def _exclude_self(self, y: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """XSA: remove from each head's output its component along its own token's value direction."""
        B, T, H, D = y.shape
        group = H // self.num_kv_heads
        yg = y.view(B, T, self.num_kv_heads, group, D)
        vn = F.normalize(v.to(y.dtype), dim=-1).unsqueeze(3)  # (B, T, Hkv, 1, D)
        yg = yg - (yg * vn).sum(-1, keepdim=True) * vn
        return yg.view(B, T, H, D)

