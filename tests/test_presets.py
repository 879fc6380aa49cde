"""The shipped model presets: each loads, describes itself, and builds the model it names."""

from __future__ import annotations

import pytest

from golfcli.config import config_from_dict, config_to_dict, list_presets, load_config, preset_description
from golfcli.model.params import param_report

MODEL_PRESETS = ["tiny", "baseline", "record-1204", "recur-3x4", "middle-cycle", "stabilized-loop", "loop-segment"]


def test_all_model_presets_ship():
    assert set(MODEL_PRESETS) <= set(list_presets())


@pytest.mark.parametrize("preset", MODEL_PRESETS)
def test_preset_loads_builds_and_round_trips(preset):
    cfg = load_config(preset)
    assert preset_description(preset)
    report = param_report(cfg.model)
    assert report["total"] > 0
    assert config_from_dict(config_to_dict(cfg)).model == cfg.model


def test_tiny_is_a_few_hundred_thousand_parameters():
    assert 100_000 <= param_report(load_config("tiny").model)["total"] <= 500_000


def test_presets_turn_on_what_they_say():
    rec = load_config("record-1204").model
    assert (rec.recur_layers, rec.recur_start_step, rec.bigram_dim, rec.parallel_start_layer) == ((4, 5), 3000, 160, 7)
    seg = load_config("loop-segment").model
    assert (seg.recurrence, seg.loop_start, seg.loop_end, seg.num_loops) == ("segment", 3, 5, 2)
    assert seg.recur_start_frac == 0.35
    assert seg.bigram_vocab_size == rec.bigram_vocab_size  # inherits the record's stack
    stab = load_config("stabilized-loop").model
    assert stab.output_ln and stab.birkhoff_mix and stab.timestep_scale and stab.timestep_bias and stab.depth_encoding
    mid = load_config("middle-cycle").model
    assert mid.loop_repeat_embed and mid.loop_adapter_dim > 0 and mid.qat_noise_core_only
    assert load_config("recur-3x4").model.progressive_depth == "0.30:2,0.50:3,1.0:4"
