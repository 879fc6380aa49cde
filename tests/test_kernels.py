"""Attention kernel selection: SDPA on CPU as before, the FA3 layout path equal through a CPU twin."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from golfcli.config import load_config
from golfcli.model import GPT, kernels


@pytest.fixture(autouse=True)
def _restore_kernel():
    yield
    kernels.select_kernel(torch.device("cpu"))


def _fa3_twin(q, k, v, causal=False):
    """flash_attn_func's contract on CPU: (B, T, H, D) in and out, GQA by fewer K/V heads; returns (out, lse)."""
    assert q.dim() == 4 and q.stride(-1) == 1
    out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                         is_causal=causal, enable_gqa=k.size(2) != q.size(2))
    return out.transpose(1, 2), None


def test_cpu_selects_sdpa_and_equals_plain_sdpa():
    assert kernels.select_kernel(torch.device("cpu")) == "sdpa"
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, h, 16, 8, generator=gen) for h in (4, 2, 2))
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
    assert torch.equal(kernels.attention(q, k, v, is_causal=True), expected)


def test_fa3_path_gives_the_same_model_outputs():
    cfg = load_config("tiny")  # 4 query heads, 2 K/V heads
    torch.manual_seed(0)
    model = GPT(cfg.model).eval()
    x = torch.randint(0, cfg.model.vocab_size, (2, 32), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        reference = model(x)
        calls = []

        def counted(*args, **kw):
            calls.append(args[0].shape)
            return _fa3_twin(*args, **kw)

        kernels.use_kernel("fa3", counted)
        twin = model(x)
    assert calls and all(shape[1] == 32 for shape in calls)  # called on (B, T, H, D)
    torch.testing.assert_close(twin, reference, rtol=1e-5, atol=1e-5)


def test_flash_only_restores_the_backend_flags():
    b = torch.backends.cuda
    before = (b.math_sdp_enabled(), b.mem_efficient_sdp_enabled(), b.cudnn_sdp_enabled())
    with kernels.flash_only():
        assert not b.math_sdp_enabled() and not b.mem_efficient_sdp_enabled() and b.flash_sdp_enabled()
    assert (b.math_sdp_enabled(), b.mem_efficient_sdp_enabled(), b.cudnn_sdp_enabled()) == before
    with kernels.flash_only(False):
        assert b.math_sdp_enabled() == before[0]
    with pytest.raises(ValueError):
        kernels.use_kernel("fa3")
