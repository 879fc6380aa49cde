"""`golf train` on CPU: run dir, exact resume, warmup rollback, NaN stop, validation bpb, CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from golfcli import console
from golfcli.checkpoint import load_checkpoint
from golfcli.config import config_to_dict, load_config, replace_section
from golfcli.errors import GolfError
from golfcli.io import load_tensors
from golfcli.train import train
from golfcli.train.loop import Trainer
from golfcli.train.run_dir import read_metrics


TRAIN = dict(
    seq_len=32, batch_tokens=256, warmup_steps=0, log_every=1, iterations=10, warmdown_clock="steps",
    warmdown_iters=6, max_seconds=0.0, checkpoint_every=0, val_tokens=512, loader="coprime", compile=False,
)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory, builtin_data) -> tuple[Path, Path]:
    """Small shards (3 train, 1 val) cut from the built-in corpus, and its tokenizer."""
    from golfcli.data.shards import read_shard, write_shard

    src, out = builtin_data.data_dir, tmp_path_factory.mktemp("data")
    write_shard(out / "fineweb_val_000000.bin", np.asarray(read_shard(src / "fineweb_val_000000.bin")[:4097]))
    for i in range(3):
        tokens = read_shard(src / f"fineweb_train_00000{i}.bin")
        write_shard(out / f"fineweb_train_00000{i}.bin", np.asarray(tokens[i * 7000 : i * 7000 + 20000]))
    return out, builtin_data.tokenizer


def make_cfg(tiny_data, model=None, **train_changes):
    data_dir, tok = tiny_data
    cfg = load_config("tiny")
    cfg = replace_section(cfg, "train", **{**TRAIN, **train_changes})
    cfg = replace_section(cfg, "data", data_dir=str(data_dir), tokenizer=str(tok))
    if model:
        cfg = replace_section(cfg, "model", **model)
    return cfg


RECUR = dict(recurrence="mini", recur_layers=(1, 2), repeat_untie_mlp="full", recur_start_step=7, block_scalars="virtual")


def weights(path):
    return load_checkpoint(path)[0]


def test_run_dir_metrics_and_validation_bpb(tiny_data, tmp_path):
    cfg = make_cfg(tiny_data, val_every=3, checkpoint_every=3, swa_every=1, swa_threshold=0.9)
    out = tmp_path / "run"
    s = train(cfg, out, max_steps=6)
    assert s["steps"] == 6 and s["stopped_by"] == "max_steps" and s["tokens"] == 6 * 256
    for name in ("config.toml", "metrics.jsonl", "final.safetensors", "ema.safetensors", "swa.safetensors"):
        assert (out / name).is_file(), name
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step_000003.safetensors", "step_000006.safetensors"]
    # the resolved config reads back to the same config
    assert config_to_dict(load_config(config_file=out / "config.toml")) == config_to_dict(cfg)
    # training state holds model, optimizer moments, EMA, SWA sum and RNG, all as plain tensors
    tensors, meta = load_tensors(out / "checkpoints" / "step_000006.safetensors", "train_state")
    assert tensors["rng/cpu"].dtype == torch.uint8
    assert any(k.startswith("optim/0/") and k.endswith("momentum_buffer") for k in tensors)
    assert any(k.endswith("/exp_avg_sq") for k in tensors)
    assert any(k.startswith("ema/") for k in tensors) and any(k.startswith("swa/") for k in tensors)
    assert meta["train_state"]["step"] == 6 and meta["train_state"]["loader"]["kind"] == "coprime"
    recs = read_metrics(out / "metrics.jsonl")
    steps = [r for r in recs if "loss" in r]
    assert [r["step"] for r in steps] == [1, 2, 3, 4, 5, 6]
    assert all(k in steps[0] for k in ("lr_scale", "tokens", "ms_per_step", "tokens_per_s"))
    assert [r["lr_scale"] for r in steps][-1] == pytest.approx(5 / 6)  # step 5 of 10 with a 6-step warmdown
    vals = [r for r in recs if "val_bpb" in r and "weights" not in r]
    assert [r["step"] for r in vals] == [3, 6]
    assert s["swa_snapshots"] == 1  # only the last step ran at lr scale < 0.9: the SWA mean is the final weights
    final, swa = weights(out / "final.safetensors"), weights(out / "swa.safetensors")
    assert all(torch.equal(final[k], swa[k]) for k in final)

    # the reported bpb is the metric's, recomputed here from the final weights
    from golfcli.data.shards import load_validation_tokens
    from golfcli.data.tokenizer import load_tokenizer
    from golfcli.metric import BpbMeter, build_byte_tables
    from golfcli.model import GPT

    state, cfg2, meta = load_checkpoint(out / "final.safetensors")
    assert meta["step"] == 6
    model = GPT(cfg2.model)
    model.set_phase(model.final_phase)
    model.load_state_dict(state)
    model.eval()
    val = load_validation_tokens(tiny_data[0], 32)[: 512 + 1]
    x, y = val[:-1].view(-1, 32), val[1:].view(-1, 32)
    with torch.no_grad():
        nll = F.cross_entropy(model(x).reshape(-1, 1024), y.reshape(-1), reduction="none")
    meter = BpbMeter()
    meter.add(nll, x.reshape(-1), y.reshape(-1), build_byte_tables(load_tokenizer(tiny_data[1]), 1024))
    assert s["val_tokens"] == 512
    assert s["val_bpb"] == pytest.approx(meter.bpb, rel=1e-6)
    assert math.isfinite(s["ema_val_bpb"]) and s["ema_val_bpb"] != s["val_bpb"]


def test_resume_is_bit_identical(tiny_data, tmp_path):
    # recurrence switches on at step 7 and Noisy QAT at lr scale < 0.5 (step 8): both after the resume
    cfg = make_cfg(tiny_data, model=RECUR, qat_mode="noise", qat_threshold=0.5, swa_every=1, swa_threshold=0.7)
    straight = train(cfg, tmp_path / "a", max_steps=10)
    half = train(cfg, tmp_path / "b", max_steps=5)
    assert half["steps"] == 5
    resumed = train(cfg, tmp_path / "b", max_steps=10, resume=True)
    assert straight["steps"] == resumed["steps"] == 10
    for name in ("final.safetensors", "ema.safetensors", "swa.safetensors"):
        a, b = weights(tmp_path / "a" / name), weights(tmp_path / "b" / name)
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), (name, k)
    ra = [r for r in read_metrics(tmp_path / "a" / "metrics.jsonl") if "loss" in r]
    rb = [r for r in read_metrics(tmp_path / "b" / "metrics.jsonl") if "loss" in r]
    assert [r["loss"] for r in ra] == [r["loss"] for r in rb]
    events = {r["event"]: r["step"] for r in read_metrics(tmp_path / "b" / "metrics.jsonl") if "event" in r}
    assert events == {"phase": 7, "qat": 8}
    assert straight["val_bpb"] == resumed["val_bpb"]


def test_compile_warmup_is_rolled_back(tiny_data, tmp_path):
    cfg = make_cfg(tiny_data, model=RECUR, qat_mode="ste", qat_threshold=0.5)
    train(cfg, tmp_path / "cold", max_steps=9)
    warm = replace_section(cfg, "train", warmup_steps=2)
    train(warm, tmp_path / "warm", max_steps=9)
    a, b = weights(tmp_path / "cold" / "final.safetensors"), weights(tmp_path / "warm" / "final.safetensors")
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_nan_loss_stops_naming_the_step(tiny_data, tmp_path, monkeypatch):
    original = Trainer.step

    def poisoned(self, step, lr_scale):
        loss = original(self, step, lr_scale)
        return loss * float("nan") if step == 5 else loss

    monkeypatch.setattr(Trainer, "step", poisoned)
    out = tmp_path / "run"
    with pytest.raises(GolfError, match=r"NaN/inf at step 5; stopped; the last good checkpoint is .*step_000004"):
        train(make_cfg(tiny_data, checkpoint_every=2), out, max_steps=10)
    assert (out / "checkpoints" / "step_000004.safetensors").is_file()
    assert not (out / "final.safetensors").exists()


def test_refuses_to_overwrite_and_bad_options(tiny_data, tmp_path):
    cfg = make_cfg(tiny_data)
    train(cfg, tmp_path / "run", max_steps=1)
    with pytest.raises(GolfError, match="already holds a training run"):
        train(cfg, tmp_path / "run", max_steps=1)
    with pytest.raises(GolfError, match="qat_mode"):
        train(replace_section(cfg, "train", qat_mode="late"), tmp_path / "x")
    with pytest.raises(GolfError, match="whole sequences"):
        train(replace_section(cfg, "train", batch_tokens=100), tmp_path / "y")
    with pytest.raises(GolfError, match="tokenizer not found"):
        train(replace_section(cfg, "data", tokenizer=str(tmp_path / "none.model")), tmp_path / "z")
    with pytest.raises(GolfError, match="no train shards"):
        train(replace_section(cfg, "data", data_dir=str(tmp_path)), tmp_path / "z")
    assert not (tmp_path / "x").exists() and not (tmp_path / "z").exists()  # nothing half-written


def test_wallclock_cap_stops_training(tiny_data, tmp_path):
    cfg = make_cfg(tiny_data, iterations=100000, warmdown_clock="time", warmdown_iters=5, log_every=1)
    s = train(cfg, tmp_path / "run", max_seconds=1.5)
    assert s["stopped_by"] == "max_seconds"
    assert s["seconds"] >= 1.5 and 0 < s["steps"] < 100000
    steps = [r for r in read_metrics(tmp_path / "run" / "metrics.jsonl") if "loss" in r]
    assert len(steps) == s["steps"]
    # it stops at the first step that reaches the cap, however fast the machine is
    assert steps[-1]["elapsed"] >= 1.5 and all(r["elapsed"] <= 1.5 for r in steps[:-1])
    scales = [r["lr_scale"] for r in steps]
    assert scales == sorted(scales, reverse=True) and scales[-1] < 1.0


def test_cli_prints_one_json_object(tiny_data, tmp_path):
    from golfcli.cli import main

    data_dir, tok = tiny_data
    sets = [a for k, v in TRAIN.items() for a in ("--set", f"train.{k}={json.dumps(v)}")]
    args = ["train", "--preset", "tiny", *sets, "--data", str(data_dir), "--tokenizer", str(tok),
            "--out", str(tmp_path / "run"), "--max-steps", "2", "--val-every", "1", "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["steps"] == 2 and summary["paths"]["final"].endswith("final.safetensors")
    bad = CliRunner().invoke(main, args[:-1])  # same run dir again
    assert bad.exit_code == 2 and "already holds a training run" in bad.output
    # without --json and without a terminal: plain log lines on stderr, a table on stdout
    args[args.index("--out") + 1] = str(tmp_path / "run2")
    console.set_quiet(False)  # --json above turned the process-wide console quiet
    plain = CliRunner().invoke(main, args[:-1])
    assert plain.exit_code == 0, plain.output
    assert "step 1 loss" in plain.stderr and "val_bpb" in plain.stderr
    assert "final.safetensors" in plain.stdout.replace("\n", "").replace("│", "").replace(" ", "") and "step 1 loss" not in plain.stdout
