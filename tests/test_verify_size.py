"""`golf verify-size`: model bytes + code bytes against the decimal cap, with honest code bytes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from golfcli.artifact import code_files_for_loading, verify_size, write_artifact
from golfcli.cli import main
from golfcli.errors import FormatError, GolfError
from test_artifact import make_model

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    path = tmp_path_factory.mktemp("a") / "a.bin"
    write_artifact(make_model(8), path)
    return path


def test_code_files_follow_the_loading_import_graph():
    files = {str(p.relative_to(ROOT)) for p in code_files_for_loading()}
    # Reading an artifact needs the reader and what it imports, never the packer or this accounting.
    for needed in ("golfcli/__init__.py", "golfcli/artifact/__init__.py", "golfcli/artifact/reader.py",
                   "golfcli/artifact/rans.py", "golfcli/artifact/codecs.py", "golfcli/qtensor.py",
                   "golfcli/errors.py", "golfcli/io.py", "golfcli/metric.py"):
        assert needed in files, needed
    for unneeded in ("golfcli/artifact/pack.py", "golfcli/artifact/size.py", "golfcli/cli/pack_cmd.py",
                     "golfcli/bench/pack.py"):
        assert unneeded not in files, unneeded
    # Every module of the model and eval packages counts.
    for pkg in ("model", "eval"):
        for f in (ROOT / "golfcli" / pkg).glob("*.py"):
            assert f"golfcli/{pkg}/{f.name}" in files


def test_verify_size_adds_model_and_code_bytes(artifact, tmp_path):
    code = tmp_path / "train_gpt.py"
    code.write_text("print('hi')\n" * 100)
    r = verify_size(artifact, [code], limit=16_000_000)
    assert r["model_bytes"] == artifact.stat().st_size
    assert r["code_bytes"] == 1200
    assert r["total_bytes"] == r["model_bytes"] + 1200 and r["fits"] and r["limit"] == 16_000_000
    tight = verify_size(artifact, [code], limit=r["total_bytes"])
    assert tight["fits"] and tight["headroom_bytes"] == 0
    over = verify_size(artifact, [code], limit=r["total_bytes"] - 1)
    assert not over["fits"] and over["headroom_bytes"] == -1

    default = verify_size(artifact, source=True)
    listed = sum(f["bytes"] for f in default["code_files"])
    assert default["code_bytes"] == listed == sum(p.stat().st_size for p in code_files_for_loading())
    assert sum(s["bytes"] for s in default["sections"]) < default["model_bytes"]


def test_verify_size_rejects_bad_input(artifact, tmp_path):
    with pytest.raises(GolfError, match="not found"):
        verify_size(tmp_path / "missing.bin")
    with pytest.raises(GolfError, match="code file not found"):
        verify_size(artifact, [tmp_path / "nope.py"])
    damaged = tmp_path / "d.bin"
    damaged.write_bytes(artifact.read_bytes()[:-1])
    with pytest.raises(FormatError):
        verify_size(damaged)


def test_cli_exit_codes_and_json(artifact, tmp_path):
    code = tmp_path / "c.py"
    code.write_text("x = 1\n")
    runner = CliRunner()
    res = runner.invoke(main, ["verify-size", str(artifact), "--code", str(code), "--json"])
    assert res.exit_code == 0, res.output
    r = json.loads(res.stdout)
    assert {"model_bytes", "code_bytes", "total_bytes", "limit", "fits"} <= set(r)
    assert r["code_bytes"] == 6 and r["fits"]
    res = runner.invoke(main, ["verify-size", str(artifact), "--code", str(code), "--limit", str(r["total_bytes"] - 5)])
    assert res.exit_code == 1
    assert "over the limit by 5 bytes" in res.stdout
    res = runner.invoke(main, ["verify-size", str(artifact), "--source"])
    assert res.exit_code == 0 and "golfcli/artifact/reader.py" in res.stdout
    res = runner.invoke(main, ["verify-size", str(artifact), "--limit", "0"])
    assert res.exit_code == 2 and res.stderr.startswith("golf: error: ")
