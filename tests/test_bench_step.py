"""`golf bench step`: one rank's optimizer ops and bytes, counted on the fake process group."""

from __future__ import annotations

import json
import math

import pytest
import torch
from click.testing import CliRunner

from golfcli.cli import main
from golfcli.config import load_config
from golfcli.model import GPT


def _expected_bytes(world: int) -> float:
    """Ring traffic of the sharded step for `tiny`: AdamW all-reduce (fp32), clip scalar, bf16 banks."""
    groups = GPT(load_config("tiny").model).param_groups()
    share = (world - 1) / world
    adam = sum(p.numel() for name in ("embed", "scalar") for p in groups[name]) * 4
    shapes: dict[tuple, int] = {}
    for p in groups["matrix"]:
        shapes[tuple(p.shape)] = shapes.get(tuple(p.shape), 0) + 1
    banks = sum(math.ceil(n / world) * world * r * c * 2 for (r, c), n in shapes.items())
    return 2 * share * (adam + 4) + 2 * share * banks  # all-reduces 2(N−1)/N; reduce-scatter + all-gather


@pytest.fixture(scope="module")
def row():
    result = CliRunner().invoke(main, ["bench", "step", "--preset", "tiny", "--world-size", "4", "--steps", "2",
                                       "--no-graphs", "--no-save", "--json"])
    assert result.exit_code == 0, result.output
    (r,) = json.loads(result.output[result.output.index("{"):])["results"]["rows"]
    return r


def test_bytes_per_rank_are_the_ring_traffic_of_the_sharded_step(row):
    opt = row["optimizer"]
    assert opt["bytes_sent_per_step"] == pytest.approx(_expected_bytes(4), abs=1)
    # 4 banks (one per matrix shape): one reduce-scatter and one all-gather each; AdamW + clip all-reduces
    assert opt["collectives_per_step"] == {"_allgather_base_": 4, "_reduce_scatter_base_": 4, "allreduce_": 2}
    assert row["as_on_cuda"] == ["Muon communication in bf16", "fused AdamW"]


def test_muon_launches_a_bounded_number_of_ops_per_bank(row):
    ops = row["optimizer"]["ops_per_step"]
    assert ops["AdamW"] <= 2 * 3  # fused: per group one kernel and its step-counter updates
    # per bank: a few for momentum, 3 per Newton–Schulz iteration, a few for copies: independent of #matrices
    assert 4 * 15 <= ops["Muon"] <= 4 * 35
    # the clock reads the agreement launched a step before (none yet at the first of the 2 steps)
    assert row["host"]["clock_host_reads_per_step"] == 0.5 and row["host"]["clock_lag_steps"] == 1


def test_unknown_preset_is_one_line(tmp_path):
    result = CliRunner().invoke(main, ["bench", "step", "--preset", "nope", "--no-save"])
    assert result.exit_code == 2
    assert result.output.strip() == "golf: error: unknown preset 'nope' (see `golf presets`)"
