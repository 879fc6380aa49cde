"""`golf quantize` on a tiny model trained on the built-in corpus: GPTQ vs RTN with real numbers."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from golfcli.checkpoint import load_checkpoint, save_checkpoint
from golfcli.cli import main
from golfcli.config import config_to_dict, load_config
from golfcli.data.shards import read_shard
from golfcli.errors import FormatError, GolfError
from golfcli.model import GPT
from golfcli.qtensor import grid_max, load_quantized
from golfcli.quant.calibrate import calibrate
from golfcli.quant.quantize import quantize

MODEL = ["model.num_layers=2", "model.model_dim=128"]  # tiny preset at d=128: 4 heads / 2 KV
SEQ, BATCH, STEPS, LR = 64, 16, 300, 1e-2
ALL_MATRICES = 1024  # --passthrough-max for the tiny model: every matrix (≥ 2048 elements) is quantized


def val_loss(model: torch.nn.Module, val: torch.Tensor) -> float:
    with torch.no_grad():
        return float(model(val[:-1].view(-1, 128), val[1:].view(-1, 128)))


def model_from(state: dict, cfg) -> GPT:
    model = GPT(cfg.model)
    model.set_phase(model.final_phase)
    model.load_state_dict(state)
    return model.eval()


@pytest.fixture(scope="module")
def trained(tmp_path_factory, builtin_data):
    """A tiny GPT trained STEPS Adam steps on the built-in corpus's train shards, its checkpoint and Hessians."""
    shards = sorted(builtin_data.data_dir.glob("fineweb_train_*.bin"))
    train = torch.from_numpy(np.concatenate([np.asarray(read_shard(p), dtype=np.int64) for p in shards]))
    val = torch.from_numpy(np.asarray(read_shard(builtin_data.data_dir / "fineweb_val_000000.bin")[:256 * 128 + 1],
                                      dtype=np.int64))
    cfg = load_config("tiny", None, MODEL)
    torch.manual_seed(0)
    model = GPT(cfg.model)
    model.set_phase(model.final_phase)
    opt = torch.optim.Adam(model.parameters(), lr=LR, betas=(0.9, 0.95))
    gen = torch.Generator().manual_seed(0)
    for step in range(STEPS):
        offsets = torch.randint(0, train.numel() - SEQ - 1, (BATCH,), generator=gen)
        window = torch.stack([train[o:o + SEQ + 1] for o in offsets])
        for group in opt.param_groups:
            group["lr"] = LR * min(1.0, (STEPS - step) / (0.3 * STEPS))
        loss = model(window[:, :-1], window[:, 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    folder = tmp_path_factory.mktemp("quant")
    ckpt = folder / "ckpt.safetensors"
    save_checkpoint(ckpt, model.state_dict(), cfg)
    hessians = folder / "hessians.safetensors"
    calibrate(ckpt, hessians, seqs=32, seq_len=128, batch=16, seed=0)
    return {"ckpt": ckpt, "hessians": hessians, "val": val, "cfg": cfg, "float_loss": val_loss(model, val),
            "folder": folder}


def quantized_loss(trained, path) -> float:
    qm = load_quantized(path)
    return val_loss(model_from(qm.state_dict(), trained["cfg"]), trained["val"])


def run(trained, name, **kw):
    out = trained["folder"] / f"{name}.safetensors"
    kw.setdefault("passthrough_max", ALL_MATRICES)
    report = quantize(trained["ckpt"], out, kw.pop("hessians", trained["hessians"]), **kw)
    return report, out


def uniform(bits: int) -> dict:
    return {"attn_bits": bits, "mlp_bits": bits, "embed_bits": bits, "other_bits": bits}


def test_the_fixture_model_learned_something(trained):
    assert trained["float_loss"] < 5.2, "300 Adam steps must get well below the uniform 6.93 nats"


def test_gptq_error_is_below_rtn_for_every_matrix(trained):
    for bits in (4, 6):
        gptq, _ = run(trained, f"g{bits}", method="gptq", **uniform(bits))
        rtn, _ = run(trained, f"r{bits}", method="rtn", **uniform(bits))
        rtn_err = {t["name"]: t["error"] for t in rtn["tensors"]}
        assert len(gptq["tensors"]) == 13  # 2 × (q, k, v, proj, fc, proj) + tok_emb
        for t in gptq["tensors"]:
            assert t["method"] == "gptq" and t["weighted"], t["name"]
            assert t["error"] < rtn_err[t["name"]], f"int{bits} {t['name']}: {t['error']} vs {rtn_err[t['name']]}"
        assert gptq["total_error"] < 0.8 * rtn["total_error"]


def _val_losses(trained, bits: int) -> tuple[float, float]:
    """Validation loss after GPTQ and after RTN with attention and MLP matrices at int`bits`.

    The tied embedding keeps its role's int8 (GPTQ's head-only Hessian knows nothing of its use as
    the input embedding).
    """
    widths = {"attn_bits": bits, "mlp_bits": bits, "embed_bits": 8}
    _, g = run(trained, f"vg{bits}", method="gptq", **widths)
    _, r = run(trained, f"vr{bits}", method="rtn", **widths)
    return quantized_loss(trained, g), quantized_loss(trained, r)


@pytest.mark.parametrize("bits", [3, 4])
def test_gptq_costs_less_val_loss_than_rtn(trained, bits):
    # Where quantization costs this model something (int3: ~0.03 nats, int4: ~0.008) GPTQ's saving
    # (~20–30% of RTN's cost here) is far larger than what float rounding on another CPU moves.
    loss_g, loss_r = _val_losses(trained, bits)
    cost_g, cost_r = loss_g - trained["float_loss"], loss_r - trained["float_loss"]
    assert 0 < cost_g < 0.9 * cost_r, f"int{bits}: gptq costs {cost_g:.5f} nats, rtn {cost_r:.5f}"


@pytest.mark.parametrize("bits", [5, 6])
def test_gptq_and_rtn_are_nearly_free_at_int5_and_int6(trained, bits):
    # Here both cost this model under 2e-3 nats, and which one wins by a few 1e-4 depends on the
    # machine's float rounding during the fixture's training (int5 flipped from one machine to another), so the
    # check is that neither costs more than 3e-3 — GPTQ's win is checked at int3/int4 above.
    loss_g, loss_r = _val_losses(trained, bits)
    for name, loss in (("gptq", loss_g), ("rtn", loss_r)):
        cost = loss - trained["float_loss"]
        assert -1e-3 < cost < 3e-3, f"int{bits} {name}: costs {cost:.5f} nats (float {trained['float_loss']:.5f})"


def test_int8_costs_under_a_hundredth_of_a_nat(trained):
    _, out = run(trained, "i8", method="gptq", **uniform(8))
    assert abs(quantized_loss(trained, out) - trained["float_loss"]) < 0.01


def test_quantized_file_layout_roles_rules_and_passthrough(trained):
    report, out = run(
        trained, "rules", method="gptq", attn_bits=7, mlp_bits=5, embed_bits=8, passthrough_max=8192,
        rules=[r"blocks\.1\.=int4", r"blocks\.1\.mlp\.fc=6"], fp32_rules=[r"controls\.0\."],
    )
    qm = load_quantized(out)
    bits = {name: q.bits for name, q in qm.quantized.items()}
    assert bits["blocks.0.attn.q.weight"] == 7 and bits["blocks.0.mlp.fc.weight"] == 5
    assert bits["tok_emb.weight"] == 8
    assert bits["blocks.1.attn.q.weight"] == 4 and bits["blocks.1.mlp.proj.weight"] == 4
    assert bits["blocks.1.mlp.fc.weight"] == 6, "the later rule wins"
    assert "blocks.0.attn.k.weight" in qm.passthrough, "64×128 = 8192 elements ≤ --passthrough-max"
    for name, q in qm.quantized.items():
        assert q.codes.dtype == torch.int8 and q.scales.dtype == torch.float16
        assert int(q.codes.abs().max()) <= grid_max(q.bits)
        assert 0.4 * grid_max(q.bits) < q.codes.abs().amax(dim=1).float().mean(), "the grid is used, not wasted"
    state, cfg, _ = load_checkpoint(trained["ckpt"])
    assert set(qm.names()) == set(state)
    for name, t in qm.passthrough.items():
        want = torch.float32 if name.startswith("controls.0.") else torch.float16
        assert t.dtype == want, name
        assert qm.passthrough_dtypes[name] == "float32"
    tables = config_to_dict(cfg)
    assert {k: v for k, v in qm.config.items() if k != "quant"} == {k: v for k, v in tables.items() if k != "quant"}
    assert qm.config["quant"]["mlp_bits"] == 5
    assert qm.meta["report"]["total_error"] == pytest.approx(report["total_error"])
    rows = {r["name"]: r for r in report["tensors"]}
    assert rows["blocks.0.mlp.fc.weight"]["role"] == "mlp" and rows["tok_emb.weight"]["role"] == "embed"
    assert report["estimated_bytes"] == report["quantized_bytes"] + report["passthrough_bytes"]
    assert report["quantized_bytes"] == sum(r["bytes"] for r in report["tensors"])


def test_gptq_without_hessians_refuses(trained, tmp_path):
    with pytest.raises(GolfError, match="GPTQ needs Hessians"):
        quantize(trained["ckpt"], tmp_path / "x.safetensors", None, method="gptq")
    assert not (tmp_path / "x.safetensors").exists()
    report = quantize(trained["ckpt"], tmp_path / "rtn.safetensors", None, method="rtn", passthrough_max=ALL_MATRICES)
    assert all(t["method"] == "rtn" and not t["weighted"] for t in report["tensors"])


def test_bad_options_and_foreign_hessians(trained, tmp_path):
    for kw, match in [({"attn_bits": 9}, "int2 and int8"), ({"clip": "mse"}, "--clip"),
                      ({"rules": ["blocks("]}, "REGEX=BITS|regular expression"), ({"method": "awq"}, "--method")]:
        with pytest.raises(GolfError, match=match):
            quantize(trained["ckpt"], tmp_path / "x.safetensors", trained["hessians"], **kw)
    other_cfg = load_config("tiny", None, ["model.num_layers=2", "model.model_dim=32", "model.num_heads=2",
                                           "model.num_kv_heads=1"])
    other = tmp_path / "other.safetensors"
    save_checkpoint(other, GPT(other_cfg.model).state_dict(), other_cfg)
    with pytest.raises(FormatError, match="another model"):
        quantize(other, tmp_path / "x.safetensors", trained["hessians"], passthrough_max=ALL_MATRICES)


def test_clip_rules(trained):
    losses = {}
    for clip in ("search", "sdclip:3.5", "percentile:1"):
        report, _ = run(trained, f"clip{clip[:3]}", method="gptq", clip=clip, **uniform(4))
        losses[clip] = report["total_error"]
        assert report["clip"] == clip
    assert losses["search"] < losses["percentile:1"]


def test_target_bytes_planner_spends_bytes_where_error_drops_most(trained):
    base, _ = run(trained, "u5", method="gptq", **uniform(5))
    code = 1000
    target = base["estimated_bytes"] + code
    planned, out = run(trained, "plan", method="gptq", target_bytes=target, code_bytes=code, **uniform(5))
    assert planned["fits"] and planned["total_bytes"] <= target
    assert planned["total_error"] < base["total_error"], "same bytes, better spent"
    assert len(planned["bits_histogram"]) > 1, "mixed widths"
    assert all(t["planned"] for t in planned["tensors"])
    assert load_quantized(out).quantized["blocks.0.mlp.fc.weight"].bits == next(
        t["bits"] for t in planned["tensors"] if t["name"] == "blocks.0.mlp.fc.weight")
    small, _ = run(trained, "plan_small", method="gptq", target_bytes=target - 8000, code_bytes=code, **uniform(5))
    assert small["total_bytes"] <= target - 8000 and small["total_error"] > planned["total_error"]
    with pytest.raises(GolfError, match="cannot be met"):
        run(trained, "plan_none", method="gptq", target_bytes=20000, code_bytes=code)


def test_cli_json(trained, tmp_path):
    out = tmp_path / "cli.safetensors"
    result = CliRunner().invoke(main, [
        "quantize", str(trained["ckpt"]), "--out", str(out), "--hessians", str(trained["hessians"]),
        "--attn", "int7", "--mlp", "int5", "--passthrough-max", "1024", "--rule", r"tok_emb=int6", "--json",
    ])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert {"tensors", "total_error", "estimated_bytes"} <= set(data)
    row = next(t for t in data["tensors"] if t["name"] == "tok_emb.weight")
    assert row["bits"] == 6 and {"name", "role", "bits", "error", "rel_error", "damp", "bytes"} <= set(row)
    assert data["total_error"] == pytest.approx(sum(t["error"] for t in data["tensors"]))
    bad = CliRunner().invoke(main, ["quantize", str(trained["ckpt"]), "--out", str(tmp_path / "y"), "--json"])
    assert bad.exit_code == 2 and "GPTQ needs Hessians" in bad.output and "Traceback" not in bad.output
    cal = CliRunner().invoke(main, ["gptq-calibrate", str(trained["ckpt"]), "--out", str(tmp_path / "h.safetensors"),
                                    "--seqs", "2", "--seq-len", "16", "--json"])
    assert cal.exit_code == 0, cal.output
    assert json.loads(cal.output)["tokens"] == 32


def test_the_same_checkpoint_and_settings_give_the_same_file_bytes(trained):
    """No timings in the stored report: a rerun writes the same bytes (so `golf pack` packs the same artifact)."""
    _, out = run(trained, "again", method="gptq", **uniform(5))
    first = out.read_bytes()
    report, _ = run(trained, "again", method="gptq", **uniform(5))
    assert out.read_bytes() == first
    assert report["seconds"] > 0  # the caller still gets the time it took
    assert "seconds" not in load_quantized(out).meta["report"]
