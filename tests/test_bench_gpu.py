"""`golf bench gpu`: refuses cleanly without CUDA; its --device cpu --small twin runs the real code."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from golfcli.cli import main


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_refuses_without_cuda_in_one_line(tmp_path):
    result = CliRunner().invoke(main, ["bench", "gpu", "--no-save"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "golf: error: golf bench gpu needs a CUDA GPU (none is available); `--device cpu --small` runs the CPU twin"]
    result = CliRunner().invoke(main, ["bench", "gpu", "--device", "cpu", "--no-save"])
    assert result.exit_code == 2 and "--small" in result.output


def test_small_cpu_twin_measures_both_phases_and_sliding_eval():
    result = CliRunner().invoke(main, ["bench", "gpu", "--device", "cpu", "--small", "--preset", "record-1204",
                                       "--steps", "1", "--no-save", "--json"])
    assert result.exit_code == 0, result.output
    res = json.loads(result.output[result.output.index("{"):])["results"]
    phases = [(r["phase"], r["virtual_layers"]) for r in res["training"]]
    assert phases == [(0, 11), (1, 13)]  # the recurrence switch is timed too
    for row in res["training"]:
        assert row["ms_per_step"] > 0 and row["tokens_per_s"] == pytest.approx(128 / (row["ms_per_step"] / 1000), rel=1e-3)
        assert row["attention_kernel"] == "sdpa"
        assert any("scaled_dot_product" in name for name in row["attention_ops"])
        assert row["mfu"] is None and row["peak_memory_gib"] is None  # CPU: no peak FLOPs, no CUDA memory
    (sliding,) = res["sliding"]
    assert sliding["windows"] == 9 and sliding["windows_per_s"] > 0
