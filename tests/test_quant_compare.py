"""`golf bench quantize --model`: record-1204's tr(H) rule against golf's planner at equal artifact bytes."""

from __future__ import annotations

import torch
from click.testing import CliRunner

from golfcli.bench.quantize import compare_rules
from golfcli.checkpoint import save_checkpoint
from golfcli.cli import main
from golfcli.config import load_config
from golfcli.model import GPT
from golfcli.quant.calibrate import calibrate


def _model(folder):
    cfg = load_config("tiny")
    torch.manual_seed(0)
    model = GPT(cfg.model)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    ckpt = folder / "model.safetensors"
    save_checkpoint(ckpt, model.state_dict(), cfg)
    hessians = folder / "hessians.safetensors"
    calibrate(ckpt, hessians, source="random", seqs=4, seq_len=32, batch=4, device="cpu")
    return ckpt, hessians


def test_planner_and_rule_meet_at_equal_bytes(tmp_path, builtin_data):
    ckpt, hessians = _model(tmp_path)
    r = compare_rules(ckpt, hessians, builtin_data.data_dir, builtin_data.tokenizer, top_n=3, max_tokens=1025)
    rule, plan = r["rule"], r["planner"]
    n_matrices = sum(rule["matrix_bits"].values())
    assert rule["matrix_bits"] == {"5": n_matrices - 3, "6": 3}
    assert sum(plan["matrix_bits"].values()) == n_matrices and set(plan["matrix_bits"]) <= {"5", "6"}
    assert plan["artifact_bytes"] <= rule["artifact_bytes"]
    assert plan["attempts"][0]["target_bytes"] == rule["estimated_bytes"]
    assert r["tokens_scored"] == 1024
    assert 0 < rule["val_bpb"] < 20 and 0 < plan["val_bpb"] < 20
    assert r["bpb_planner_minus_rule"] == round(plan["val_bpb"] - rule["val_bpb"], 6)


def test_cli_needs_hessians_and_data(tmp_path):
    out = CliRunner().invoke(main, ["bench", "quantize", "--model", str(tmp_path / "m.safetensors"), "--no-record"])
    assert out.exit_code == 2 and "--model needs --hessians, --data and --tokenizer" in out.output
