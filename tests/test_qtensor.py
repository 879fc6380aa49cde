"""The quantized layout: grids, roles, dequantization and the quantized file round trip."""

from __future__ import annotations

import torch

from golfcli.qtensor import (QuantizedModel, QuantizedTensor, grid_max, load_quantized, quantize_with_scales,
                             role_of, save_quantized)


def test_symmetric_grids():
    assert [grid_max(b) for b in range(2, 9)] == [1, 3, 7, 15, 31, 63, 127]


def test_roles_from_names():
    assert role_of("blocks.3.attn.q.weight") == "attn"
    assert role_of("blocks.3.mlp.fc.weight") == "mlp"
    assert role_of("tok_emb.weight") == "embed"
    assert role_of("bigram.embed.weight") == "embed"
    assert role_of("blocks.3.attn_scale") == "other"


def test_rounding_error_is_at_most_half_a_step():
    w = torch.randn(16, 40)
    scales = (w.abs().amax(1) / grid_max(5)).half()
    codes = quantize_with_scales(w, scales, 5)
    assert codes.abs().max() <= 15
    err = (codes.float() * scales.float()[:, None] - w).abs()
    assert torch.all(err <= scales.float()[:, None] / 2 + 1e-6)


def test_quantized_file_round_trip(tmp_path):
    w = torch.randn(8, 12)
    scales = (w.abs().amax(1) / 31).half()
    q = QuantizedTensor(quantize_with_scales(w, scales, 6), scales, 6, (8, 12), "bfloat16", "attn")
    qm = QuantizedModel({"blocks.0.attn.q.weight": q}, {"gain": torch.ones(4, dtype=torch.float16)},
                        {"gain": "float32"}, {"model": {"num_layers": 1}})
    save_quantized(tmp_path / "q.safetensors", qm)
    back = load_quantized(tmp_path / "q.safetensors")
    assert torch.equal(back.quantized["blocks.0.attn.q.weight"].codes, q.codes)
    state = back.state_dict()
    assert state["blocks.0.attn.q.weight"].dtype == torch.bfloat16 and state["gain"].dtype == torch.float32
    assert back.config == {"model": {"num_layers": 1}}
