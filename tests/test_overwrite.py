"""Every writer refuses an existing output unless --overwrite, and checks its folder before any work."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from golfcli.checkpoint import save_checkpoint
from golfcli.cli import main
from golfcli.config import config_to_toml, load_config


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """A tiny untrained checkpoint in a run dir, its quantized file and artifact (no training needed)."""
    from golfcli.artifact import write_artifact
    from golfcli.model import GPT
    from golfcli.qtensor import load_quantized
    from golfcli.quant.quantize import quantize

    root = tmp_path_factory.mktemp("writers")
    cfg = load_config("tiny")
    torch.manual_seed(0)
    run = root / "run"
    run.mkdir()
    (run / "config.toml").write_text(config_to_toml(cfg))
    save_checkpoint(run / "final.safetensors", GPT(cfg.model).state_dict(), cfg)
    quantize(run / "final.safetensors", root / "q.safetensors", method="rtn")
    write_artifact(load_quantized(str(root / "q.safetensors")), root / "a.bin")
    return {"run": run, "ckpt": run / "final.safetensors", "quantized": root / "q.safetensors",
            "artifact": root / "a.bin"}


def _writers(f: dict[str, Path]) -> dict[str, list[str]]:
    """Each writing command, with its output left for the caller to append."""
    return {
        "quantize": ["quantize", str(f["ckpt"]), "--method", "rtn", "--out"],
        "pack": ["pack", str(f["quantized"]), "--out"],
        "unpack": ["unpack", str(f["artifact"]), "--out"],
        "unpack --dequantize": ["unpack", str(f["artifact"]), "--dequantize", "--out"],
        "bundle": ["bundle", "--out"],
        "ema": ["ema", str(f["run"]), "--mode", "final", "--out"],
        "gptq-calibrate": ["gptq-calibrate", str(f["ckpt"]), "--seqs", "1", "--seq-len", "8", "--batch", "1",
                           "--out"],
        "eval --per-token": ["eval", str(f["artifact"]), "--data", "missing-data", "--per-token"],
    }


WRITERS = ["quantize", "pack", "unpack", "unpack --dequantize", "bundle", "ema", "gptq-calibrate", "eval --per-token"]


@pytest.mark.parametrize("name", WRITERS)
def test_an_existing_output_is_refused_with_one_line(files, tmp_path, name):
    target = tmp_path / "text.txt"
    target.write_text("hello\n")
    r = CliRunner().invoke(main, [*_writers(files)[name], str(target)])
    assert r.exit_code == 2, r.output
    assert r.output == f"golf: error: {target}: already exists; pass --overwrite to replace it\n"
    assert target.read_text() == "hello\n"


@pytest.mark.parametrize("name", ["quantize", "pack", "unpack", "bundle", "ema"])
def test_overwrite_replaces_it(files, tmp_path, name):
    target = tmp_path / "out.bin"
    target.write_text("hello\n")
    r = CliRunner().invoke(main, [*_writers(files)[name], str(target), "--overwrite", "--json"])
    assert r.exit_code == 0, r.output
    assert target.read_bytes() != b"hello\n" and target.stat().st_size > 1000


def test_plot_refuses_an_existing_png(files):
    pytest.importorskip("matplotlib")
    png = files["run"] / "plot.png"
    png.write_bytes(b"not yet")
    r = CliRunner().invoke(main, ["plot", str(files["run"])])
    assert r.exit_code == 2 and "already exists; pass --overwrite" in r.output and png.read_bytes() == b"not yet"


def test_a_folder_that_cannot_be_created_fails_before_any_work(files, tmp_path, monkeypatch):
    import golfcli.quant.quantize as stage

    called = []
    monkeypatch.setattr(stage, "quantize", lambda *a, **k: called.append(1))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = CliRunner().invoke(main, ["quantize", str(files["ckpt"]), "--method", "rtn", "--out",
                                  str(blocker / "sub" / "q.safetensors")])
    assert r.exit_code == 2 and not called
    assert r.output.strip() == f"golf: error: {blocker / 'sub' / 'q.safetensors'}: cannot create it: {blocker} is a file, not a folder"
    r = CliRunner().invoke(main, ["train", "--preset", "tiny", "--out", str(blocker)])
    assert r.exit_code == 2 and r.output.strip() == f"golf: error: {blocker}: expected a directory, found a file"


def test_an_unwritable_folder_fails_before_any_work(files, tmp_path, monkeypatch):
    import golfcli.io

    locked = tmp_path / "locked"
    locked.mkdir()
    real = os.access  # the suite may run as root, who may write anywhere: this folder says no
    monkeypatch.setattr(golfcli.io.os, "access", lambda p, mode: False if Path(p) == locked else real(p, mode))
    r = CliRunner().invoke(main, ["pack", str(files["quantized"]), "--out", str(locked / "new" / "a.bin")])
    assert r.exit_code == 2
    assert r.output == f"golf: error: {locked / 'new' / 'a.bin'}: cannot write here: folder {locked} is not writable\n"
    assert list(locked.iterdir()) == []
