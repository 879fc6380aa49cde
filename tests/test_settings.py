"""One precedence rule for every stage's settings, and `golf run` never keeping stale ones.

The scene: a run trained with quantize/calibrate settings that are then removed. The second
`golf run` on the same dir skips training, and the training checkpoint still stores the old
[quant] and [calib] sections, so only the run's config.toml can bring the new values to the
stages. The session's tiny run (tests/conftest.py) is copied and its training checkpoint given
the STALE sections in its stored config, as training with them would have left it (the train
stage's key covers [data]/[model]/[train] only, so training is skipped either way).
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from golfcli.checkpoint import load_checkpoint, save_checkpoint
from golfcli.config import load_config, replace_section
from golfcli.config.resolve import DEFAULT, FLAG, SET, STORED, resolve_settings
from golfcli.qtensor import load_quantized
from golfcli.quant.hessians import load_hessians
from golfcli.quant.quantize import quantize

STALE = {"quant": {"rules": ["mlp=4"], "act_order": False, "target_bytes": 10_000_000}, "calib": {"kv_cache": False}}


def _with_stale_settings(path) -> None:
    """Rewrite a checkpoint's stored config with the STALE sections (tensors and provenance unchanged)."""
    state, cfg, meta = load_checkpoint(path)
    for section, values in STALE.items():
        cfg = replace_section(cfg, section, **values)
    meta = {k: v for k, v in meta.items() if k not in ("format", "format_version")}  # save_checkpoint writes them
    save_checkpoint(path, state, cfg, **meta)


@pytest.fixture(scope="module")
def rerun(tmp_path_factory, tiny_run, small_corpus):
    """The copied run, its checkpoint storing STALE, rerun by `golf run` with the run's own settings."""
    home = tmp_path_factory.mktemp("stale")
    out = home / tiny_run.out.name  # the same relative run dir: the same stage commands, so the same keys
    shutil.copytree(tiny_run.out, out)
    _with_stale_settings(out / "train" / "final.safetensors")
    proc = subprocess.run(tiny_run.argv(small_corpus, out.name), capture_output=True, text=True, cwd=home)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out, json.loads(proc.stdout)


def _mlp_bits(qm) -> set[int]:
    return {t.bits for name, t in qm.quantized.items() if ".mlp." in name}


def test_the_stale_settings_are_what_the_checkpoint_stores(rerun, tmp_path):
    out, _ = rerun
    # quantized with no settings of its own, the averaged checkpoint gets what it stores: int4 MLPs
    quantize(out / "ema.safetensors", tmp_path / "q.safetensors", out / "hessians.safetensors", passthrough_max=1024)
    qm = load_quantized(str(tmp_path / "q.safetensors"))
    assert _mlp_bits(qm) == {4}
    assert qm.meta["quant"]["act_order"] is False and qm.meta["quant"]["target_bytes"] == 10_000_000


def test_golf_run_rerun_uses_the_current_quant_and_calib_settings(rerun):
    out, second = rerun
    assert "train" in second["skipped"] and "gptq-calibrate" not in second["skipped"]
    from golfcli.io import read_metadata

    # the averaged checkpoint still stores the stale [quant]: only config.toml brings the new one
    assert read_metadata(out / "ema.safetensors")["config"]["quant"]["rules"] == ["mlp=4"]
    qm = load_quantized(str(out / "quantized.safetensors"))
    assert _mlp_bits(qm) == {5}  # tiny's quant.mlp_bits
    used = qm.meta["quant"]
    assert used["rules"] == [] and used["act_order"] is True and used["target_bytes"] == 0
    assert not any(row["planned"] for row in qm.meta["report"]["tensors"])
    quantize = json.loads((out / "stages.json").read_text())["quantize"]["result"]
    assert quantize["quant_sources"]["quant.rules"].startswith("file ") and "quant_sources" not in qm.meta
    _, _, calib = load_hessians(out / "hessians.safetensors")
    assert calib["calib"]["kv_cache"] is True and calib["kv_cache"] is True
    assert calib["calib"]["seq_len"] == 64  # the run's calib.seq_len, not the default


def test_precedence_flags_over_set_over_config_over_stored_over_defaults(tmp_path):
    stored = load_config("tiny", overrides=["quant.damp=0.5", "quant.block=64", "quant.clip=sdclip:3"])
    conf = tmp_path / "c.toml"
    conf.write_text("[quant]\nblock = 32\nclip = \"percentile:0.99\"\n")
    r = resolve_settings(stored, None, conf, ["quant.clip=sdclip:2", "quant.mlp_bits=3"],
                         {"quant": {"mlp_bits": 2, "attn_bits": None}})
    q = r.config.quant
    assert (q.mlp_bits, q.clip, q.block, q.damp, q.attn_bits) == (2, "sdclip:2", 32, 0.5, 7)
    assert r.sources["quant.mlp_bits"] == FLAG and r.sources["quant.clip"] == SET
    assert r.sources["quant.block"] == f"file {conf}" and r.sources["quant.damp"] == STORED
    assert r.config.preset == "tiny"
    bare = resolve_settings(None, "tiny")
    assert bare.sources["quant.damp"] == DEFAULT and bare.sources["quant.mlp_bits"] == "preset tiny"


def test_load_config_is_the_same_rule_without_an_input_file(tmp_path):
    conf = tmp_path / "c.toml"
    conf.write_text("inherit = \"tiny\"\n[eval]\nstride = 16\n")
    a = load_config(config_file=conf, overrides=["eval.window=64"])
    b = resolve_settings(None, None, conf, ["eval.window=64"]).config
    assert a == b and (a.eval.stride, a.eval.window, a.model.num_layers) == (16, 64, 4)
