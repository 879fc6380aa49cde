"""`golf config`: the resolved config of a preset, run dir, TOML file or model file, with each value's source."""

from __future__ import annotations

import json

from click.testing import CliRunner

from golfcli.cli import main
from golfcli.config import config_to_dict, config_to_toml, load_config


def _config(*args: str) -> dict:
    result = CliRunner().invoke(main, ["config", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_a_preset_resolves_like_load_config_and_names_each_source():
    r = _config("tiny", "--set", "eval.stride=16")
    assert r["config"] == config_to_dict(load_config("tiny", overrides=["eval.stride=16"]))
    assert r["preset"] == "tiny"
    assert r["sources"]["model.num_layers"] == "preset tiny" and r["config"]["model"]["num_layers"] == 4
    assert r["sources"]["eval.stride"] == "--set" and r["sources"]["quant.damp"] == "default"
    assert set(r["sources"]) == {f"{s}.{k}" for s, t in r["config"].items() for k in t}


def test_a_run_dir_and_a_toml_file_are_read_through_config_toml(tmp_path):
    cfg = load_config("tiny", overrides=["quant.mlp_bits=4"])
    (tmp_path / "config.toml").write_text(config_to_toml(cfg))
    for target in (tmp_path, tmp_path / "config.toml"):
        r = _config(str(target))
        assert r["config"]["quant"]["mlp_bits"] == 4
        assert r["sources"]["quant.mlp_bits"] == f"file {tmp_path / 'config.toml'}"


def test_a_checkpoint_reports_its_stored_config_as_the_input_file(tmp_path):
    from golfcli.checkpoint import save_checkpoint
    from golfcli.model import GPT

    cfg = load_config("tiny", overrides=['quant.rules=["mlp=4"]'])
    model = GPT(cfg.model)
    save_checkpoint(tmp_path / "c.safetensors", model.state_dict(), cfg)
    r = _config(str(tmp_path / "c.safetensors"), "--set", "quant.rules=[]")
    assert r["config"]["quant"]["rules"] == [] and r["sources"]["quant.rules"] == "--set"
    assert r["sources"]["quant.mlp_bits"] == "the input file" and r["config"]["quant"]["mlp_bits"] == 5
    assert r["preset"] == "tiny"


def test_bad_targets_are_one_line_errors(tmp_path):
    (tmp_path / "x.bin").write_bytes(b"not golf")
    for target, message in (("nope", "neither a preset"), (str(tmp_path), "without a config.toml"),
                            (str(tmp_path / "x.bin"), "x.bin")):
        result = CliRunner().invoke(main, ["config", target])
        assert result.exit_code == 2 and message in result.output, result.output
        assert result.output.startswith("golf: error:") and result.output.count("\n") == 1
