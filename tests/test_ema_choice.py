"""`golf ema`: snapshots before the last recurrence phase, and the choice between final and averaged weights."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from golfcli.checkpoint import load_checkpoint, save_checkpoint
from golfcli.config import config_to_toml, load_config, replace_section
from golfcli.errors import GolfError
from golfcli.train import average_checkpoint, train
from golfcli.train.averaging import exponential_average
from golfcli.train.phases import final_phase_weights
from golfcli.train.state import load_train_state

RECUR = ["model.recurrence=\"mini\"", "model.recur_layers=[1, 2]", "model.repeat_untie_mlp=\"full\"",
         "model.recur_start_step=6", "train.iterations=8", "train.checkpoint_every=2", "train.val_every=0",
         "train.val_tokens=2048", "train.log_every=2", "train.batch_tokens=1024"]


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory, builtin_data) -> tuple[Path, Path]:
    """A tiny run with untied repeat MLPs from step 6, stopped at step 4 (so still before the recurrence),
    on the session's built-in corpus."""
    root = tmp_path_factory.mktemp("recur")
    cfg = load_config("tiny", overrides=RECUR)
    cfg = replace_section(cfg, "data", data_dir=str(builtin_data.data_dir), tokenizer=str(builtin_data.tokenizer))
    train(cfg, root / "run", max_steps=4)
    return root / "run", builtin_data.data_dir


def _snapshot_only(run: Path, dest: Path) -> Path:
    """The run dir as an interrupted run leaves it: config and checkpoints, no final/ema files."""
    dest.mkdir()
    shutil.copy(run / "config.toml", dest / "config.toml")
    shutil.copytree(run / "checkpoints", dest / "checkpoints")
    return dest


def test_ema_of_an_early_snapshot_equals_what_training_writes(stopped_run, tmp_path):
    run, _ = stopped_run
    snap = _snapshot_only(run, tmp_path / "snap")
    state = load_train_state(snap / "checkpoints" / "step_000004.safetensors")
    assert state.state.phase == 0  # the snapshot is from before the recurrence phase
    average_checkpoint(snap, tmp_path / "ema.safetensors", mode="ema", data_dir=str(tmp_path / "none"))
    got, want = load_checkpoint(tmp_path / "ema.safetensors")[0], load_checkpoint(run / "ema.safetensors")[0]
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want)
    untied = [k for k in want if k.startswith("repeat_mlp.")]
    assert untied and any(not torch.equal(want[k], state.ema[k].to(want[k].dtype)) for k in untied)


def test_exp_average_brings_every_snapshot_to_full_depth(stopped_run, tmp_path):
    run, _ = stopped_run
    snap = _snapshot_only(run, tmp_path / "snap")
    average_checkpoint(snap, tmp_path / "exp.safetensors", mode="exp", decay=0.5, data_dir=str(tmp_path / "none"))
    cfg = load_config(config_file=snap / "config.toml")
    snaps = [final_phase_weights(cfg, load_train_state(p).model, 0)
             for p in sorted((snap / "checkpoints").glob("step_*.safetensors"))]
    got, want = load_checkpoint(tmp_path / "exp.safetensors")[0], exponential_average(snaps, 0.5)
    assert all(torch.equal(got[k], want[k]) for k in want)


def _run_with(tmp_path: Path, source: Path, final: dict, ema: dict, **train_changes) -> Path:
    _, cfg, _ = load_checkpoint(source / "final.safetensors")
    cfg = replace_section(cfg, "train", **train_changes) if train_changes else cfg
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.toml").write_text(config_to_toml(cfg))
    save_checkpoint(run / "final.safetensors", final, cfg, step=4)
    save_checkpoint(run / "ema.safetensors", ema, cfg, decay=cfg.train.ema_decay, step=4)
    return run


def _noisy(weights: dict) -> dict:
    g = torch.Generator().manual_seed(0)
    return {k: v + 0.5 * torch.randn(v.shape, generator=g) if v.is_floating_point() else v for k, v in weights.items()}


def _train_only(data: Path, dest: Path) -> Path:
    """Only the training shards: the probe must never need validation tokens."""
    dest.mkdir()
    for p in data.glob("fineweb_train_*.bin"):
        (dest / p.name).symlink_to(p)
    return dest


@pytest.mark.parametrize("worse", ["ema", "final"])
def test_auto_ships_the_better_weights_on_held_out_training_tokens(stopped_run, tmp_path, worse):
    run, data = stopped_run
    good = load_checkpoint(run / "final.safetensors")[0]
    final, ema = (good, _noisy(good)) if worse == "ema" else (_noisy(good), good)
    fake = _run_with(tmp_path, run, final, ema)
    train_shards = _train_only(data, tmp_path / "train-only")
    r = average_checkpoint(fake, tmp_path / "out.safetensors", mode="auto", data_dir=str(train_shards))
    better = "final" if worse == "ema" else "ema"
    assert r["chosen"] == better and r["probe"]["loss"][better] < r["probe"]["loss"][worse]
    assert r["probe"]["shard"].startswith("fineweb_train_") and r["probe"]["tokens"] > 0
    assert "training probe" in r["reason"] and better in r["reason"]
    shipped = load_checkpoint(tmp_path / "out.safetensors")[0]
    assert all(torch.equal(shipped[k], (final if better == "final" else ema)[k]) for k in shipped)


def test_a_worse_average_is_a_warning(stopped_run, tmp_path):
    run, data = stopped_run
    good = load_checkpoint(run / "final.safetensors")[0]
    fake = _run_with(tmp_path, run, good, _noisy(good))
    r = average_checkpoint(fake, tmp_path / "out.safetensors", mode="ema", data_dir=str(data))
    assert r["chosen"] == "ema" and len(r["warnings"]) == 1
    assert r["warnings"][0].startswith("the ema weights are worse than the final ones on the training probe")


def test_the_config_chooses_the_weights(stopped_run, tmp_path):
    run, _ = stopped_run
    good = load_checkpoint(run / "final.safetensors")[0]
    fake = _run_with(tmp_path, run, good, _noisy(good), ship_weights="final")
    r = average_checkpoint(fake, tmp_path / "out.safetensors")
    assert r["mode"] == "final" and r["chosen"] == "final"
    with pytest.raises(GolfError, match="compares weights on training tokens"):
        average_checkpoint(fake, tmp_path / "x.safetensors", mode="auto", data_dir=str(tmp_path / "none"))
