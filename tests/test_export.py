"""`golf export`: a records folder whose single train_gpt.py reruns the chain, --update and --check.

One tiny export (12 steps, an 8k-token validation subset of the built-in corpus) is shared by the
module: it runs once with plain python where golfcli, click, rich and zstandard cannot be imported,
once under torchrun with two gloo ranks, once with another SEED and once more with the same seed,
and its score is compared with `golf run` on the same config, seed and data.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from golfcli.cli import main
from golfcli.config import load_config
from golfcli.errors import GolfError
from golfcli.export.folder import plan_for
from golfcli.export.records import parse_log
from golfcli.export.runtime import apply_env
from golfcli.export.script import build_script, latin1_literal, script_modules
from golfcli.export.compact import compact
from golfcli.export.rename import shorten
from golfcli.export.shrink import shrink
from golfcli.export.stats import one_sided_p, t_sf

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
FAST = ("train.iterations=12", "train.loader=coprime", "train.val_every=0", "train.checkpoint_every=0", "calib.seqs=2", "calib.seq_len=64",
        "calib.batch=2")
# Imported first by every exported-script subprocess: golfcli, click, rich and zstandard cannot be imported.
BLOCKER = textwrap.dedent("""
    import sys
    class _Blocked:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("golfcli", "click", "rich", "zstandard"):
                raise ImportError("blocked for this test: " + name)
    sys.meta_path.insert(0, _Blocked())
""")
EXACT = re.compile(r"^final_int\d+_(\w+?)_exact val_loss:([\d.]+) val_bpb:([\d.]+)$", re.MULTILINE)


@pytest.fixture(scope="module")
def small_data(small_corpus) -> tuple[Path, Path]:
    """The built-in corpus with its validation split cut short (tests/conftest.py: quick evaluations)."""
    return small_corpus.data_dir, small_corpus.tokenizer


@pytest.fixture(scope="module")
def golf_run(tiny_run) -> dict:
    """`golf run` on the export's config (the session's tiny run: FAST plus checkpoints and --hedge, which
    change no score), for the scores the export must reproduce."""
    assert set(FAST) - set(tiny_run.settings) == {"train.checkpoint_every=0"}
    return tiny_run.summary


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """`golf export --preset tiny` copied to a directory of its own (no golf checkout around it)."""
    out = tmp_path_factory.mktemp("export") / "records"
    sets = [arg for item in FAST for arg in ("--set", item)]
    result = CliRunner().invoke(main, ["export", "--preset", "tiny", *sets, "--out", str(out), "--name", "tiny test",
                                       "--json"])
    assert result.exit_code == 0, result.output
    moved = tmp_path_factory.mktemp("elsewhere") / "records"
    shutil.copytree(out, moved)
    return moved


@pytest.fixture(scope="module")
def blocker(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("blocker")
    (path / "sitecustomize.py").write_text(BLOCKER)
    return path


def run_script(folder: Path, blocker: Path, data: tuple[Path, Path], *launcher: str, **env: str) -> str:
    """Run train_gpt.py from its folder with golfcli & co unimportable; return its stdout."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "RUN_ID", "SEED", "GOLF_SET")}
    full_env.update(PYTHONPATH=str(blocker), DATA_PATH=str(data[0]), TOKENIZER_PATH=str(data[1]), **env)
    cmd = [*(launcher or (sys.executable,)), "train_gpt.py"]
    proc = subprocess.run(cmd, cwd=folder, capture_output=True, text=True, env=full_env)
    assert proc.returncode == 0, proc.stdout[-1500:] + proc.stderr[-3000:]
    return proc.stdout


@pytest.fixture(scope="module")
def runs(folder, blocker, small_data) -> dict[str, str]:
    """stdout of: plain python (seed 1337), torchrun ×2, SEED=7, and seed 1337 again."""
    torchrun = (sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2")
    return {
        "python": run_script(folder, blocker, small_data),
        "torchrun": run_script(folder, blocker, small_data, *torchrun, RUN_ID="torchrun2"),
        "seed7": run_script(folder, blocker, small_data, SEED="7"),
        "again": run_script(folder, blocker, small_data, RUN_ID="again"),
    }


def exact(stdout: str) -> dict[str, tuple[float, float]]:
    """{evaluation: (val_loss, val_bpb)} from the `final_..._exact` lines."""
    return {m.group(1): (float(m.group(2)), float(m.group(3))) for m in EXACT.finditer(stdout)}


# --- the exported script -----------------------------------------------------------------------------------------

def test_export_writes_the_folder_with_exact_requirements(folder):
    assert {p.name for p in folder.iterdir()} == {"train_gpt.py", "requirements.txt", "config.toml",
                                                 "submission.json", "README.md"}
    assert (folder / "requirements.txt").read_text().split() == ["torch", "numpy", "sentencepiece", "brotli"]
    head = (folder / "train_gpt.py").read_bytes()[:200]
    assert head.startswith(b"# -*- coding: latin-1 -*-\n# golf export:")
    sub = json.loads((folder / "submission.json").read_text())
    assert sub["name"] == "tiny test" and sub["seeds"] == [] and sub["bytes_code"] == (folder / "train_gpt.py").stat().st_size


def test_plain_python_run_without_golf_equals_golf_run(runs, golf_run, folder):
    scores = exact(runs["python"])
    assert set(scores) == {"roundtrip", "sliding_window"}
    assert abs(scores["sliding_window"][1] - golf_run["bpb"]["sliding"]) < 1e-6
    assert abs(scores["roundtrip"][1] - golf_run["bpb"]["post_quant"]) < 1e-6
    log = (folder / "logs" / "tiny_seed1337.txt").read_text()
    assert log == runs["python"]  # the log file holds exactly what was printed
    code = (folder / "train_gpt.py").stat().st_size
    assert f"Code size: {code} bytes" in log
    artifact = folder / "runs" / "tiny_seed1337" / "artifact.bin"
    assert f"Total submission size golf artifact: {artifact.stat().st_size + code} bytes" in log
    assert re.search(r"^wallclock:post_gptq train_time:[\d.]+s gptq_time:[\d.]+s total:[\d.]+s", log, re.MULTILINE)


def test_torchrun_two_ranks_scores_within_rounding(runs):
    # the coprime loader (FAST) draws the same global batch at any world size; the sequential one,
    # like the reference TokenStream, shifts each rank's span by one token, so it would not match
    one, two = exact(runs["python"]), exact(runs["torchrun"])
    assert "world_size:2" in runs["torchrun"]
    assert abs(one["sliding_window"][1] - two["sliding_window"][1]) < 1e-4


def test_seed_changes_the_result_and_one_seed_gives_the_same_bytes(runs, folder):
    arts = {name: (folder / "runs" / name / "artifact.bin").read_bytes()
            for name in ("tiny_seed1337", "tiny_seed7", "again")}
    assert "seed:7" in runs["seed7"]
    assert exact(runs["seed7"])["sliding_window"] != exact(runs["python"])["sliding_window"]
    assert arts["tiny_seed7"] != arts["tiny_seed1337"]
    assert arts["again"] == arts["tiny_seed1337"]
    assert exact(runs["again"]) == exact(runs["python"])


def test_a_run_id_in_use_is_refused_before_any_work(runs, folder, blocker, small_data):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "train_gpt.py"], cwd=folder, capture_output=True, text=True,
                          env={**env, "PYTHONPATH": str(blocker), "DATA_PATH": str(small_data[0]), "RUN_ID": "again"})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("golf: error: runs/again: exists already")


# --- --update and --check ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def updated(runs, folder) -> dict:
    result = CliRunner().invoke(main, ["export", "--update", str(folder), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads((folder / "submission.json").read_text())


def test_update_fills_submission_and_readme_from_the_logs(updated, runs, folder):
    bpbs = [exact(out)["sliding_window"][1] for out in runs.values()]
    assert len(updated["seeds"]) == 4
    assert math.isclose(updated["val_bpb"], sum(bpbs) / 4, rel_tol=0, abs_tol=1e-12)
    assert updated["name"] == "tiny test" and updated["compliance"]["ngram_cache"] == "none"
    assert sorted(s["seed"] for s in updated["seeds"]) == [7, 1337, 1337, 1337]
    assert all(s["steps"] == 12 for s in updated["seeds"])
    readme = (folder / "README.md").read_text()
    assert f"{updated['val_bpb']:.8f}" in readme and readme.count("| 1337 |") == 3
    (folder / "README.md").write_text(readme.replace("## Run", "Our method, in our words.\n\n## Run"))
    assert CliRunner().invoke(main, ["export", "--update", str(folder)]).exit_code == 0
    again = (folder / "README.md").read_text()  # the author's text stays, the results block is regenerated
    assert "Our method, in our words." in again and again.count("<!-- golf:results -->") == 1
    assert again.count("| 1337 |") == 3


def check(folder: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["export", "--check", str(folder), *extra])
    return result.exit_code, result.output


def test_check_passes_on_the_run_folder_and_tests_the_gain(updated, folder):
    code, out = check(folder)
    assert code == 0, out
    assert "PASS runs: python train_gpt.py --dry-run" in out and out.count("PASS size:") == 4
    code, out = check(folder, "--no-run", "--baseline-bpb", str(updated["val_bpb"] + 0.1))
    assert code == 0 and re.search(r"PASS significance: mean gain 0\.069\d+ nats", out), out
    code, out = check(folder, "--no-run", "--baseline-bpb", str(updated["val_bpb"]))
    assert code == 1 and "FAIL significance" in out


def _copy(folder: Path, dest: Path) -> Path:
    shutil.copytree(folder, dest, ignore=shutil.ignore_patterns("runs"))
    return dest


def test_check_fails_with_the_reason(updated, folder, tmp_path):
    missing = _copy(folder, tmp_path / "missing")
    (missing / "README.md").unlink()
    code, out = check(missing, "--no-run")
    assert code == 1 and "FAIL files: missing README.md" in out

    over = _copy(folder, tmp_path / "over")
    log = over / "logs" / "tiny_seed7.txt"
    log.write_text(re.sub(r"Total submission size golf artifact: \d+", "Total submission size golf artifact: 16000001",
                          log.read_text()))
    code, out = check(over, "--no-run")
    assert code == 1 and "FAIL size: tiny_seed7.txt (seed 7): 16,000,001 bytes OVER the cap of 16,000,000" in out

    slow = _copy(folder, tmp_path / "slow")
    log = slow / "logs" / "again.txt"
    log.write_text(re.sub(r"total:[\d.]+s", "total:600.5s", log.read_text()))
    code, out = check(slow, "--no-run")
    assert code == 1 and "FAIL train time: again.txt (seed 1337): 600.5 s OVER the budget of 600 s" in out


def test_export_refuses_a_non_empty_folder_and_mixed_modes(folder, tmp_path):
    result = CliRunner().invoke(main, ["export", "--preset", "tiny", "--out", str(folder)])
    assert result.exit_code == 2 and "is not empty" in result.output
    result = CliRunner().invoke(main, ["export", "--check", str(folder), "--update", str(folder)])
    assert result.exit_code == 2 and "exactly one of" in result.output


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
