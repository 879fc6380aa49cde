"""QAT on CastedLinear: STE rounding, Noisy QAT of one grid step, and switching under torch.compile."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from golfcli.config import ModelConfig, load_config
from golfcli.errors import GolfError
from golfcli.model import GPT, CastedLinear
from golfcli.model.linear import fake_quant_ste, grid_step


def tiny_model(**changes) -> GPT:
    torch.manual_seed(0)
    cfg = dataclasses.replace(
        ModelConfig(vocab_size=64, num_layers=2, model_dim=32, num_heads=4, num_kv_heads=2), **changes
    )
    model = GPT(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return model


def test_ste_rounds_to_the_row_grid_and_passes_gradients_straight():
    torch.manual_seed(0)
    lin = CastedLinear(16, 8)
    lin.qat_mode, lin.qat_bits = "ste", 5
    x = torch.randn(3, 16, requires_grad=True)
    y = lin(x)
    w = lin.weight.detach()
    step = w.abs().amax(1, keepdim=True) / 15
    q = torch.clamp(torch.round(w / step), -15, 15) * step
    torch.testing.assert_close(y, F.linear(x, q))
    assert (q / step).sub((q / step).round()).abs().max() < 1e-4
    y.sum().backward()
    torch.testing.assert_close(lin.weight.grad, torch.ones(3, 8).T @ x.detach())  # identity backward


def test_noise_is_within_half_a_grid_step_and_off_in_eval():
    torch.manual_seed(0)
    lin = CastedLinear(64, 32)
    lin.qat_mode, lin.qat_bits = "noise", 6
    x = torch.eye(64)
    w_seen = lin(x).T  # row i of the weight as the layer used it
    w = lin.weight.detach()
    delta = (w_seen - w).abs()
    step = grid_step(w, 6)
    assert (delta <= step / 2 + 1e-7).all() and delta.mean() > step.mean() / 8
    lin.eval()
    torch.testing.assert_close(lin(x).T, w)


def test_set_qat_applies_modes_and_bits_per_name():
    model = tiny_model()
    model.set_qat("ste", bits=lambda name: 5 if ".mlp." in name else 7)
    assert model.qat_mode == "ste"
    assert model.blocks[0].mlp.fc.qat_bits == 5 and model.blocks[0].attn.q.qat_bits == 7
    assert all(m.qat_mode == "ste" for m in model.modules() if isinstance(m, CastedLinear))
    model.set_qat("off")
    assert all(m.qat_mode == "off" for m in model.modules() if isinstance(m, CastedLinear))
    with pytest.raises(GolfError):
        model.set_qat("soft")


def test_noise_only_on_the_core_for_middle_cycle():
    cfg = dataclasses.replace(load_config("middle-cycle").model, vocab_size=64, model_dim=32, num_heads=4,
                              num_kv_heads=2, bigram_vocab_size=7, bigram_dim=8, loop_adapter_dim=4)
    model = GPT(cfg)
    model.set_qat("noise")
    modes = {n: m.qat_mode for n, m in model.named_modules() if isinstance(m, CastedLinear)}
    assert modes["blocks.4.attn.q"] == modes["blocks.3.mlp.fc"] == modes["adapters.0.down"] == "noise"
    assert modes["blocks.0.attn.q"] == modes["blocks.8.mlp.proj"] == modes["bigram.proj"] == "ste"


def test_qat_switch_takes_effect_under_torch_compile():
    model = tiny_model().train()
    compiled = torch.compile(model, backend="eager", fullgraph=True)
    ids = torch.randint(0, 64, (1, 8))
    off = compiled(ids)
    torch.testing.assert_close(off, model(ids))
    model.set_qat("ste", bits=lambda name: 2)  # a coarse grid: outputs must visibly change
    ste = compiled(ids)
    torch.testing.assert_close(ste, model(ids))
    assert (ste - off).abs().max() > 1e-3
    model.set_qat("off")
    torch.testing.assert_close(compiled(ids), off)


def test_fake_quant_keeps_dtype():
    w = torch.randn(4, 8, dtype=torch.bfloat16)
    assert fake_quant_ste(w, 6).dtype == torch.bfloat16
