"""One precedence rule for every stage's settings, and `golf run` never keeping stale ones.

The run is trained once with quantize/calibrate settings that are then removed: the second
`golf run` on the same dir skips training, and the checkpoint still stores the old [quant] and
[calib] sections, so only the run's config.toml can bring the new values to the stages.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from golfcli.config import load_config
from golfcli.config.resolve import DEFAULT, FLAG, SET, STORED, resolve_settings
from golfcli.qtensor import load_quantized
from golfcli.quant.hessians import load_hessians

FAST = [
    "--set", "train.iterations=4", "--set", "train.val_every=0", "--set", "train.checkpoint_every=0",
    "--set", "calib.seqs=2", "--set", "calib.seq_len=32", "--set", "calib.batch=2",
    "--set", "eval.hedge_table_size=1024",
]
STALE = ["--set", 'quant.rules=["mlp=4"]', "--set", "quant.act_order=false",
         "--set", "quant.target_bytes=10000000", "--set", "calib.kv_cache=false"]


def golf_run(out: Path, data: Path, tokenizer: Path, *extra: str) -> dict:
    cmd = [sys.executable, "-m", "golfcli", "run", "--preset", "tiny", "--out", str(out), "--data", str(data),
           "--tokenizer", str(tokenizer), *FAST, *extra, "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def rerun(tmp_path_factory, small_corpus):
    """A run trained with the STALE settings, then rerun in the same dir without them."""
    data, tok = small_corpus.data_dir, small_corpus.tokenizer
    out = tmp_path_factory.mktemp("run")
    first = golf_run(out, data, tok, *STALE)
    first_quant = load_quantized(str(out / "quantized.safetensors"))
    second = golf_run(out, data, tok)
    return out, first, first_quant, second


def _mlp_bits(qm) -> set[int]:
    return {t.bits for name, t in qm.quantized.items() if ".mlp." in name}


def test_the_first_run_used_the_stale_settings(rerun):
    _, _, first_quant, _ = rerun
    assert _mlp_bits(first_quant) == {4}
    assert first_quant.meta["quant"]["act_order"] is False and first_quant.meta["quant"]["target_bytes"] == 10_000_000


def test_golf_run_rerun_uses_the_current_quant_and_calib_settings(rerun):
    out, _, _, second = rerun
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
    assert calib["calib"]["seq_len"] == 32


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
