"""QAT: export-grid bits per tensor, and the quantized forward really running under torch.compile."""

from __future__ import annotations

import pytest
import torch

from golfcli.config import QuantConfig, load_config
from golfcli.errors import GolfError
from golfcli.model import GPT
from golfcli.model.linear import CastedLinear
from golfcli.train.qat import export_bits, qat_due
from golfcli.config import TrainConfig



def test_export_bits_follow_roles_and_rules():
    bits = export_bits(QuantConfig(attn_bits=7, mlp_bits=5, embed_bits=8, other_bits=6,
                                   rules=[r"blocks\.0\..*=8", r"mlp\.proj=4"]))
    assert bits("blocks.3.attn.q.weight") == 7
    assert bits("blocks.3.mlp.fc.weight") == 5
    assert bits("blocks.3.mlp.proj.weight") == 4
    assert bits("blocks.0.mlp.fc.weight") == 8
    assert bits("tok_emb.weight") == 8
    assert bits("bigram.proj.weight") == 6
    with pytest.raises(GolfError, match="REGEX=BITS"):
        export_bits(QuantConfig(rules=["nonsense"]))


def test_qat_due():
    tc = TrainConfig(qat_mode="ste", qat_threshold=0.15, qat_min_step=100)
    assert not qat_due(tc, 50, 0.1) and not qat_due(tc, 500, 0.2) and qat_due(tc, 500, 0.1)
    assert not qat_due(TrainConfig(qat_mode="off"), 500, 0.0)


def _fake_quant(w: torch.Tensor, bits: int) -> torch.Tensor:
    qmax = 2 ** (bits - 1) - 1
    step = (w.abs().amax(dim=1, keepdim=True) / qmax).clamp_min(1e-12)
    return torch.clamp(torch.round(w / step), -qmax, qmax) * step


def test_quantized_forward_runs_under_torch_compile():
    torch.manual_seed(0)
    cfg = load_config("tiny", overrides=["model.num_layers=1", "model.unet_skips=\"none\"",
                                         "quant.attn_bits=3", "quant.mlp_bits=2", "quant.embed_bits=8"])
    model = GPT(cfg.model).train()
    with torch.no_grad():  # output projections start at zero, where rounding changes nothing
        for module in model.modules():
            if isinstance(module, CastedLinear):
                module.weight.normal_(0.0, 0.2)
    ids = torch.randint(0, cfg.model.vocab_size, (2, 16))
    compiled = torch.compile(model, dynamic=False, backend="inductor")
    bits = export_bits(cfg.quant)
    with torch.no_grad():
        plain = compiled(ids)
        model.set_qat("ste", bits)
        quantized = compiled(ids)
        # the same weights fake-quantized by hand and run eagerly without QAT
        reference = GPT(cfg.model).train()
        reference.load_state_dict(model.state_dict())
        n = 0
        for name, module in reference.named_modules():
            if isinstance(module, CastedLinear):
                module.weight.copy_(_fake_quant(module.weight, bits(f"{name}.weight")))
                n += 1
        assert n == 6  # q, k, v, attn proj, mlp fc, mlp proj
        expected = reference(ids)
        assert (quantized - plain).abs().max() > 1e-2  # the switch changed the compiled forward...
        torch.testing.assert_close(quantized, expected, rtol=1e-4, atol=1e-4)  # ...into the quantized one
        model.set_qat("noise", bits)
        n1, n2 = compiled(ids), compiled(ids)
        assert (n1 - n2).abs().max() > 1e-3 and (n1 - quantized).abs().max() > 1e-3  # fresh noise each call
        model.set_qat("off")
        torch.testing.assert_close(compiled(ids), plain)
