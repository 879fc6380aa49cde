"""`golf bench quantize --model`: record-1204's tr(H) rule against golf's planner at equal artifact bytes."""

from __future__ import annotations

from click.testing import CliRunner

from golfcli.bench.quantize import compare_rules
from golfcli.cli import main
from golfcli.config import load_config
from quant_helpers import random_checkpoint


def _model(folder):
    return random_checkpoint(folder, load_config("tiny"))


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
