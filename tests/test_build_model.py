"""One way to build a GPT for use (`golfcli.model.build_model`) and one device resolver."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from golfcli.checkpoint import save_checkpoint
from golfcli.config import load_config
from golfcli.distributed import pick_device
from golfcli.errors import FormatError, GolfError
from golfcli.loading import load_model
from golfcli.model import GPT, build_model
from golfcli.train.phases import final_phase_weights

RECURRENT = ['model.recurrence="mini"', "model.recur_layers=[1,2]", 'model.repeat_untie_mlp="full"',
             "model.recur_start_step=6"]
ROOT = Path(__file__).resolve().parents[1] / "golfcli"


def _trained_like(cfg, seed=0):
    """A final-phase state dict with random, distinct weights (repeat copies differ from their base)."""
    torch.manual_seed(seed)
    m = GPT(cfg.model)
    m.set_phase(m.final_phase)
    with torch.no_grad():
        for p in m.parameters():
            p.normal_(0, 0.1)
    return {k: v.detach().clone() for k, v in m.state_dict().items()}


def test_build_model_loads_strictly_at_final_phase_in_eval_mode():
    cfg = load_config("tiny", None, RECURRENT)
    state = _trained_like(cfg)
    model = build_model(cfg.model, state)
    assert model.phase == model.final_phase > 0
    assert not model.training
    got = model.state_dict()
    assert set(got) == set(state)
    assert all(torch.equal(got[k], state[k]) for k in state)  # no untied copy overwrote a trained one


def test_build_model_matches_loading_a_checkpoint(tmp_path):
    cfg = load_config("tiny", None, RECURRENT)
    state = _trained_like(cfg, seed=1)
    save_checkpoint(tmp_path / "c.safetensors", state, cfg)
    loaded, _ = load_model(tmp_path / "c.safetensors")
    built = build_model(cfg.model, state)
    x = torch.randint(0, cfg.model.vocab_size, (2, 16), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(loaded(x), built(x))


def test_build_model_refuses_weights_of_another_shape_naming_the_file():
    cfg = load_config("tiny", None, RECURRENT)
    state = _trained_like(cfg)
    state.pop(next(iter(state)))
    with pytest.raises(FormatError, match=r"^x\.safetensors: weights do not fit the model its config describes"):
        build_model(cfg.model, state, path="x.safetensors")


def test_full_depth_weights_from_an_earlier_phase_match_growing_the_model_itself():
    cfg = load_config("tiny", None, RECURRENT)
    torch.manual_seed(2)
    grown = GPT(cfg.model)  # phase 0, as training starts
    with torch.no_grad():
        for p in grown.parameters():
            p.normal_(0, 0.1)
    early = {k: v.detach().clone() for k, v in grown.state_dict().items()}
    assert build_model(cfg.model, early, phase=0).phase == 0
    grown.set_phase(grown.final_phase, copy_untied=True)
    full = final_phase_weights(cfg, early, 0)
    assert set(full) == set(grown.state_dict())
    assert all(torch.equal(full[k], v) for k, v in grown.state_dict().items())
    copies = [k for k in full if k.startswith("repeat_mlp.")]
    assert copies and not all(torch.equal(full[k], torch.zeros_like(full[k])) for k in copies)


def test_random_init_is_seeded():
    cfg = load_config("tiny")
    torch.manual_seed(3)
    a = build_model(cfg.model, None).state_dict()
    torch.manual_seed(3)
    b = build_model(cfg.model, None).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_pick_device_is_the_one_resolver():
    assert pick_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        assert pick_device("auto") == torch.device("cpu")
        with pytest.raises(GolfError, match="CUDA is not available"):
            pick_device("cuda:1")
    with pytest.raises(GolfError, match="device must be auto, cpu, cuda or cuda:N, got 'tpu'"):
        pick_device("tpu")


def test_only_the_model_package_builds_a_gpt_for_use():
    """`GPT(` outside golfcli/model/ only where a model is trained (train mode, from phase 0) or only counted."""
    allowed = {"model/gpt.py", "model/build.py", "model/params.py", "train/loop.py", "bench/step.py",
               "train/phases.py"}
    found = sorted(str(p.relative_to(ROOT)) for p in ROOT.rglob("*.py")
                   if re.search(r"\bGPT\(", p.read_text()) and str(p.relative_to(ROOT)) not in allowed)
    assert found == []
    devices = sorted(str(p.relative_to(ROOT)) for p in ROOT.rglob("*.py")
                     if re.search(r'torch\.device\("cuda" if', p.read_text()))
    assert devices == []
