"""EMA / SWA / exponential averaging, and `golf ema` over a run directory."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from golfcli.checkpoint import load_checkpoint
from golfcli.config import load_config, replace_section
from golfcli.errors import GolfError
from golfcli.train import average_checkpoint, train
from golfcli.train.averaging import EMA, SWA, exponential_average
from golfcli.train.state import load_train_state



def test_ema_matches_the_recurrence_and_keeps_dtypes():
    w = {"a": torch.tensor([1.0, 2.0]), "e": torch.tensor([4.0], dtype=torch.bfloat16)}
    ema = EMA(w, decay=0.9)
    expected = {k: v.float().clone() for k, v in w.items()}
    for step in range(3):
        w = {k: v + (step + 1) for k, v in w.items()}
        ema.update(w)
        expected = {k: 0.9 * expected[k] + 0.1 * w[k].float() for k in w}
    out = ema.weights()
    torch.testing.assert_close(out["a"], expected["a"])
    assert out["e"].dtype == torch.bfloat16 and ema.updates == 3


def test_swa_and_exponential_average():
    snaps = [{"w": torch.full((2,), float(i))} for i in range(4)]
    swa = SWA(snaps[0])
    for s in snaps:
        swa.add(s)
    assert torch.equal(swa.weights()["w"], torch.full((2,), 1.5))
    # avg = 0.5·avg + 0.5·w from the first: 0 → 0.5 → 1.25 → 2.125
    assert torch.equal(exponential_average(snaps, 0.5)["w"], torch.full((2,), 2.125))
    assert exponential_average([], 0.5) == {}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, builtin_data) -> Path:
    from golfcli.data.shards import read_shard, write_shard

    root = tmp_path_factory.mktemp("ema")
    data, src = root / "data", builtin_data.data_dir
    write_shard(data / "fineweb_val_000000.bin", np.asarray(read_shard(src / "fineweb_val_000000.bin")[:1025]))
    write_shard(data / "fineweb_train_000000.bin", np.asarray(read_shard(src / "fineweb_train_000000.bin")[:30000]))
    cfg = load_config("tiny")
    cfg = replace_section(cfg, "train", seq_len=32, batch_tokens=256, warmup_steps=0, iterations=6, max_seconds=0.0,
                          warmdown_clock="steps", warmdown_iters=4, checkpoint_every=2, ema_decay=0.8,
                          swa_every=1, swa_threshold=0.6, loader="sequential", compile=False, log_every=2)
    cfg = replace_section(cfg, "data", data_dir=str(data), tokenizer=str(builtin_data.tokenizer))
    train(cfg, root / "run")
    return root / "run"


def test_average_modes(run_dir, tmp_path):
    ema = average_checkpoint(run_dir, tmp_path / "ema.safetensors", mode="ema")
    assert ema["decay"] == 0.8 and ema["step"] == 6
    w_ema, cfg, meta = load_checkpoint(tmp_path / "ema.safetensors")
    assert meta["source"] == "average:ema" and cfg.train.ema_decay == 0.8
    shadow = load_train_state(run_dir / "checkpoints" / "step_000006.safetensors").ema
    assert all(torch.equal(w_ema[k], shadow[k].to(w_ema[k].dtype)) for k in w_ema)

    swa = average_checkpoint(run_dir, tmp_path / "swa.safetensors", mode="swa")
    assert swa["snapshots"] == 2  # lr scale 0.5 and 0.25 at steps 5 and 6

    exp = average_checkpoint(run_dir, tmp_path / "exp.safetensors", mode="exp", decay=0.5)
    assert exp["snapshots"] == 3  # checkpoints at steps 2, 4, 6 (final.safetensors is step 6 too)
    snaps = [load_train_state(run_dir / "checkpoints" / f"step_00000{s}.safetensors").model for s in (2, 4, 6)]
    expected = exponential_average(snaps, 0.5)
    got = load_checkpoint(tmp_path / "exp.safetensors")[0]
    assert all(torch.equal(got[k], expected[k]) for k in got)
    k = next(iter(got))
    assert not torch.equal(got[k], snaps[-1][k]) or torch.equal(snaps[0][k], snaps[-1][k])


def test_average_errors(run_dir, tmp_path):
    with pytest.raises(GolfError, match="decay 0.8"):
        average_checkpoint(run_dir, tmp_path / "x", mode="ema", decay=0.99)
    with pytest.raises(GolfError, match="needs --decay"):
        average_checkpoint(run_dir, tmp_path / "x", mode="exp")
    with pytest.raises(GolfError, match="not a golf run directory"):
        average_checkpoint(tmp_path, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_cli(run_dir, tmp_path):
    from golfcli.cli import main

    out = tmp_path / "avg.safetensors"
    r = CliRunner().invoke(main, ["ema", str(run_dir), "--out", str(out), "--mode", "exp", "--decay", "0.9", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["mode"] == "exp" and out.is_file()
    bad = CliRunner().invoke(main, ["ema", str(tmp_path / "nope"), "--out", str(out)])
    assert bad.exit_code == 2 and "run directory not found" in bad.output
