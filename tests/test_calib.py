"""Calibration: KV-cached self-generation, Hessians from forward hooks, the Hessians file."""

from __future__ import annotations

import pytest
import torch

from golfcli.checkpoint import save_checkpoint
from golfcli.config import load_config
from golfcli.errors import GolfError
from golfcli.io import read_metadata
from golfcli.model import GPT
from golfcli.quant.calibrate import HessianCollector, calibrate, collect_hessians, generate
from golfcli.quant.hessians import load_hessians

RECURRENT = [
    'model.recurrence="mini"', "model.recur_layers=[1,2]", 'model.repeat_untie_mlp="full"',
    "model.bigram_vocab_size=64", "model.bigram_dim=16", "model.smear_gate=true",
]


def random_model(overrides=RECURRENT, seed=0):
    """A tiny recurrent GPT with random (not zero) weights, so its logits say something."""
    cfg = load_config("tiny", None, overrides)
    torch.manual_seed(seed)
    model = GPT(cfg.model)
    model.set_phase(model.final_phase)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim == 2:
                p.normal_(0, 0.3 if "emb" in name else 0.15)
    return model.eval(), cfg


def test_kv_cache_generation_matches_full_recompute():
    model, _ = random_model()
    kv_tokens, kv_logits = generate(model, 3, 24, batch=3, temperature=0.8, seed=5, kv_cache=True, record_logits=True)
    full_tokens, full_logits = generate(model, 3, 24, batch=3, temperature=0.8, seed=5, kv_cache=False,
                                        record_logits=True)
    assert kv_tokens.shape == (3, 24)
    assert torch.equal(kv_tokens, full_tokens)
    assert torch.allclose(kv_logits, full_logits, atol=1e-4, rtol=1e-4)
    assert kv_logits.std() > 0.5, "logits must not be trivially flat"
    assert len(set(kv_tokens[:, 1:].flatten().tolist())) > 10, "sampling, not a constant"
    other, _ = generate(model, 3, 24, batch=3, temperature=0.8, seed=6)
    assert not torch.equal(other, kv_tokens)


def test_greedy_generation_is_deterministic_and_batch_independent():
    model, _ = random_model()
    a, _ = generate(model, 3, 12, batch=3, temperature=0.0, seed=1)
    b, _ = generate(model, 1, 12, batch=1, temperature=0.0, seed=1)
    assert torch.equal(a[:, 0], torch.randint(0, 1024, (3,), generator=torch.Generator().manual_seed(1)))
    assert torch.equal(a[0], b[0])


def test_shared_layer_hessian_is_the_sum_over_both_passes():
    model, _ = random_model()
    tokens = torch.randint(0, 1024, (3, 24), generator=torch.Generator().manual_seed(0))
    seen: dict[str, list[torch.Tensor]] = {}
    handles = []
    for name in ("blocks.1.attn.q", "blocks.1.mlp.fc", "repeat_mlp.0.mlp.fc", "blocks.0.attn.q"):
        module = model.get_submodule(name)
        handles.append(module.register_forward_hook(
            lambda m, inp, out, name=name: seen.setdefault(name, []).append(inp[0].reshape(-1, inp[0].shape[-1]))))
    with torch.no_grad():
        model(tokens)
    for h in handles:
        h.remove()
    hessians, passes = collect_hessians(model, tokens, batch=2)
    assert len(seen["blocks.1.attn.q"]) == 2, "layers 1,2 run twice at the final phase"
    assert passes["blocks.1.attn.q.weight"] == 2 and passes["blocks.0.attn.q.weight"] == 1
    assert passes["blocks.1.mlp.fc.weight"] == 1 and passes["repeat_mlp.0.mlp.fc.weight"] == 1
    n = tokens.numel()
    first, second = seen["blocks.1.attn.q"]
    expected = (first.T @ first + second.T @ second) / n
    assert torch.allclose(hessians["blocks.1.attn.q.weight"], expected, rtol=1e-4, atol=1e-6)
    one_pass = first.T @ first / n
    assert (hessians["blocks.1.attn.q.weight"] - one_pass).abs().max() > 1e-3
    x = seen["repeat_mlp.0.mlp.fc"][0]
    assert torch.allclose(hessians["repeat_mlp.0.mlp.fc.weight"], x.T @ x / n, rtol=1e-4, atol=1e-6)
    assert torch.equal(hessians["blocks.0.attn.q.weight"], hessians["blocks.0.attn.k.weight"])


def test_tied_head_hessian_comes_from_final_norm():
    model, _ = random_model()
    tokens = torch.randint(0, 1024, (2, 16), generator=torch.Generator().manual_seed(1))
    out = {}
    handle = model.final_norm.register_forward_hook(lambda m, i, o: out.setdefault("h", o.reshape(-1, o.shape[-1])))
    with torch.no_grad():
        model(tokens)
    handle.remove()
    hessians, _ = collect_hessians(model, tokens, batch=2, tied_head=True)
    h = out["h"]
    assert torch.allclose(hessians["tok_emb.weight"], h.T @ h / tokens.numel(), rtol=1e-4, atol=1e-6)
    hessians, _ = collect_hessians(model, tokens, batch=2, tied_head=False)
    assert "tok_emb.weight" not in hessians


def test_collector_reuses_one_product_for_q_k_v():
    model, _ = random_model()
    collector = HessianCollector(model, tied_head=True)
    x = torch.randn(5, 64)
    collector.add("a", x)
    collector.add("b", x)
    collector.add("c", x.clone())
    collector.remove()
    assert collector.sums["a"] is not collector.sums["b"]
    assert torch.allclose(collector.sums["a"], collector.sums["c"])


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    model, cfg = random_model()
    path = tmp_path_factory.mktemp("calib") / "ckpt.safetensors"
    save_checkpoint(path, model.state_dict(), cfg)
    return path


def test_calibrate_writes_hessians_and_tokens(checkpoint, tmp_path):
    out = tmp_path / "h.safetensors"
    result = calibrate(checkpoint, out, seqs=3, seq_len=20, batch=2, seed=3)
    assert result["source"] == "selfgen" and result["tokens"] == 60
    hessians, tokens, meta = load_hessians(out)
    assert tokens.shape == (3, 20) and tokens.dtype == torch.int32
    assert meta["source"] == "selfgen" and meta["seed"] == 3 and meta["kv_cache"] is True
    assert meta["passes"]["blocks.2.attn.v.weight"] == 2
    linear_names = {f"{n}.weight" for n, m in GPT(load_config("tiny", None, RECURRENT).model).named_modules()
                    if isinstance(m, torch.nn.Linear)}
    assert set(hessians) == linear_names | {"tok_emb.weight"}
    aliases = meta["aliases"]
    assert aliases["blocks.0.attn.q.weight"] == aliases["blocks.0.attn.v.weight"] == "blocks.0.attn.k.weight"
    assert "blocks.0.attn.proj.weight" not in aliases
    for name, h in hessians.items():
        assert torch.allclose(h, h.T, atol=1e-5), name
        assert h.diagonal().min() >= 0
    model, _ = random_model()
    same, _ = generate(model, 3, 20, batch=2, temperature=0.8, seed=3)
    assert torch.equal(tokens.long(), same), "the file holds exactly the generated tokens"
    again = tmp_path / "again.safetensors"
    calibrate(checkpoint, again, seqs=3, seq_len=20, batch=2, seed=3, kv_cache=False)
    h2, t2, _ = load_hessians(again)
    assert torch.equal(t2, tokens)
    assert torch.allclose(h2["blocks.1.mlp.proj.weight"], hessians["blocks.1.mlp.proj.weight"], rtol=1e-4, atol=1e-6)


def test_calibrate_random_and_shards_sources(checkpoint, tmp_path, builtin_data):
    out = tmp_path / "r.safetensors"
    calibrate(checkpoint, out, source="random", seqs=2, seq_len=16, seed=1)
    assert read_metadata(out)["source"] == "random"
    out = tmp_path / "s.safetensors"
    result = calibrate(checkpoint, out, source="shards", seqs=2, seq_len=16, data_dir=str(builtin_data.data_dir))
    meta = read_metadata(out)
    assert meta["source"] == "shards" and "training data" in meta["warnings"][0]
    assert result["warnings"]


def test_calibrate_rejects_bad_settings(checkpoint, tmp_path):
    with pytest.raises(GolfError, match="source"):
        calibrate(checkpoint, tmp_path / "x", source="val")
    with pytest.raises(GolfError, match="seq_len"):
        calibrate(checkpoint, tmp_path / "x", seq_len=1)
    with pytest.raises(GolfError, match="not found"):
        calibrate(tmp_path / "missing.safetensors", tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_unused_weights_are_listed_and_quantized_to_zero(tmp_path):
    from golfcli.qtensor import load_quantized
    from golfcli.quant.quantize import quantize

    model, cfg = random_model(RECURRENT + ["model.disable_layer0_attn=true"])
    ckpt = tmp_path / "ckpt.safetensors"
    save_checkpoint(ckpt, model.state_dict(), cfg)
    result = calibrate(ckpt, tmp_path / "h.safetensors", seqs=2, seq_len=12, batch=2)
    assert result["unused"] == [f"blocks.0.attn.{m}.weight" for m in ("k", "proj", "q", "v")]
    report = quantize(ckpt, tmp_path / "q.safetensors", tmp_path / "h.safetensors", passthrough_max=1024)
    rows = {r["name"]: r for r in report["tensors"]}
    assert rows["blocks.0.attn.q.weight"]["method"] == "unused" and rows["blocks.1.attn.q.weight"]["method"] == "gptq"
    qm = load_quantized(tmp_path / "q.safetensors")
    assert qm.quantized["blocks.0.attn.q.weight"].codes.abs().sum() == 0
    assert rows["blocks.0.attn.q.weight"]["bytes"] < rows["blocks.1.attn.q.weight"]["bytes"] / 10
