"""`golf params`: exact parameter counts of the reference models, as a table and as JSON."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from golfcli.cli import main
from golfcli.config import load_config
from golfcli.model.params import param_report


def params_json(*args: str) -> dict:
    result = CliRunner().invoke(main, ["params", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.mark.parametrize("preset, total", [
    ("baseline", 17_059_912),  # the naive baseline's log
    ("recur-3x4", 23_662_344),  # PR #1453
    ("record-1204", 30_352_046),  # PR #1204's logs (bigram 2816×160)
])
def test_reference_totals(preset, total):
    r = params_json("--preset", preset)
    assert r["total"] == total
    assert sum(r["groups"].values()) == total == sum(r["optimizer"].values())


def test_record_1204_with_the_readme_bigram_width():
    assert params_json("--preset", "record-1204", "--set", "model.bigram_dim=112")["total"] == 30_192_302


def test_record_1204_breakdown_matches_the_inventory():
    g = param_report(load_config("record-1204").model)["groups"]
    assert g["attn"] == 5_767_168 + 2_883_584  # qo_bank + kv_bank
    assert g["mlp"] == 2 * 8_650_752 and g["repeat_mlp"] == 3_145_728
    assert g["block_scalars"] == 13 * 2_056 and g["skips"] == 6_144 and g["parallel"] == 66
    assert g["bigram"] == 450_560 + 81_920 + 1 and g["value_embed"] == 163_843 and g["smear"] == 512


def test_recur_3x4_breakdown():
    g = param_report(load_config("recur-3x4").model)["groups"]
    assert g["attn"] + g["mlp"] + g["block_scalars"] == 3 * 6_973_128
    assert g["value_embed"] == 1_802_240 + 21_120 and g["loop"] == 10_560 + 7_920 and g["embed"] == 901_120


def test_table_output_and_bad_override():
    runner = CliRunner()
    out = runner.invoke(main, ["params", "--preset", "baseline"])
    assert out.exit_code == 0 and "17,059,912" in out.output
    bad = runner.invoke(main, ["params", "--preset", "baseline", "--set", "model.recurrence=spiral"])
    assert bad.exit_code == 2 and "model.recurrence" in bad.output and "Traceback" not in bad.output
