"""`golf run`'s stages forked from a warm process behave exactly like `python -m golfcli` ones."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from golfcli import console, stage_process
from golfcli.io import save_tensors
from golfcli.pipeline import _run_stage, Stage

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="stages are forked on Linux only")


def _both(argv: list[str], cwd: tuple[Path, Path] | None = None) -> tuple[tuple[int, str, str], tuple[int, str, str]]:
    """(exit code, stdout, stderr) of `golf argv` forked and spawned (in the two folders `cwd`)."""
    env = dict(os.environ)
    here = os.getcwd()
    try:
        os.chdir(cwd[0] if cwd else here)  # a forked child starts where its parent is
        forked = stage_process.ForkedStage(argv, env, capture_stderr=True)
    finally:
        os.chdir(here)
    spawned = subprocess.Popen([sys.executable, "-m", "golfcli", *argv], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env, cwd=cwd[1] if cwd else None)
    results = []
    for proc in (forked, spawned):
        out, err = proc.stdout.read(), proc.stderr.read()
        results.append((proc.wait(), out, err))
    return results[0], results[1]


def test_a_forked_stage_prints_and_exits_as_a_spawned_one(tmp_path):
    save_tensors(tmp_path / "w.safetensors", {"w": torch.arange(6.0).reshape(2, 3)}, "checkpoint")
    forked, spawned = _both(["inspect", str(tmp_path / "w.safetensors"), "--json"])
    assert forked == spawned and forked[0] == 0 and '"w"' in forked[1]
    forked, spawned = _both(["inspect", str(tmp_path / "missing.safetensors")])
    assert forked == spawned and forked[0] == 2
    assert forked[2].strip() == f"golf: error: {tmp_path / 'missing.safetensors'}: file not found"


def test_a_forked_quantize_writes_the_bytes_a_spawned_one_does(tmp_path):
    from golfcli.checkpoint import save_checkpoint
    from golfcli.config import load_config
    from golfcli.model import GPT

    cfg = load_config("tiny")
    torch.manual_seed(0)
    model = GPT(cfg.model)
    model.set_phase(model.final_phase)
    dirs = (tmp_path / "forked", tmp_path / "spawned")
    for d in dirs:
        d.mkdir()
        save_checkpoint(d / "ckpt.safetensors", model.state_dict(), cfg)
    argv = ["quantize", "ckpt.safetensors", "--method", "rtn", "--passthrough-max", "1024", "--out", "q.safetensors"]
    forked, spawned = _both(argv, dirs)
    assert forked[0] == spawned[0] == 0, forked[2] + spawned[2]
    assert (dirs[0] / "q.safetensors").read_bytes() == (dirs[1] / "q.safetensors").read_bytes()


def test_a_forked_stage_starts_with_fresh_golf_state():
    console.set_quiet(True)  # as `golf run --json` leaves it; the stage must not inherit it
    forked, spawned = _both(["presets"])
    assert forked == spawned and "record-1204" in forked[1]


def test_a_killed_stage_reports_the_signal_and_golf_run_names_the_stage(monkeypatch):
    proc = stage_process.ForkedStage(["presets"], dict(os.environ), capture_stderr=True)
    os.kill(proc.pid, signal.SIGKILL)
    proc.stdout.read()
    assert proc.wait() == -signal.SIGKILL

    stage = Stage("inspect", ["inspect", "/nonexistent/x.safetensors"])
    with pytest.raises(Exception, match=r"stage inspect failed \(golf: error: .*file not found\); rerun by hand: golf inspect"):
        _run_stage(stage, stage.argv, show_progress=False)


def test_stages_are_spawned_when_asked_or_when_forking_is_unsafe(monkeypatch):
    assert stage_process.can_fork()
    monkeypatch.setenv("GOLF_SPAWN_STAGES", "1")
    assert not stage_process.can_fork()
    proc = stage_process.start_stage(["presets", "--json"], dict(os.environ), capture_stderr=True)
    assert isinstance(proc, subprocess.Popen) and proc.wait() == 0
    proc.stdout.close()
    proc.stderr.close()
    monkeypatch.delenv("GOLF_SPAWN_STAGES")
    monkeypatch.setattr(stage_process.threading, "active_count", lambda: 2)
    assert not stage_process.can_fork()
