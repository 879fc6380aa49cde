"""The shuffled-sequence loader (train.loader = "shuffled") against record1493_train_gpt.py's own class."""

from __future__ import annotations

import json
import types

import numpy as np
import pytest
import torch

from golfcli.data.loaders import make_train_loader
from golfcli.data.shards import shard_name, write_shard
from golfcli.errors import GolfError
from reference_scripts import load_script
from test_reference_models import RECORD1493_ENV, RECORD1493_MODEL_END

SEQ = 16


@pytest.fixture()
def train_dir(tmp_path):
    rng = np.random.default_rng(3)
    for i, n in enumerate([700, 1300, 30, 2100, 900, 1100, 400, 1500]):  # shard 2 holds one sequence
        write_shard(tmp_path / shard_name("train", i), rng.integers(0, 1024, n))
    return tmp_path


def reference_loader(data_dir, rank: int, world_size: int):
    mod = load_script("record1493_train_gpt.py", env=RECORD1493_ENV, stop_at=RECORD1493_MODEL_END)
    h = types.SimpleNamespace(world_size=world_size, rank=rank, train_seq_len=SEQ,
                              train_files=str(data_dir / "fineweb_train_*.bin"))
    return mod.ShuffledSequenceLoader(h, torch.device("cpu"))


@pytest.mark.parametrize("world_size,accum", [(1, 1), (2, 4), (3, 2)])
def test_shuffled_equals_the_reference_loader_on_every_rank(train_dir, world_size, accum):
    global_tokens = world_size * accum * 6 * SEQ
    for rank in range(world_size):
        ref = reference_loader(train_dir, rank, world_size)
        golf = make_train_loader(train_dir, "shuffled", rank, world_size)
        seen = set()
        for _ in range(120):  # several rounds over this rank's shards
            rx, ry = ref.next_batch(global_tokens, accum)
            gx, gy = golf.next_batch(global_tokens, SEQ, accum)
            assert gx.shape == (6, SEQ) and gx.dtype == torch.int64
            assert torch.equal(gx, rx) and torch.equal(gy, ry)
            seen.update(map(tuple, gx[:, :4].tolist()))
        assert len(seen) > 100  # the batches really move through the data


def test_ranks_read_disjoint_shards(train_dir):
    a, b = (make_train_loader(train_dir, "shuffled", r, 2) for r in range(2))
    assert [f.name for f in a.files] == [shard_name("train", i) for i in (0, 2, 4, 6)]
    assert [f.name for f in b.files] == [shard_name("train", i) for i in (1, 3, 5, 7)]
    assert not torch.equal(a.next_batch(512, SEQ)[0], b.next_batch(512, SEQ)[0])


@pytest.mark.parametrize("steps", [0, 1, 37, 95])  # 95 steps: mid second round
def test_shuffled_resume_is_exact(train_dir, steps):
    a = make_train_loader(train_dir, "shuffled", 1, 2)
    for _ in range(steps):
        a.next_batch(2 * 8 * SEQ, SEQ)
    state = json.loads(json.dumps(a.state_dict()))
    b = make_train_loader(train_dir, "shuffled", 1, 2)
    b.load_state_dict(state)
    for _ in range(60):
        xa, ya = a.next_batch(2 * 8 * SEQ, SEQ)
        xb, yb = b.next_batch(2 * 8 * SEQ, SEQ)
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_shuffled_state_is_compact_and_checked(train_dir):
    a = make_train_loader(train_dir, "shuffled", 0, 2)
    a.next_batch(512, SEQ)
    state = a.state_dict()
    assert len(json.dumps(state)) < 2000  # counts per shard, not the permutations
    with pytest.raises(GolfError, match="different train shards"):
        make_train_loader(train_dir, "shuffled", 1, 2).load_state_dict(state)
    with pytest.raises(GolfError, match="seq_len 16, not 32"):
        a.next_batch(1024, 32)


def test_shuffled_needs_a_shard_per_rank(train_dir):
    with pytest.raises(GolfError, match="8 shard\\(s\\) for 9 ranks"):
        make_train_loader(train_dir, "shuffled", 0, 9)
