"""`golf bench run`: the same `golf run` with forked and with spawned stages scores the same."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from golfcli.cli import main

# Two whole `golf run`s, one with eleven torch imports; in the default run tests/test_stage_process.py
# checks forked against spawned verbs (a quantize writes the same bytes either way).
pytestmark = pytest.mark.slow

SETTINGS = ("train.iterations=2", "train.val_every=0", "train.checkpoint_every=0", "calib.seqs=1", "calib.seq_len=16",
            "calib.batch=1")


def test_forked_and_spawned_stages_give_the_same_run(small_corpus):
    sets = [arg for item in SETTINGS for arg in ("--set", item)]
    r = CliRunner().invoke(main, ["bench", "run", "--data", str(small_corpus.data_dir), "--tokenizer",
                                  str(small_corpus.tokenizer), *sets, "--no-record", "--json"])
    assert r.exit_code == 0, r.output
    result = json.loads(r.output)
    assert result["same_bpb"] is True and set(result["bpb"]) == {"pre_quant", "post_quant", "sliding", "hedge"}
    assert result["bpb"]["hedge"] is None  # no --hedge
    assert list(result["stages"]) == ["train", "ema", "gptq-calibrate", "quantize", "pack", "bundle", "verify-size",
                                      "eval-pre-quant", "eval-post-quant", "eval-sliding"]
    assert all(row["forked"] > 0 and row["spawned"] > 0 for row in result["stages"].values())
    assert result["spawned_over_forked"] == round(result["spawned_seconds"] / result["forked_seconds"], 3)
