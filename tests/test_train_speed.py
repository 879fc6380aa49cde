"""Training-speed changes seen from a run: the attention kernel in metrics.jsonl, exact sharded resume."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from gloo_ranks import launch
from golfcli.checkpoint import load_checkpoint
from golfcli.config import config_to_dict, replace_section
from golfcli.train import train
from test_distributed import _rank_main, cfg  # noqa: F401  (cfg: the fixture, a tiny run's config on small shards)


def _two_ranks(cfg, out: Path, max_steps: int, resume: bool = False) -> None:
    launch(_rank_main, config_to_dict(cfg), str(out), max_steps, resume, outputs=[out])


def test_metrics_record_the_attention_kernel(cfg, tmp_path, monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    train(cfg, tmp_path / "run", max_steps=1)
    events = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert {"step": 0, "attention_kernel": "sdpa"} in events


def test_sharded_muon_resume_on_two_ranks_is_exact(cfg, tmp_path):
    cfg = replace_section(cfg, "train", checkpoint_every=2, keep_checkpoints=0)
    _two_ranks(cfg, tmp_path / "whole", 4)
    # the run as it stood after step 2: the checkpoint there holds every rank's Muon momentum
    shutil.copytree(tmp_path / "whole", tmp_path / "split")
    later = [p for p in (tmp_path / "split").rglob("*.safetensors")
             if p.parent.name != "checkpoints" or p.name != "step_000002.safetensors"]
    assert (tmp_path / "split" / "checkpoints" / "step_000002.safetensors").is_file() and later
    for path in later:
        path.unlink()
    _two_ranks(cfg, tmp_path / "split", 4, resume=True)
    a = load_checkpoint(tmp_path / "whole" / "final.safetensors")[0]
    b = load_checkpoint(tmp_path / "split" / "final.safetensors")[0]
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
