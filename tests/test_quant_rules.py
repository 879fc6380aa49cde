"""The published records' quantization rules as options: record-1204's tr(H) ranking and per-tensor SDClip k."""

from __future__ import annotations

import pytest
import torch

from golfcli.checkpoint import load_checkpoint
from golfcli.config import load_config
from golfcli.errors import GolfError
from golfcli.qtensor import grid_max, load_quantized
from golfcli.quant.hessians import load_hessians
from golfcli.quant.quantize import quantize
from golfcli.quant.ranking import ranked_widths
from quant_helpers import random_checkpoint

LOOPED = ["model.recurrence=\"segment\"", "model.loop_start=1", "model.loop_end=2", "model.num_loops=1"]


@pytest.fixture(scope="module")
def looped_model(tmp_path_factory):
    """A random tiny GPT whose blocks 1–2 run twice, its checkpoint and Hessians from random tokens."""
    folder = tmp_path_factory.mktemp("quant_rules")
    ckpt, hessians = random_checkpoint(folder, load_config("tiny", None, LOOPED))
    return {"ckpt": ckpt, "hessians": hessians, "folder": folder}


def test_ranked_widths_take_looped_layers_first():
    h = {n: torch.eye(2) * t for n, t in [("a", 9.0), ("b", 1.0), ("c", 5.0), ("d", 7.0)]}
    looped = {"b", "c"}.__contains__
    assert ranked_widths(list(h), h, looped, 3, 6, 5) == {"a": 6, "b": 6, "c": 6, "d": 5}
    assert ranked_widths(list(h), h, looped, 1, 6, 5) == {"a": 5, "b": 5, "c": 6, "d": 5}
    assert ranked_widths(list(h) + ["e"], h, looped, 4, 6, 5)["e"] == 5  # no Hessian: tr(H) = 0


def test_hessian_ranking_rule_in_quantize(looped_model):
    out = looped_model["folder"] / "ranked.safetensors"
    report = quantize(looped_model["ckpt"], out, looped_model["hessians"], method="gptq", passthrough_max=1024,
                      hessian_top_n=5, rules=[r"blocks\.3\.mlp\.proj=int8"])
    bits = {row["name"]: row["bits"] for row in report["tensors"]}
    hessians, _, _ = load_hessians(looped_model["hessians"])
    matrices = [n for n in bits if (".attn." in n or ".mlp." in n) and n != "blocks.3.mlp.proj.weight"]
    looped = [n for n in matrices if n.startswith(("blocks.1.", "blocks.2."))]
    top = sorted(looped, key=lambda n: -float(hessians[n].diagonal().sum()))[:5]
    assert {n for n in matrices if bits[n] == 6} == set(top)
    assert all(bits[n] == 5 for n in matrices if n not in top)
    assert bits["blocks.3.mlp.proj.weight"] == 8  # a REGEX=BITS rule still wins
    assert bits["tok_emb.weight"] == 8  # the rule only touches attention and MLP matrices


def test_clip_rules_give_the_embedding_its_own_sdclip_k(looped_model):
    out = looped_model["folder"] / "sdclip.safetensors"
    quantize(looped_model["ckpt"], out, None, method="rtn", passthrough_max=1024, clip="sdclip:3",
             clip_rules=["tok_emb=sdclip:20"], attn_bits=6, mlp_bits=6, embed_bits=8)
    qm = load_quantized(out)
    weights, _, _ = load_checkpoint(looped_model["ckpt"])
    for name, k, bits in (("tok_emb.weight", 20.0, 8), ("blocks.1.attn.q.weight", 3.0, 6)):
        expected = (k * weights[name].float().std(dim=1) / grid_max(bits)).to(torch.float16)  # unbiased std
        torch.testing.assert_close(qm.quantized[name].scales.view(-1).to(torch.float16), expected)


@pytest.mark.parametrize("bad, message", [
    ({"clip_rules": ["tok_emb"]}, "REGEX=CLIP"),
    ({"clip_rules": ["tok_emb=sdclip:-1"]}, "out of range"),
    ({"hessian_top_n": -1}, "hessian_top_n"),
    ({"hessian_top_n": 4, "hessian_rest_bits": 1}, "hessian_rest_bits"),
])
def test_bad_rule_settings_are_refused_before_work(looped_model, bad, message):
    out = looped_model["folder"] / "never.safetensors"
    with pytest.raises(GolfError, match=message):
        quantize(looped_model["ckpt"], out, looped_model["hessians"], **bad)
    assert not out.exists()
