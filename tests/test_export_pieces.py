"""`golf export`'s pieces, without a run: the environment knobs, record-1204's minified script and the
steps that make it (shrink, shorten, compact, the latin-1 literal), the significance test, log
parsing, and the core running without rich, zstandard and safetensors. (tests/test_export.py runs an
exported script.)"""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from golfcli.config import load_config
from golfcli.errors import GolfError
from golfcli.export.compact import compact
from golfcli.export.folder import plan_for
from golfcli.export.records import parse_log
from golfcli.export.rename import shorten
from golfcli.export.runtime import apply_env
from golfcli.export.script import build_script, latin1_literal, script_modules
from golfcli.export.shrink import shrink
from golfcli.export.stats import one_sided_p, t_sf

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"


# --- pieces, without a run ---------------------------------------------------------------------------------------

def test_environment_knobs_reach_the_config():
    plan = plan_for(load_config("tiny"))
    run = apply_env(plan, {"SEED": "42", "DATA_PATH": "d", "TOKENIZER_PATH": "t.model", "MAX_WALLCLOCK_SECONDS": "90",
                           "GOLF_SET": "quant.mlp_bits=6; eval.stride=16"})
    cfg = run.cfg
    assert (cfg.train.seed, cfg.data.data_dir, cfg.data.tokenizer, run.wallclock) == (42, "d", "t.model", 90.0)
    assert (cfg.quant.mlp_bits, cfg.eval.stride, run.run_id) == (6, 16, "tiny_seed42")
    assert str(run.log) == "logs/tiny_seed42.txt"
    with pytest.raises(GolfError, match="GOLF_SET takes section.key=value"):
        apply_env(plan, {"GOLF_SET": "stride=16"})
    with pytest.raises(GolfError, match="SEED must be an integer"):
        apply_env(plan, {"SEED": "x"})


@pytest.fixture(scope="module")
def record_1204_export() -> tuple[bytes, dict, dict]:
    """record-1204's exported script, its report and its modules (minifying takes tens of seconds)."""
    plan = plan_for(load_config("record-1204"))
    return (*build_script(plan), script_modules(plan))


def test_record_1204_export_fits_60k_and_strips_what_it_never_runs(record_1204_export):
    cfg = load_config("record-1204")
    script, report, modules = record_1204_export
    assert report["code_bytes"] == len(script) <= 60_000
    assert "golfcli.eval.hedge" not in modules and "golfcli.eval.ttt" not in modules
    assert "golfcli.cli" not in modules and "golfcli.pipeline" not in modules
    hedged = script_modules(plan_for(cfg, mode="hedge", ttt=True))
    assert {"golfcli.eval.hedge", "golfcli.eval.ttt"} <= set(hedged)


def test_shrink_drops_unnamed_definitions_and_unrun_modules():
    modules = {
        "golfcli.a": [False, "from golfcli.eval.hedge import H\ndef used():\n    return 1\n"
                             "def unused():\n    return used()\ndef rec(n):\n    return rec(n - 1)\n"],
        "golfcli.b": [False, "from golfcli.a import used\ndef main():\n    return used()\n"],
        "golfcli.eval.hedge": [False, "class H:\n    pass\n"],
    }
    out = shrink(modules, plan_for(load_config("tiny")), entry=("main",))
    assert set(out) == {"golfcli.a", "golfcli.b"}
    assert out["golfcli.a"][1] == "def used():\n    return 1\n"
    assert "def main" in out["golfcli.b"][1]


def test_latin1_literal_holds_every_byte():
    data = bytes(range(256)) * 3 + b"\\'\n\r\x00''''x''\n'"
    source = b"# -*- coding: latin-1 -*-\nB=" + latin1_literal(data) + b"\n"
    space: dict = {}
    exec(compile(source, "<latin-1>", "exec"), space)
    assert space["B"].encode("latin-1") == data


def test_t_distribution_matches_published_quantiles():
    assert abs(t_sf(6.964557, 2) - 0.01) < 1e-7  # t(0.99, 2)
    assert abs(t_sf(2.131847, 4) - 0.05) < 1e-7  # t(0.95, 4)
    assert abs(t_sf(2.228139, 10) - 0.025) < 1e-7  # t(0.975, 10)
    assert abs(t_sf(-2.228139, 10) - 0.975) < 1e-7 and t_sf(0.0, 3) == 0.5
    assert abs(t_sf(1.0, 1) - 0.25) < 1e-12  # Cauchy
    t, p = one_sided_p([0.010, 0.012, 0.011], 0.005)
    assert abs(t - 6 * math.sqrt(3)) < 1e-9 and abs(p - t_sf(t, 2)) < 1e-15


@pytest.mark.skipif(not (REFERENCE / "record1204_seed1337.log").exists(), reason=f"no reference logs in {REFERENCE}")
def test_parses_the_records_own_logs():
    r = parse_log(REFERENCE / "record1204_seed1337.log")
    assert (r.seed, r.val_bpb, r.val_loss, r.bytes_total, r.bytes_code) == (1337, 1.10658225, 1.86841284, 15942395, 93853)
    assert (r.steps, r.ms_per_step, r.train_seconds, r.world_size) == (6242, 96.14, 600.085, 8)
    r = parse_log(REFERENCE / "record1493_seed42.log")
    assert (r.seed, r.val_bpb, r.bytes_total, r.steps, r.train_seconds) == (42, 1.08079352, 15991930, 4550, 588.047)


def test_core_runs_without_rich_zstandard_and_safetensors(tmp_path):
    """The rich-free console, the zstd-free packer and golf's own safetensors writer/reader."""
    code = textwrap.dedent("""
        import sys
        for m in ("rich", "zstandard", "safetensors"):
            sys.modules[m] = None
        import torch
        from golfcli import console, io
        from golfcli.artifact import codecs
        from golfcli.artifact.format import ZSTD
        console.info("[bold]plain[/bold] line [dim]here[/dim]")
        assert ZSTD not in codecs.GENERAL_CODECS
        t = {"a": torch.arange(6, dtype=torch.int16).reshape(2, 3), "b": torch.tensor(1.5, dtype=torch.bfloat16)}
        io.save_tensors(sys.argv[1], t, "test", {"k": [1]})
        back, meta = io.load_tensors(sys.argv[1], "test")
        assert all(torch.equal(back[k], t[k]) and back[k].dtype == t[k].dtype for k in t) and meta["k"] == [1]
    """)
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "x.safetensors")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "plain line here\n"
    from safetensors.torch import load_file  # the package reads what golf's fallback wrote

    tensors = load_file(str(tmp_path / "x.safetensors"))
    assert tensors["a"].tolist() == [[0, 1, 2], [3, 4, 5]] and tensors["b"].item() == 1.5


def test_tensorfile_reads_what_safetensors_writes():
    from safetensors.torch import save

    from golfcli.tensorfile import load

    tensors = {"f": torch.randn(3, 4), "h": torch.randn(5).half(), "i8": torch.tensor([-3, 7], dtype=torch.int8),
               "b": torch.tensor([True, False]), "e": torch.zeros(0, 2), "l": torch.tensor(9, dtype=torch.int64)}
    back = load(save(tensors))
    assert set(back) == set(tensors)
    assert all(torch.equal(back[k], tensors[k]) and back[k].dtype == tensors[k].dtype for k in tensors)


SHORTEN_SAMPLE = """
import math
import os
_SCALE = 3
def _helper(values, *, key):
    total = 0
    for value in values:
        total += value * _SCALE
    return total + key
def api(config, count=2, *extra):
    doubled = [item * 2 for item in range(count)]
    def inner(step):
        return step + len(doubled)
    try:
        found = inner(config)
    except ValueError as exc:
        found = -1
    return (_helper(doubled, key=found), extra, math.floor(1.5), os.sep)
"""


def test_shorten_and_compact_keep_what_the_code_computes():
    out = shorten({"golfcli.m": [False, SHORTEN_SAMPLE], "golfcli.n": [False, "from golfcli.m import api\n"]})
    text = compact(out["golfcli.m"][1])
    assert len(text) < len(SHORTEN_SAMPLE) * 0.7 and "_helper" not in text and "doubled" not in text
    assert "key=" in text and "config" not in text and "import math,os\n" in text and "\n  " not in text
    before, after = {}, {}
    exec(SHORTEN_SAMPLE, before)
    exec(text, after)
    for args in ((5,), (7, 4, "x"), (0, 0)):
        assert after["api"](*args) == before["api"](*args)


def test_shorten_keeps_parameters_a_caller_names():
    caller = "from golfcli.m import api\ndef go():\n    return api(config=3, count=5)\n"
    out = shorten({"golfcli.m": [False, SHORTEN_SAMPLE], "golfcli.n": [False, caller]})
    text = compact(out["golfcli.m"][1])
    assert "def api(config,count=2," in text
    space: dict = {}
    exec(SHORTEN_SAMPLE, space)
    expected = space["api"](config=3, count=5)
    exec(text, space)
    assert space["api"](config=3, count=5) == expected


def test_compact_spacing_and_one_line_bodies():
    assert compact("x = 1 .real\n") == "x=1 .real\n"
    assert compact("a = b if c else r'x'\n") == "a=b if c else r'x'\n"
    assert compact("if x:\n    y = 1\nelse:\n    if z:\n        y = 2\n") == "if x:y=1\nelse:\n if z:y=2\n"
    assert compact("f(* a)\n") == "f(*a)\n"


def test_shrink_drops_unused_imports_and_the_modules_only_they_reached():
    modules = {
        "golfcli.r": [False, "from golfcli.s import used, unused\ndef main():\n    return used()\n"],
        "golfcli.s": [False, "from golfcli.t import T\nLIMIT = 3\ndef used():\n    return 1\n"
                             "def unused():\n    return T\n"],
        "golfcli.t": [False, "T = 1\n"],
        "golfcli.u": [False, "def main():\n    return 2\n"],
    }
    out = shrink(modules, plan_for(load_config("tiny")), entry=("golfcli.r:main",), roots=("golfcli.r",))
    assert set(out) == {"golfcli.r", "golfcli.s"}
    assert out["golfcli.r"][1].startswith("from golfcli.s import used\n")
    assert out["golfcli.s"][1] == "def used():\n    return 1\n"


def test_shrink_drops_command_line_help_of_config_fields(record_1204_export):
    from golfcli.config.base import field_help
    from golfcli.config.quant import QuantConfig

    text = field_help(QuantConfig, "attn_bits")
    assert text  # the command line has it
    quant = record_1204_export[2]["golfcli.config.quant"][1]
    assert text not in quant and "attn_bits" in quant  # the field stays, its help goes
