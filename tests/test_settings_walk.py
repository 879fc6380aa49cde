"""Every field of [calib], [quant] and [eval]: settable with `--set` (and its flag) on each stage that
reads it, recorded as used in the stage's output, and named with its source in the stage's `--help`."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from golfcli.cli import main
from golfcli.config import CalibConfig, EvalConfig, QuantConfig, load_config
from golfcli.config.base import cli_fields

# One non-default value per field, valid together. A new field must be added here.
VALUES = {
    "calib": {"source": "random", "seqs": 3, "seq_len": 12, "temperature": 0.5, "batch": 2, "seed": 7,
              "kv_cache": False, "data_dir": "elsewhere", "device": "cpu"},
    "quant": {"method": "rtn", "attn_bits": 3, "mlp_bits": 4, "embed_bits": 7, "other_bits": 5,
              "rules": ["blocks[.]0[.]attn=6"], "clip": "sdclip:3",
              "clip_rules": ["tok_emb=sdclip:5"], "hessian_top_n": 100, "hessian_top_bits": 3,
              "hessian_rest_bits": 4, "damp": 0.02, "block": 64, "act_order": False,
              "passthrough_max": 2048, "fp32_rules": ["skip_weight"], "target_bytes": 10_000_000,
              "code_bytes": 1000, "plan_bits": [5, 6]},
    "eval": {"seq_len": 64, "window": 96, "stride": 16, "batch_seqs": 4, "grid_tail": True, "truncate": False, "compile": False,
             "autocast": "off", "hedge_experts": ["neural", "bigram"], "hedge_temperatures": [2.0],
             "hedge_init_weights": [0.5, 0.3, 0.2], "hedge_rule": "hedge", "hedge_eta": 0.3, "hedge_alpha": 0.05,
             "hedge_trigram_alpha": 0.01, "hedge_table_size": 2048, "hedge_update_tokens": 512,
             "ttt_chunk_tokens": 4096, "ttt_epochs": 2, "ttt_lr": 0.001, "ttt_momentum": 0.8,
             "ttt_grad_clip": 0.5, "ttt_seq_len": 64, "ttt_batch_seqs": 4, "ttt_whole_seqs": True,
             "ttt_embed_dtype": "bf16"},
}
CLASSES = {"calib": CalibConfig, "quant": QuantConfig, "eval": EvalConfig}
HELP_SOURCE = {"gptq-calibrate": "the checkpoint's", "quantize": "the checkpoint's", "eval": "the model file's",
               "eval-sliding": "the model file's", "eval-hedge": "the model file's"}
READS = {"gptq-calibrate": "calib", "quantize": "quant", "eval": "eval", "eval-sliding": "eval",
         "eval-hedge": "eval"}


def _toml(value) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else json.dumps(value)


def _sets(section: str) -> list[str]:
    return [a for k, v in VALUES[section].items() for a in ("--set", f"{section}.{k}={_toml(v)}")]


def _flags(section: str) -> list[str]:
    argv = []
    for f in cli_fields(CLASSES[section], section):
        value = VALUES[section][f.name]
        if isinstance(value, bool):
            argv.append(f.flag if value else f"--no-{f.flag[2:]}")
        elif isinstance(value, list) and f.sep is None:
            argv += [a for v in value for a in (f.flag, str(v))]
        else:
            argv += [f.flag, f.sep.join(str(v) for v in value) if isinstance(value, list) else str(value)]
    return argv


def _golf(*args) -> dict:
    result = CliRunner().invoke(main, [str(a) for a in (*args, "--json")])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def files(tmp_path_factory, builtin_data):
    from golfcli.checkpoint import save_checkpoint
    from golfcli.model import GPT

    root = tmp_path_factory.mktemp("walk")
    cfg = load_config("tiny")
    model = GPT(cfg.model)
    model.set_phase(model.final_phase)
    save_checkpoint(root / "ckpt.safetensors", model.state_dict(), cfg)
    return {"root": root, "ckpt": root / "ckpt.safetensors", "data": str(builtin_data.data_dir),
            "tok": str(builtin_data.tokenizer)}


def test_values_cover_every_field():
    for section, cls in CLASSES.items():
        assert set(VALUES[section]) == {f.name for f in dataclasses.fields(cls)}, section
        defaults = dataclasses.asdict(cls())
        assert all(VALUES[section][k] != defaults[k] for k in defaults), section


@pytest.mark.parametrize("how", ["set", "flags"])
def test_calibrate_records_every_calib_value_it_was_given(files, how):
    out = files["root"] / f"h-{how}.safetensors"
    _golf("gptq-calibrate", files["ckpt"], "--out", out, *(_sets("calib") if how == "set" else _flags("calib")))
    from golfcli.quant.hessians import load_hessians

    used = load_hessians(out)[2]["calib"]
    expected = VALUES["calib"] if how == "set" else {**dataclasses.asdict(load_config("tiny").calib),
                                                     **{f.name: VALUES["calib"][f.name] for f in
                                                        cli_fields(CalibConfig, "calib")}}
    assert used == expected


@pytest.mark.parametrize("how", ["set", "flags"])
def test_quantize_records_every_quant_value_it_was_given(files, how):
    out = files["root"] / f"q-{how}.safetensors"
    report = _golf("quantize", files["ckpt"], "--out", out, *(_sets("quant") if how == "set" else _flags("quant")))
    from golfcli.qtensor import load_quantized

    qm = load_quantized(str(out))
    assert qm.meta["quant"] == VALUES["quant"]  # every quant field has a flag
    assert qm.config["quant"] == VALUES["quant"]
    source = "--set" if how == "set" else "flag"
    assert set(report["quant_sources"].values()) == {source}
    bits = {t["name"]: t["bits"] for t in report["tensors"]}
    assert bits["blocks.0.attn.q.weight"] == 6 and bits["blocks.1.attn.q.weight"] == 3


def test_the_unset_stages_use_the_checkpoints_stored_values(files):
    tiny = load_config("tiny")
    out = files["root"] / "q-plain.safetensors"
    report = _golf("quantize", files["ckpt"], "--out", out, "--method", "rtn")
    from golfcli.qtensor import load_quantized

    used = load_quantized(str(out)).meta["quant"]
    assert used == {**dataclasses.asdict(tiny.quant), "method": "rtn"}
    assert report["quant_sources"]["quant.mlp_bits"] == "the input file"


@pytest.mark.parametrize("verb", ["eval", "eval-sliding", "eval-hedge"])
def test_each_eval_verb_records_every_eval_value_it_was_given(files, verb):
    r = _golf(verb, files["ckpt"], "--data", files["data"], "--tokenizer", files["tok"], "--device", "cpu",
              "--max-tokens", 400, *_sets("eval"))
    assert r["eval"] == VALUES["eval"]
    assert set(r["eval_sources"].values()) == {"--set"}
    flagged = _golf(verb, files["ckpt"], "--data", files["data"], "--tokenizer", files["tok"], "--device", "cpu",
                    "--max-tokens", 400, *_flags("eval"))
    tiny = dataclasses.asdict(load_config("tiny").eval)
    assert flagged["eval"] == {**tiny, **{f.name: VALUES["eval"][f.name] for f in cli_fields(EvalConfig, "eval")}}


@pytest.mark.parametrize("verb", list(READS))
def test_help_names_the_source_of_every_flag_default(verb):
    section = READS[verb]
    command = main.commands[verb]
    for f in cli_fields(CLASSES[section], section):
        param = next(p for p in command.params if p.name == f.dest)
        assert param.default is None  # never a hand-typed default that could differ from the file's
        assert param.help.endswith(f"[default: {HELP_SOURCE[verb]} {f.key}]"), param.help
        assert param.help.startswith(f.help)


def test_the_bundle_entry_takes_the_same_eval_shorthands():
    from golfcli.scoring import _parser

    args = _parser().parse_args(["a.bin", *_flags("eval")])
    for f in cli_fields(EvalConfig, "eval"):
        assert getattr(args, f.dest) == VALUES["eval"][f.name]
    assert all(getattr(_parser().parse_args(["a.bin"]), f.dest) is None for f in cli_fields(EvalConfig, "eval"))


def test_quantize_help_matches_what_a_tiny_checkpoint_uses(files):
    """The help names quant.mlp_bits as the source; on a tiny checkpoint that is tiny's 5, and 5 is used."""
    out = files["root"] / "q-help.safetensors"
    report = _golf("quantize", files["ckpt"], "--out", out, "--method", "rtn")
    mlp = {t["bits"] for t in report["tensors"] if ".mlp." in t["name"]}
    assert mlp == {load_config("tiny").quant.mlp_bits} == {5}
    assert Path(out).exists()
