"""`golf verify-size` takes its cap by the one precedence rule, over the [pack] an artifact stores:
--limit > --set > --config > the artifact's stored pack.limit > 16,000,000."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from golfcli.cli import main
from golfcli.config import GolfConfig, config_to_dict
from golfcli.qtensor import save_quantized
from test_artifact import make_model


def _quantized(path, limit: int | None = None):
    qm = make_model(3)
    qm.config = config_to_dict(GolfConfig())
    if limit is not None:
        qm.config["pack"]["limit"] = limit
    save_quantized(str(path), qm)
    return path


def _golf(*args: str) -> tuple[int, dict | str]:
    r = CliRunner().invoke(main, [str(a) for a in args])
    try:
        return r.exit_code, json.loads(r.stdout)
    except ValueError:
        return r.exit_code, r.output


@pytest.fixture
def code(tmp_path):
    path = tmp_path / "c.py"
    path.write_text("x = 1\n")
    return path


def test_an_artifact_packed_with_a_limit_is_verified_against_it(tmp_path, code):
    art = tmp_path / "a.bin"
    assert _golf("pack", _quantized(tmp_path / "q.safetensors"), "--out", art, "--set", "pack.limit=1000")[0] == 0
    rc, r = _golf("verify-size", art, "--code", code, "--json")
    assert rc == 1 and r["limit"] == 1000 and r["total_bytes"] > 1000 and not r["fits"]
    # the layers above the stored one still win, in their order
    total = r["total_bytes"]
    config = tmp_path / "c.toml"
    config.write_text(f"[pack]\nlimit = {total}\n")
    assert _golf("verify-size", art, "--code", code, "--config", config, "--json")[1]["limit"] == total
    rc, r = _golf("verify-size", art, "--code", code, "--config", config, "--set", f"pack.limit={total - 1}", "--json")
    assert rc == 1 and r["limit"] == total - 1
    rc, r = _golf("verify-size", art, "--code", code, "--set", "pack.limit=7", "--limit", total, "--json")
    assert rc == 0 and r["limit"] == total and r["fits"]


def test_the_stored_limit_travels_from_the_quantized_file_and_the_default_is_the_cap(tmp_path, code):
    stored, plain = tmp_path / "s.bin", tmp_path / "p.bin"
    assert _golf("pack", _quantized(tmp_path / "s.safetensors", limit=2000), "--out", stored)[0] == 0
    assert _golf("pack", _quantized(tmp_path / "p.safetensors"), "--out", plain)[0] == 0
    assert _golf("verify-size", stored, "--code", code, "--json")[1]["limit"] == 2000
    rc, r = _golf("verify-size", plain, "--code", code, "--json")
    assert rc == 0 and r["limit"] == 16_000_000
    rc, out = _golf("verify-size", plain, "--code", code, "--set", "quant.damp=1")
    assert rc == 2 and "pack.KEY" in out
