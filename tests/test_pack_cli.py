"""`golf pack` and `golf unpack` through the command line: JSON keys, bit-exact files, clean errors."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from golfcli.checkpoint import load_checkpoint
from golfcli.cli import main
from golfcli.config import GolfConfig, config_to_dict
from golfcli.io import sha256_file
from golfcli.qtensor import save_quantized
from test_artifact import make_model


@pytest.fixture()
def quantized(tmp_path):
    qm = make_model(7)
    qm.config = config_to_dict(GolfConfig())  # a real config, so --dequantize can rebuild it
    path = tmp_path / "q.safetensors"
    save_quantized(path, qm)
    return path, qm


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_pack_json_and_unpack_restore_the_file_bit_for_bit(quantized, tmp_path):
    path, _ = quantized
    res = run("pack", path, "--out", tmp_path / "a.bin", "--json")
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    for key in ("artifact_bytes", "codes_bytes", "entropy_bound_bytes", "codecs", "sections", "roles"):
        assert key in report
    assert report["artifact_bytes"] == (tmp_path / "a.bin").stat().st_size
    assert report["codes_bytes"] >= report["entropy_bound_bytes"] > 0

    res = run("unpack", tmp_path / "a.bin", "--out", tmp_path / "back.safetensors", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["sha256"] == sha256_file(path) == sha256_file(tmp_path / "back.safetensors")

    # Packing the restored file gives the same artifact bytes.
    assert run("pack", tmp_path / "back.safetensors", "--out", tmp_path / "b.bin").exit_code == 0
    assert (tmp_path / "a.bin").read_bytes() == (tmp_path / "b.bin").read_bytes()


def test_forced_codec_and_human_output(quantized, tmp_path):
    path, _ = quantized
    res = run("pack", path, "--out", tmp_path / "a.bin", "--codec", "lzma", "--tensors")
    assert res.exit_code == 0, res.output
    assert "lzma" in res.stdout and "entropy" in res.stdout and "tok_emb.weight" in res.stdout
    res = run("pack", path, "--out", tmp_path / "b.bin", "--set", "pack.codec=zstd", "--json")
    assert json.loads(res.stdout)["codecs"]["codes"] == "zstd"


def test_unpack_dequantize_writes_a_float_checkpoint(quantized, tmp_path):
    path, qm = quantized
    assert run("pack", path, "--out", tmp_path / "a.bin").exit_code == 0
    res = run("unpack", tmp_path / "a.bin", "--out", tmp_path / "f.safetensors", "--dequantize", "--json")
    assert res.exit_code == 0, res.output
    state, cfg, _ = load_checkpoint(tmp_path / "f.safetensors")
    expected = qm.state_dict()
    assert sorted(state) == sorted(expected)
    for name, t in expected.items():
        assert state[name].dtype == t.dtype and torch.equal(state[name], t), name


def test_damaged_artifact_is_one_line_exit_2_and_leaves_no_file(quantized, tmp_path):
    path, _ = quantized
    assert run("pack", path, "--out", tmp_path / "a.bin").exit_code == 0
    data = bytearray((tmp_path / "a.bin").read_bytes())
    data[len(data) // 2] ^= 0x10
    (tmp_path / "bad.bin").write_bytes(bytes(data))
    res = run("unpack", tmp_path / "bad.bin", "--out", tmp_path / "out.safetensors")
    assert res.exit_code == 2
    assert res.stderr.count("\n") == 1 and res.stderr.startswith("golf: error: ") and "checksum" in res.stderr
    assert "Traceback" not in res.output
    assert not (tmp_path / "out.safetensors").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp file left


def test_pack_rejects_wrong_inputs(tmp_path, quantized):
    path, _ = quantized
    (tmp_path / "notes.txt").write_text("hello")
    for args in (["pack", tmp_path / "missing.safetensors", "--out", tmp_path / "a.bin"],
                 ["pack", tmp_path / "notes.txt", "--out", tmp_path / "a.bin"],
                 ["pack", path, "--out", tmp_path / "a.bin", "--sample-bytes", "-1"],
                 ["pack", path, "--out", tmp_path / "a.bin", "--set", "pack.codec=gzip"]):
        res = run(*args)
        assert res.exit_code == 2, (args, res.output)
        assert res.stderr.startswith("golf: error: ") and res.stderr.count("\n") == 1
    assert not (tmp_path / "a.bin").exists()
