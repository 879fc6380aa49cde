"""`golf data inspect`: per-split counts under the metric's byte rule, and the vocabulary check."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from golfcli.cli import main
from golfcli.data.inspect import inspect_data
from golfcli.data.shards import shard_name, write_shard
from golfcli.data.tokenizer import load_tokenizer
from golfcli.errors import GolfError
from golfcli.metric import build_byte_tables, count_stream_bytes


def test_shared_sample_json_shape(shared_shards, shared_tokenizer):
    res = CliRunner().invoke(main, ["data", "inspect", str(shared_shards), "--tokenizer", str(shared_tokenizer),
                                    "--json"])
    assert res.exit_code == 0, res.output
    splits = json.loads(res.stdout)["splits"]
    assert {k: splits["val"][k] for k in ("tokens", "documents", "bytes")} == \
        {"tokens": 954_141, "documents": 500, "bytes": 2_434_405}
    assert {k: splits["train"][k] for k in ("tokens", "documents", "bytes")} == \
        {"tokens": 7_680_813, "documents": 2_800, "bytes": 19_413_523}
    assert splits["val"]["max_id"] < 1024
    assert json.loads(res.stdout)["tokenizer_matches_dataset"] is None  # the sample has no dataset.json


def test_bytes_cross_shard_boundaries_like_one_stream(tmp_path, builtin_data):
    sp = load_tokenizer(builtin_data.tokenizer)
    rng = np.random.default_rng(0)
    stream = rng.integers(0, 1024, 5000)
    stream[[0, 1500, 2999]] = 1
    cuts = [0, 1200, 3000, 5000]  # a boundary (BOS) lands right before a shard edge at 3000
    for i in range(3):
        write_shard(tmp_path / shard_name("train", i), stream[cuts[i] : cuts[i + 1]])
    write_shard(tmp_path / shard_name("val", 0), [1, 5, 6])
    result = inspect_data(tmp_path, builtin_data.tokenizer)
    tables = build_byte_tables(sp, 1024)
    train = result["splits"]["train"]
    assert train["bytes"] == count_stream_bytes(tables, torch.from_numpy(stream))
    assert train["documents"] == int((stream == 1).sum()) and train["tokens"] == 5000
    assert [s["tokens"] for s in train["shards"]] == [1200, 1800, 2000]


def test_id_outside_the_vocabulary_names_the_shard(tmp_path, builtin_data):
    write_shard(tmp_path / shard_name("val", 0), [1, 5, 6])
    write_shard(tmp_path / shard_name("train", 0), [1, 5, 1023, 1024, 7])
    expected = "token id 1024 at position 3 is outside the tokenizer's vocabulary of 1024"
    with pytest.raises(GolfError, match=expected) as e:
        inspect_data(tmp_path, builtin_data.tokenizer)
    assert str(tmp_path / "fineweb_train_000000.bin") in str(e.value)
    res = CliRunner().invoke(main, ["data", "inspect", str(tmp_path / "none"), "--tokenizer", str(builtin_data.tokenizer)])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1 and "data directory not found" in res.stderr
