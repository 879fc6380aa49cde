"""Two gloo ranks on CPU train the same weights as one process with the same global batch."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from gloo_ranks import launch
from golfcli.checkpoint import load_checkpoint
from golfcli.config import config_from_dict, config_to_dict, load_config, replace_section
from golfcli.model import GPT
from golfcli.train import train


def _rank_main(rank: int, tables: dict, out: str, max_steps: int = 4, resume: bool = False) -> None:
    """One rank of a 2-rank `train` (spawned by gloo_ranks.launch)."""
    summary = train(config_from_dict(tables, preset="tiny"), out, max_steps=max_steps, resume=resume)
    assert summary["world_size"] == 2


@pytest.fixture(scope="module")
def cfg(tmp_path_factory, builtin_data):
    """A tiny run's config on small shards at the relative path `data`, the module run from their
    folder: the coprime loader hashes the shard paths it is given, so a fixed path draws the same
    batches on every test run (an absolute temporary path drew others each time)."""
    from golfcli.data.shards import read_shard, write_shard

    home, src = tmp_path_factory.mktemp("dist"), builtin_data.data_dir
    data = home / "data"
    data.mkdir()
    write_shard(data / "fineweb_val_000000.bin", np.asarray(read_shard(src / "fineweb_val_000000.bin")[:2049]))
    for i in range(3):
        write_shard(data / f"fineweb_train_00000{i}.bin",
                    np.asarray(read_shard(src / f"fineweb_train_00000{i}.bin")[:20000]))
    c = load_config("tiny")
    c = replace_section(c, "train", seq_len=32, batch_tokens=512, warmup_steps=0, iterations=4, max_seconds=0.0,
                        warmdown_clock="steps", warmdown_iters=2, checkpoint_every=0, loader="coprime",
                        compile=False, log_every=1, grad_clip=0.3)
    cwd = os.getcwd()
    os.chdir(home)  # spawned ranks start here too
    try:
        yield replace_section(c, "data", data_dir="data", tokenizer=str(builtin_data.tokenizer))
    finally:
        os.chdir(cwd)


def test_two_gloo_ranks_match_one_process(cfg, tmp_path, monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    single = train(cfg, tmp_path / "one", max_steps=4)
    assert single["world_size"] == 1
    launch(_rank_main, config_to_dict(cfg), str(tmp_path / "two"), outputs=[tmp_path / "two"])
    a = load_checkpoint(tmp_path / "one" / "final.safetensors")[0]
    b = load_checkpoint(tmp_path / "two" / "final.safetensors")[0]
    assert a.keys() == b.keys()
    torch.manual_seed(cfg.train.seed)
    initial = GPT(cfg.model).state_dict()
    for name, (x, y) in {"final": (a, b), "ema": (
            load_checkpoint(tmp_path / "one" / "ema.safetensors")[0],
            load_checkpoint(tmp_path / "two" / "ema.safetensors")[0])}.items():
        diff = torch.cat([(y[k].float() - x[k].float()).flatten() for k in x]).norm()
        moved = torch.cat([(x[k].float() - initial[k].float()).flatten() for k in x]).norm()
        # same updates up to float rounding (Adam's normalisation magnifies it a little on small gradients)
        assert moved > 0.05 and diff / moved < 1e-3, (name, float(diff), float(moved))
        worst = max((y[k].float() - x[k].float()).abs().max().item() for k in x)
        assert worst < 1e-3, (name, worst)
    # rank 0 wrote the run dir; the metrics show the same global batch per step
    lines = (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()
    assert sum('"loss"' in line for line in lines) == 4
