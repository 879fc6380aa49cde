"""`golf --help`, every verb's `--help` and config errors answer without importing torch."""

from __future__ import annotations

import json
import subprocess
import sys

from golfcli.cli.bench_cmd import BENCHMARKS

PROBE = """
import json, sys
from click.testing import CliRunner
from golfcli.cli import main
out = []
for args in json.loads(sys.argv[1]):
    r = CliRunner().invoke(main, args)
    out.append([r.exit_code, r.output.strip().splitlines()[-1] if r.output.strip() else "", r.output,
                "torch" in sys.modules])
print(json.dumps({"results": out, "torch": "torch" in sys.modules}))
"""


def _probe(*invocations: list[str]) -> dict:
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(list(invocations))], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def test_golf_help_does_not_import_torch():
    r = _probe(["--help"])
    assert r["results"][0][0] == 0 and r["torch"] is False


VERBS = ["train", "ema", "gptq-calibrate", "quantize", "pack", "unpack", "verify-size", "bundle", "eval", "eval-sliding",
         "eval-hedge", "run", "export", "config", "presets", "params", "inspect", "bench"]


def _first_to_load_torch(invocations: list[list[str]], results: list) -> list[str] | None:
    """The first invocation after which torch was loaded (one probe process runs them all, in order)."""
    return next((args for args, r in zip(invocations, results) if r[3]), None)


def test_each_verbs_help_does_not_import_torch():
    invocations = [[verb, "--help"] for verb in VERBS]
    r = _probe(*invocations)
    assert [args for args, res in zip(invocations, r["results"]) if res[0] != 0] == []
    assert _first_to_load_torch(invocations, r["results"]) is None


def test_help_choices_are_the_stages_own():
    """`golf ema --help` and `golf pack --help` list, without loading the stage, the values the stage accepts."""
    from golfcli.artifact.pack import CODECS
    from golfcli.train.average_run import MODES

    r = _probe(["ema", "--help"], ["pack", "--help"])
    assert r["torch"] is False
    assert f"[{'|'.join(MODES)}]" in r["results"][0][2] and f"[{'|'.join(CODECS)}]" in r["results"][1][2]


def test_bench_help_lists_every_benchmark_module_without_loading_it():
    import importlib
    import pkgutil

    import golfcli.bench
    from golfcli.cli.bench_cmd import BENCHMARKS

    r = _probe(["bench", "--help"])
    assert r["torch"] is False
    commands = r["results"][0][2].split("Commands:")[1].splitlines()
    listed = [line.split()[0] for line in commands if line.startswith("  ") and line[2] != " "]  # not wrapped text
    assert listed == list(BENCHMARKS)
    modules = [m.name for m in pkgutil.iter_modules(golfcli.bench.__path__)]
    with_command = {m for m in modules if hasattr(importlib.import_module(f"golfcli.bench.{m}"), "command")}
    assert with_command == set(BENCHMARKS)
    sub = _probe(["bench", "data", "--help"], ["bench", "nope"])
    assert sub["results"][0][0] == 0 and "--val-docs" in sub["results"][0][2] and sub["results"][1][0] == 2


def test_each_benchmarks_help_does_not_import_torch():
    invocations = [["bench", name, "--help"] for name in BENCHMARKS]
    r = _probe(*invocations)
    for name, res in zip(BENCHMARKS, r["results"]):
        assert res[0] == 0 and f"Usage: main bench {name} [OPTIONS]" in res[2], name
    assert _first_to_load_torch(invocations, r["results"]) is None


def test_bench_eval_offers_the_eval_stages_modes():
    """`golf bench eval --modes` spells out the stage's modes (its help loads no stage): the same, in order."""
    from golfcli.bench.eval import MODES as OFFERED
    from golfcli.eval import MODES

    assert OFFERED == MODES
