"""The shipped model presets: each loads, describes itself, and builds the model it names."""

from __future__ import annotations

import re

import pytest

from golfcli.config import GolfConfig, config_from_dict, config_to_dict, list_presets, load_config, preset_description
from golfcli.model.params import param_report


def _tiny(cfg: GolfConfig) -> None:
    m = cfg.model
    assert (m.num_layers, m.model_dim, m.num_heads, m.num_kv_heads, m.unet_skips) == (4, 64, 4, 2, "add")
    assert 100_000 <= param_report(m)["total"] <= 500_000  # a CPU model
    assert cfg.train.warmdown_clock == "steps" and cfg.train.max_seconds == 0.0


def _baseline(cfg: GolfConfig) -> None:
    m = cfg.model
    assert (m.num_layers, m.model_dim, m.num_heads, m.num_kv_heads, m.mlp_activation) == (9, 512, 8, 4, "relu2")
    assert m.recurrence == "none" and not m.bigram_vocab_size and cfg.train.ema_decay == 0.0


def _record_1204(cfg: GolfConfig) -> None:
    m = cfg.model
    assert (m.recur_layers, m.recur_start_step, m.bigram_dim, m.parallel_start_layer) == ((4, 5), 3000, 160, 7)


def _loop_segment(cfg: GolfConfig) -> None:
    m = cfg.model
    assert (m.recurrence, m.loop_start, m.loop_end, m.num_loops) == ("segment", 3, 5, 2)
    assert m.recur_start_frac == 0.35
    assert m.bigram_vocab_size == load_config("record-1204").model.bigram_vocab_size  # inherits the record's stack


def _stabilized_loop(cfg: GolfConfig) -> None:
    m = cfg.model
    assert m.output_ln and m.birkhoff_mix and m.timestep_scale and m.timestep_bias and m.depth_encoding


def _middle_cycle(cfg: GolfConfig) -> None:
    m = cfg.model
    assert m.loop_repeat_embed and m.loop_adapter_dim > 0 and m.qat_noise_core_only


def _recur_3x4(cfg: GolfConfig) -> None:
    assert cfg.model.progressive_depth == "0.30:2,0.50:3,1.0:4"


def _record_1493(cfg: GolfConfig) -> None:
    m, t = cfg.model, cfg.train
    assert (m.vocab_size, m.num_layers, m.mlp_mult, m.qk_gain_init) == (8192, 11, 4.0, 5.25)
    assert (m.recurrence, m.loop_start, m.loop_end, m.num_loops, m.recur_start_frac) == ("segment", 3, 5, 2, 0.35)
    assert (m.parallel_start_layer, m.parallel_form, m.xsa_last_n, m.xsa_index) == (7, "gptj", 11, "physical")
    assert t.muon_row_normalize and (t.muon_wd, t.matrix_lr, t.ema_decay) == (0.095, 0.022, 0.9965)
    assert cfg.quant.clip == "sdclip:12.85" and cfg.eval.ttt_epochs == 3


def _record_1493_sp1024(cfg: GolfConfig) -> None:
    record = load_config("record-1493")
    assert cfg.model.vocab_size == 1024
    assert config_to_dict(cfg)["train"] == config_to_dict(record)["train"]  # only the vocabulary differs


def _pr363(cfg: GolfConfig) -> None:
    m = cfg.model
    assert (m.num_layers, m.recurrence, m.loop_repeats, m.lora_rank) == (3, "shared", 3, 4)
    assert (m.bigram_vocab_size, m.bigram_dim, m.bigram_hash) == (2048, 128, "prime")


# What each shipped preset must turn on. A preset added to golfcli/presets without an entry here
# fails test_every_shipped_preset_is_covered: say what the new preset is for.
CLAIMS = {
    "tiny": _tiny, "baseline": _baseline, "record-1204": _record_1204, "loop-segment": _loop_segment,
    "stabilized-loop": _stabilized_loop, "middle-cycle": _middle_cycle, "recur-3x4": _recur_3x4,
    "record-1493": _record_1493, "record-1493-sp1024": _record_1493_sp1024, "pr363": _pr363,
}


def test_every_shipped_preset_is_covered():
    shipped = set(list_presets())
    missing, stale = sorted(shipped - set(CLAIMS)), sorted(set(CLAIMS) - shipped)
    assert not missing, f"shipped presets with no claim in tests/test_presets.py CLAIMS: {missing}"
    assert not stale, f"CLAIMS names presets that are not shipped: {stale}"


@pytest.mark.parametrize("preset", list_presets())
def test_preset_loads_builds_and_round_trips(preset):
    cfg = load_config(preset)
    assert preset_description(preset)
    report = param_report(cfg.model)
    assert report["total"] > 0
    assert config_from_dict(config_to_dict(cfg)).model == cfg.model


@pytest.mark.parametrize("preset", list_presets())
def test_preset_turns_on_what_it_says(preset):
    if preset not in CLAIMS:
        pytest.fail(f"preset {preset!r} has no claim in tests/test_presets.py CLAIMS")
    CLAIMS[preset](load_config(preset))


def _stated_params(preset: str) -> int | None:
    found = re.search(r"\(([\d,]+) params\)", preset_description(preset))
    return int(found.group(1).replace(",", "")) if found else None


@pytest.mark.parametrize("preset", [p for p in list_presets() if _stated_params(p)])
def test_a_parameter_count_in_the_description_is_exact(preset):
    assert param_report(load_config(preset).model)["total"] == _stated_params(preset)
