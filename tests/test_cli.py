"""The command line shell: help lists every stage, errors are one line with a non-zero exit."""

from __future__ import annotations

import json

from click.testing import CliRunner

from golfcli import __version__
from golfcli.cli import main


def test_version_and_help():
    runner = CliRunner()
    assert __version__ in runner.invoke(main, ["--version"]).output
    out = runner.invoke(main, ["--help"]).output
    for verb in ("data", "params", "train", "ema", "gptq-calibrate", "quantize", "pack", "unpack", "verify-size", "bundle",
                 "eval", "eval-sliding", "eval-hedge", "run", "inspect", "presets", "plot", "bench"):
        assert f"  {verb} " in out, verb
    assert "..." not in out.split("Commands:")[1]


def test_inspect_missing_file_is_one_line_error():
    result = CliRunner().invoke(main, ["inspect", "/nonexistent/file.safetensors"])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and "file not found" in result.output
    assert "Traceback" not in result.output


def test_presets_json_is_one_object():
    result = CliRunner().invoke(main, ["presets", "--json"])
    assert result.exit_code == 0
    assert "tiny" in json.loads(result.output)["presets"]
