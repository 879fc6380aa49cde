"""Config resolution: presets, files, --set overrides, type checks and helpful errors."""

from __future__ import annotations

import pytest

from golfcli.config import config_from_dict, config_to_dict, config_to_toml, list_presets, load_config
from golfcli.config.toml import load_toml
from golfcli.errors import GolfError


def test_overrides_are_typed_and_win_over_preset():
    cfg = load_config("tiny", overrides=["model.num_layers=3", "train.seed=7", "eval.stride=32"])
    assert cfg.model.num_layers == 3 and cfg.train.seed == 7 and cfg.eval.stride == 32


def test_int_is_accepted_for_float_field_but_string_is_not():
    assert load_config("tiny", overrides=["model.mlp_mult=3"]).model.mlp_mult == 3.0
    with pytest.raises(GolfError, match="must be a number"):
        load_config("tiny", overrides=["model.mlp_mult=three"])


def test_unknown_key_names_closest_valid_keys():
    with pytest.raises(GolfError) as err:
        load_config("tiny", overrides=["model.num_layer=3"])
    assert "num_layers" in str(err.value)


def test_unknown_section_and_preset_are_errors():
    with pytest.raises(GolfError, match="section"):
        load_config(overrides=["modle.num_layers=3"])
    with pytest.raises(GolfError, match="tiny"):
        load_config("tinny")


def test_config_file_layers_between_preset_and_set(tmp_path):
    path = tmp_path / "my.toml"
    path.write_text('inherit = "tiny"\n[train]\nseed = 5\n[model]\nnum_layers = 4\n')
    cfg = load_config(config_file=path, overrides=["model.num_layers=6"])
    assert cfg.train.seed == 5 and cfg.model.num_layers == 6
    assert cfg.model.model_dim == load_config("tiny").model.model_dim


def test_bad_toml_names_the_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[model\n")
    with pytest.raises(GolfError, match="bad.toml"):
        load_config(config_file=path)


def test_resolved_toml_round_trips_for_every_preset(tmp_path):
    for name in list_presets():
        cfg = load_config(name)
        path = tmp_path / f"{name}.toml"
        path.write_text(config_to_toml(cfg))
        again = config_from_dict(load_toml(path))
        assert config_to_dict(again) == config_to_dict(cfg), name
