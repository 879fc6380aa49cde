"""`golf run` after an interruption: training resumes (same key) or the old train dir is kept aside."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from golfcli import pipeline
from golfcli.checkpoint import load_checkpoint
from golfcli.io import save_tensors
from golfcli.pipeline import RunLayout, Stage, execute

def _tensors(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)[0]


def test_interrupted_run_resumes_and_equals_an_uninterrupted_one(tiny_run, small_corpus, tmp_path):
    out = tmp_path / "run"
    cmd = tiny_run.argv(small_corpus, out)  # the shared run's command: it checkpoints every 4 of 12 steps
    first = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300
    while not list((out / "train" / "checkpoints").glob("step_*.safetensors")) and first.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.05)
    if first.poll() is None:
        os.killpg(first.pid, signal.SIGKILL)  # golf run and the stage it is running, wherever they are
    first.wait()

    again = subprocess.run(cmd, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-2000:]
    summary = json.loads(again.stdout)
    assert summary["steps"] == 12
    assert summary["resumed_from_step"] is not None or "train" in summary["skipped"]
    assert not list(tmp_path.glob("run/train.old-*"))  # same settings: nothing was set aside
    weights = summary["weights"]
    assert weights["used"] in ("final", "ema") and "training probe" in weights["reason"]
    assert weights["probe"]["shard"].startswith("fineweb_train_")

    ref = tiny_run.out / "train"  # the same command, never interrupted
    for name in ("final.safetensors", "ema.safetensors"):
        got, want = _tensors(out / "train" / name), _tensors(ref / name)
        assert got.keys() == want.keys()
        assert all(torch.equal(got[k], want[k]) for k in want), name
    assert summary["bpb"] == tiny_run.summary["bpb"]


def _checkpoint(path: Path, value: float = 1.0) -> None:
    save_tensors(path, {"model/w": torch.full((4,), value)}, "train_state")


def _fake_train(tmp_path: Path) -> tuple[RunLayout, Stage]:
    layout = RunLayout(tmp_path)
    return layout, Stage("train", ["train", "--out", str(layout.train_dir)], [], [layout.train_dir], resumable=True)


@pytest.fixture
def ran(monkeypatch) -> list[list[str]]:
    calls: list[list[str]] = []

    def fake_run(stage, argv, show_progress):
        calls.append(argv)
        (stage.outputs[0] / "final.safetensors").parent.mkdir(parents=True, exist_ok=True)
        return {"steps": 1}

    monkeypatch.setattr(pipeline, "_run_stage", fake_run)
    return calls


def test_unchanged_key_resumes_from_the_newest_checkpoint_that_reads_back(tmp_path, ran, capfd):
    layout, stage = _fake_train(tmp_path)
    ckpts = layout.train_dir / "checkpoints"
    ckpts.mkdir(parents=True)
    _checkpoint(ckpts / "step_000004.safetensors")
    _checkpoint(ckpts / "step_000008.safetensors")
    whole = (ckpts / "step_000008.safetensors").read_bytes()
    (ckpts / "step_000008.safetensors").write_bytes(whole[:-3])  # truncated by a crash
    (tmp_path / pipeline.STATE_FILE).write_text(json.dumps({"train": {"key": pipeline.stage_key(stage),
                                                                      "pending": True}}))
    records = execute([stage], layout, show_progress=False)
    assert ran == [[*stage.argv, "--resume"]] and records["train"]["resumed_from_step"] == 4
    assert (ckpts / "step_000008.safetensors.damaged").read_bytes() == whole[:-3]  # kept, out of the way
    assert "resuming from" in capfd.readouterr().err


def test_changed_key_moves_the_old_train_dir_aside(tmp_path, ran):
    layout, stage = _fake_train(tmp_path)
    (layout.train_dir / "checkpoints").mkdir(parents=True)
    _checkpoint(layout.train_dir / "checkpoints" / "step_000004.safetensors", 3.0)
    (layout.train_dir.with_name("train.old-1")).mkdir()  # an earlier one is never replaced either
    (tmp_path / pipeline.STATE_FILE).write_text(json.dumps({"train": {"key": "another", "pending": True}}))
    execute([stage], layout, show_progress=False)
    assert ran == [stage.argv]  # a fresh start
    kept = tmp_path / "train.old-2" / "checkpoints" / "step_000004.safetensors"
    assert kept.is_file() and not (layout.train_dir / "checkpoints").exists()


def test_a_finished_stage_is_recorded_and_then_skipped(tmp_path, ran):
    layout, stage = _fake_train(tmp_path)
    execute([stage], layout, show_progress=False)
    state = json.loads((tmp_path / pipeline.STATE_FILE).read_text())
    assert "pending" not in state["train"] and state["train"]["key"] == pipeline.stage_key(stage)
    execute([stage], layout, show_progress=False)
    assert len(ran) == 1


@pytest.mark.parametrize("make", ["missing", "empty"])
def test_resume_without_a_checkpoint_is_an_error(tmp_path, make):
    from golfcli.cli import main
    from click.testing import CliRunner

    out = tmp_path / "run"
    if make == "empty":
        (out / "checkpoints").mkdir(parents=True)
    r = CliRunner().invoke(main, ["train", "--preset", "tiny", "--out", str(out), "--resume", "--data",
                                  str(tmp_path / "nodata")])
    assert r.exit_code == 2
    assert r.output.strip().splitlines()[-1].startswith("golf: error: ") and "nothing to resume" in r.output


def test_ship_weights_reruns_the_ema_stage_never_training(tmp_path):
    from golfcli.config import load_config
    from golfcli.pipeline import plan_stages, stage_key

    layout = RunLayout(tmp_path)
    keys = [{s.name: stage_key(s) for s in plan_stages(load_config("tiny", overrides=[f"train.ship_weights={w}"]),
                                                       layout, False, False)} for w in ("auto", "final")]
    assert [n for n in keys[0] if keys[0][n] != keys[1][n]] == ["ema"]
