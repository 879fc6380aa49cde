"""One validation pattern: `Section.validate()` on every config section, run by the resolver; an error
names the TOML key, or the stage flag when the value came from that flag."""

from __future__ import annotations

import dataclasses

import pytest
from click.testing import CliRunner

from golfcli.cli import main
from golfcli.config import SECTIONS, GolfConfig, config_to_dict
from golfcli.config.base import SettingError
from golfcli.config.resolve import resolve_settings
from golfcli.errors import GolfError

# (--set text, the one line the error must be): one bad value per section
BAD = [
    ('data.tokenizer=""', "data.tokenizer must not be empty"),
    ("model.model_dim=100", "model.model_dim must be a multiple of model.num_heads (8), got 100"),
    ('train.loader="random"', "train.loader must be one of sequential, coprime, shuffled, got 'random'"),
    ("train.grad_accum=0", "train.grad_accum must be at least 1, got 0"),
    ('train.compile="yes"', 'train.compile must be true, false or "auto", got \'yes\''),
    ("calib.seq_len=1", "calib.seq_len must be at least 2, got 1"),
    ("calib.temperature=-0.5", "calib.temperature must be ≥ 0, got -0.5"),
    ("quant.damp=-1", "quant.damp must be ≥ 0, got -1.0"),
    ("quant.block=0", "quant.block must be ≥ 1, got 0"),
    ('pack.codec="gzip"', "pack.codec must be one of auto, rans, rans-classes, brotli, zstd, lzma, raw, got 'gzip'"),
    ("eval.stride=4096", "eval.stride cannot exceed eval.window (2048), got 4096"),
]


def test_every_section_validates_and_its_defaults_pass():
    cfg = GolfConfig()
    for name in SECTIONS:
        section = getattr(cfg, name)
        assert section.validate() is section, name


@pytest.mark.parametrize("text, line", BAD)
def test_a_set_value_is_named_by_its_key(text, line):
    with pytest.raises(SettingError) as exc:
        resolve_settings(None, overrides=[text])
    assert str(exc.value) == line
    assert exc.value.key == text.split("=")[0]


def test_a_toml_value_is_named_by_its_key(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[quant]\ndamp = -1\n")
    with pytest.raises(GolfError, match=r"^quant\.damp must be ≥ 0, got -1\.0$"):
        resolve_settings(None, config_file=path, reads=("quant",))


def test_a_stored_value_is_named_by_its_key():
    stored = dataclasses.replace(GolfConfig(), calib=dataclasses.replace(GolfConfig().calib, seqs=0))
    with pytest.raises(GolfError, match=r"^calib\.seqs must be at least 1, got 0$"):
        resolve_settings(stored, reads=("calib",))


@pytest.mark.parametrize("section, key, value, line", [
    ("quant", "damp", -1.0, "--damp (quant.damp) must be ≥ 0, got -1.0"),
    ("quant", "method", "awq", "--method (quant.method) must be one of gptq, rtn, got 'awq'"),
    ("quant", "target_bytes", -5, "--target-bytes (quant.target_bytes) must be ≥ 0, got -5"),
    ("calib", "source", "val", "--source (calib.source) must be one of selfgen, random, shards, got 'val'"),
    ("eval", "stride", 4096, "--stride (eval.stride) cannot exceed eval.window (2048), got 4096"),
    ("pack", "sample_bytes", -1, "--sample-bytes (pack.sample_bytes) must be ≥ 0, got -1"),  # golf pack's own flag
])
def test_a_flag_value_is_named_by_its_flag(section, key, value, line):
    with pytest.raises(GolfError) as exc:
        resolve_settings(None, flags={section: {key: value}}, reads=(section,))
    assert str(exc.value) == line


def test_the_same_value_from_set_over_a_flagless_layer_keeps_the_key():
    """The source decides the wording: the flag layer wins only when the flag was given."""
    with pytest.raises(GolfError, match=r"^quant\.damp must"):
        resolve_settings(None, overrides=["quant.damp=-1"], flags={"quant": {"damp": None}}, reads=("quant",))


def test_a_stage_validates_only_the_sections_it_reads():
    stored = dataclasses.replace(GolfConfig(), train=dataclasses.replace(GolfConfig().train, loader="x"))
    assert resolve_settings(stored, reads=("quant",)).config.train.loader == "x"
    with pytest.raises(GolfError, match="train.loader"):
        resolve_settings(stored)


def test_target_bytes_needs_a_plan_width():
    with pytest.raises(GolfError, match=r"^quant\.target_bytes needs at least one width in quant\.plan_bits$"):
        resolve_settings(None, overrides=["quant.target_bytes=1000", "quant.plan_bits=[]"])


def test_cli_error_names_the_key_in_one_line():
    r = CliRunner().invoke(main, ["params", "--preset", "tiny", "--set", "train.iterations=0"])
    assert r.exit_code == 2 and r.output == "golf: error: train.iterations must be at least 1, got 0\n"


def test_a_training_config_built_in_code_is_validated_by_the_run(tmp_path):
    from golfcli.train.loop import train

    cfg = GolfConfig()
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, qat_mode="late"))
    assert config_to_dict(cfg)["train"]["qat_mode"] == "late"
    with pytest.raises(GolfError, match=r"^train\.qat_mode must be one of off, ste, noise, got 'late'$"):
        train(cfg, tmp_path / "run")


# (the [quant] TOML line, the same value as golf quantize's flag, the error's key and problem)
QUANT_PARSED = [
    ('rules = ["mlp=99"]', ["--rule", "mlp=99"], "quant.rules", "entry 'mlp=99': must be between int2 and int8, got '99'"),
    ('rules = ["mlp"]', ["--rule", "mlp"], "quant.rules",
     r"entries must look like REGEX=BITS (e.g. 'blocks\.[45]\.=int6'), got 'mlp'"),
    ('rules = ["blocks(=6"]', ["--rule", "blocks(=6"], "quant.rules",
     "entry 'blocks(=6': bad regular expression (missing ), unterminated subpattern at position 6)"),
    ("mlp_bits = 9", ["--mlp", "9"], "quant.mlp_bits", "must be between int2 and int8, got 9"),
    ('clip = "mse"', ["--clip", "mse"], "quant.clip", "must be search, sdclip:K or percentile:P, got 'mse'"),
    ('clip_rules = ["tok_emb=sdclip:-1"]', ["--clip-rule", "tok_emb=sdclip:-1"], "quant.clip_rules",
     "entry 'tok_emb=sdclip:-1': 'sdclip:-1' is out of range (K > 0)"),
    ("plan_bits = [4, 1]", ["--plan-bits", "4,1"], "quant.plan_bits", "must be between int2 and int8, got 1"),
]


@pytest.mark.parametrize("toml, flag, key, problem", QUANT_PARSED)
def test_quantize_names_the_toml_key_or_the_flag_for_widths_rules_and_clips(tmp_path, toml, flag, key, problem):
    """Checked before the checkpoint is read: the error names where the value came from."""
    config = tmp_path / "c.toml"
    config.write_text(f"[quant]\n{toml}\n")
    base = ["quantize", str(tmp_path / "missing.safetensors"), "--out", str(tmp_path / "q.safetensors")]
    from_toml = CliRunner().invoke(main, [*base, "--config", str(config)])
    from_flag = CliRunner().invoke(main, [*base, *flag])
    assert from_toml.exit_code == 2 and from_toml.output.strip() == f"golf: error: {key} {problem}"
    assert from_flag.exit_code == 2 and from_flag.output.strip() == f"golf: error: {flag[0]} ({key}) {problem}"
    assert not (tmp_path / "q.safetensors").exists()
