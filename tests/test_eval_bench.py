"""`golf bench eval`: the three modes side by side on the same tokens, recorded as JSON."""

from __future__ import annotations

import json

from click.testing import CliRunner

from golfcli.cli import main



def test_bench_eval_records_three_modes(tmp_path):
    args = ["bench", "eval", "--max-tokens", "300", "--window", "32", "--stride", "16", "--seq-len", "32",
            "--batch-seqs", "4", "--device", "cpu", "--out", str(tmp_path), "--json"]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert list(out["modes"]) == ["standard", "sliding", "hedge"]
    for mode, row in out["modes"].items():
        assert row["tokens_scored"] == 299 and row["tokens_per_s"] > 0 and row["cpu_seconds"] > 0
    assert out["modes"]["standard"]["windows"] == 10 and out["modes"]["sliding"]["windows"] == 18
    assert "hedge_overhead_vs_sliding" in out
    saved = json.loads((tmp_path / out["path"].split("/")[-1]).read_text())
    assert saved["benchmark"] == "eval" and saved["results"]["modes"] == out["modes"]


def test_bench_eval_rejects_unknown_modes():
    result = CliRunner().invoke(main, ["bench", "eval", "--modes", "sliding,entropy", "--no-record"])
    assert result.exit_code == 2 and "--modes" in result.output
