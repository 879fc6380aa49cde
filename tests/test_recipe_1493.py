"""record-1493's recipe settings reach the stages: the embedding's own AdamW decay and its presets."""

from __future__ import annotations

import dataclasses
import types

import pytest
import torch

from golfcli.config import load_config
from golfcli.model import GPT
from golfcli.train.loop import Trainer
from test_train import tiny_data  # noqa: F401  (the fixture)


def _adam_decays(train_changes: dict) -> dict[str, float]:
    cfg = load_config("tiny")
    cfg.train = dataclasses.replace(cfg.train, **train_changes)
    model = GPT(cfg.model)
    fake = types.SimpleNamespace(tc=cfg.train, model=model, params=[p for p in model.parameters()], cuda=False,
                                 dist=types.SimpleNamespace(rank=0, world_size=1), device=torch.device("cpu"))
    groups = model.param_groups()
    adam = [o for o in Trainer._build_optimizers(fake) if isinstance(o, torch.optim.AdamW)][0]
    names = {id(groups["embed"][0]): "embed", id(groups["scalar"][0]): "scalar"}
    return {names[id(g["params"][0])]: g["weight_decay"] for g in adam.param_groups}


def test_embed_wd_sets_only_the_embedding_group():
    assert _adam_decays({"adam_wd": 0.02, "embed_wd": 0.085}) == {"embed": 0.085, "scalar": 0.02}
    assert _adam_decays({"adam_wd": 0.03}) == {"embed": 0.03, "scalar": 0.03}  # embed_wd < 0: adam_wd


@pytest.mark.parametrize("preset", ["record-1493", "record-1493-sp1024"])
def test_record_1493_presets_carry_the_scripts_recipe(preset):
    cfg = load_config(preset)
    assert cfg.train.loader == "shuffled"
    assert (cfg.train.embed_weight_decay(), cfg.train.adam_wd) == (0.085, 0.02)
    assert cfg.eval.ttt_whole_seqs is True


def test_training_with_the_shuffled_loader_resumes_bit_identically(tiny_data, tmp_path):
    from golfcli.checkpoint import load_checkpoint
    from golfcli.io import load_tensors
    from golfcli.train import train
    from test_train import make_cfg

    cfg = make_cfg(tiny_data, loader="shuffled", embed_wd=0.085, adam_wd=0.02)
    straight = train(cfg, tmp_path / "a", max_steps=6)
    train(cfg, tmp_path / "b", max_steps=3)
    resumed = train(cfg, tmp_path / "b", max_steps=6, resume=True)
    assert straight["steps"] == resumed["steps"] == 6
    a, b = (load_checkpoint(tmp_path / d / "final.safetensors") for d in ("a", "b"))
    _, meta = load_tensors(tmp_path / "b" / "checkpoints" / "step_000003.safetensors", "train_state")
    assert meta["train_state"]["loader"]["kind"] == "shuffled" and sum(meta["train_state"]["loader"]["left"]) > 0
    for k in a[0]:
        assert torch.equal(a[0][k], b[0][k]), k
