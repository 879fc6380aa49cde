"""record-1493's recipe settings reach the stages: the embedding's own AdamW decay and its presets."""

from __future__ import annotations

import dataclasses
import types

import pytest
import torch

from golfcli.config import load_config
from golfcli.model import GPT
from golfcli.train.loop import Trainer


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
