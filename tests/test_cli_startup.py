"""`golf --help`, every verb's `--help` and config errors answer without importing torch."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = """
import json, sys
from click.testing import CliRunner
from golfcli.cli import main
out = []
for args in json.loads(sys.argv[1]):
    r = CliRunner().invoke(main, args)
    out.append([r.exit_code, r.output.strip().splitlines()[-1] if r.output.strip() else ""])
print(json.dumps({"results": out, "torch": "torch" in sys.modules}))
"""


def _probe(*invocations: list[str]) -> dict:
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(list(invocations))], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def test_golf_help_does_not_import_torch():
    r = _probe(["--help"])
    assert r["results"][0][0] == 0 and r["torch"] is False


# `golf ema --help` and `golf pack --help` list choices the stage defines (modes, codecs) and `golf bench --help` its benchmarks: they load them
@pytest.mark.parametrize("verb", ["train", "gptq-calibrate", "quantize", "verify-size", "eval", "eval-sliding",
                                  "eval-hedge", "run", "config", "presets", "params", "inspect"])
def test_each_verbs_help_does_not_import_torch(verb):
    r = _probe([verb, "--help"])
    assert r["results"][0][0] == 0 and r["torch"] is False


def test_config_errors_answer_before_torch(tmp_path):
    out = str(tmp_path / "o")
    r = _probe(
        ["config", "nope"],
        ["train", "--out", out, "--set", "train.bogus=1"],
        ["quantize", "ckpt.safetensors", "--out", out, "--set", "quant.mlp_bitz=4"],
        ["gptq-calibrate", "ckpt.safetensors", "--out", out, "--set", "calib.seqs=many"],
        ["eval", "model.bin", "--set", "model.num_layers=3"],
        ["params", "--preset", "tinyy"],
    )
    assert r["torch"] is False
    codes = [code for code, _ in r["results"]]
    lines = [line for _, line in r["results"]]
    assert codes == [2] * 6, lines
    assert all(line.startswith("golf: error:") for line in lines)
    assert "'train.bogus'" in lines[1] and "quant.mlp_bits" in lines[2] and "calib.seqs" in lines[3]
    assert "eval.KEY" in lines[4] and "'tiny'" in lines[5]
