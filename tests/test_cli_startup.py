"""`golf --help`, every verb's `--help` and config errors answer without importing torch."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from golfcli.cli.bench_cmd import BENCHMARKS

PROBE = """
import json, sys
from click.testing import CliRunner
from golfcli.cli import main
out = []
for args in json.loads(sys.argv[1]):
    r = CliRunner().invoke(main, args)
    out.append([r.exit_code, r.output.strip().splitlines()[-1] if r.output.strip() else "", r.output])
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


@pytest.mark.parametrize("verb", ["train", "ema", "gptq-calibrate", "quantize", "pack", "unpack", "verify-size", "bundle",
                                  "eval", "eval-sliding", "eval-hedge", "run", "export", "config", "presets", "params",
                                  "inspect", "bench"])
def test_each_verbs_help_does_not_import_torch(verb):
    r = _probe([verb, "--help"])
    assert r["results"][0][0] == 0 and r["torch"] is False


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


@pytest.mark.parametrize("name", list(BENCHMARKS))
def test_each_benchmarks_help_does_not_import_torch(name):
    r = _probe(["bench", name, "--help"])
    assert r["results"][0][0] == 0 and r["torch"] is False
    assert f"Usage: main bench {name} [OPTIONS]" in r["results"][0][2]


def test_bench_eval_offers_the_eval_stages_modes():
    """`golf bench eval --modes` spells out the stage's modes (its help loads no stage): the same, in order."""
    from golfcli.bench.eval import MODES as OFFERED
    from golfcli.eval import MODES

    assert OFFERED == MODES
