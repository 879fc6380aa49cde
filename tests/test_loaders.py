"""Train loaders: the reference stream split across ranks, the record's coprime sampler, exact resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from golfcli.data.loaders import _Cursor, make_train_loader, path_hash_seed
from golfcli.data.shards import shard_name, write_shard
from golfcli.errors import GolfError


@pytest.fixture()
def train_dir(tmp_path):
    rng = np.random.default_rng(0)
    sizes = [700, 1300, 30, 2100, 900, 1100, 400, 1500, 800, 1000]
    for i, n in enumerate(sizes):
        write_shard(tmp_path / shard_name("train", i), rng.integers(0, 1024, n))
    write_shard(tmp_path / shard_name("val", 0), [1, 2, 3])
    return tmp_path


def _reference_batches(data_dir, steps, global_tokens, seq_len, world_size):
    """The reference TokenStream + DistributedTokenLoader, written plainly over one long stream."""
    files = sorted(data_dir.glob("fineweb_train_*.bin"))
    stream = np.concatenate([np.fromfile(f, dtype="<u2", offset=1024) for f in files]).astype(np.int64)
    local = global_tokens // world_size
    span = local + 1
    out, pos = [], 0
    for _ in range(steps):
        need = span * world_size
        idx = (pos + np.arange(need)) % len(stream)
        pos = (pos + need) % len(stream)
        chunk = stream[idx]
        per_rank = []
        for r in range(world_size):
            part = torch.from_numpy(chunk[r * span : (r + 1) * span])
            per_rank.append((part[:-1].reshape(-1, seq_len), part[1:].reshape(-1, seq_len)))
        out.append(per_rank)
    return out


def test_sequential_matches_the_reference_split_across_ranks(train_dir):
    world, seq_len, global_tokens = 3, 16, 3 * 4 * 16
    loaders = [make_train_loader(train_dir, "sequential", r, world) for r in range(world)]
    reference = _reference_batches(train_dir, 60, global_tokens, seq_len, world)  # wraps around all shards
    for step in range(60):
        for r, loader in enumerate(loaders):
            x, y = loader.next_batch(global_tokens, seq_len)
            assert x.shape == (4, seq_len) and x.dtype == torch.int64
            assert torch.equal(x, reference[step][r][0]) and torch.equal(y, reference[step][r][1])


def test_sequential_resume_is_exact(train_dir):
    a = make_train_loader(train_dir, "sequential")
    for _ in range(7):
        a.next_batch(512, 32)
    state = json.loads(json.dumps(a.state_dict()))
    b = make_train_loader(train_dir, "sequential")
    b.load_state_dict(state)
    for _ in range(5):
        xa, ya = a.next_batch(512, 32)
        xb, yb = b.next_batch(512, 32)
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


def _coprime_global_windows(data_dir, world, steps, global_tokens, seq_len):
    probe = make_train_loader(data_dir, "coprime", 0, world)
    return [probe._windows(global_tokens // world // seq_len * world, seq_len) for _ in range(steps)]


def test_coprime_is_deterministic_and_ranks_take_their_stride(train_dir):
    world, seq_len, global_tokens = 2, 32, 2 * 12 * 32
    windows = _coprime_global_windows(train_dir, world, 6, global_tokens, seq_len)
    loaders = [make_train_loader(train_dir, "coprime", r, world) for r in range(world)]
    again = make_train_loader(train_dir, "coprime", 1, world)
    tokens = {i: np.fromfile(train_dir / shard_name("train", i), dtype="<u2", offset=1024) for i in range(10)}
    for step in range(6):
        assert len(windows[step]) == 24
        for r, loader in enumerate(loaders):
            x, y = loader.next_batch(global_tokens, seq_len)
            assert x.shape == (12, seq_len)
            assert torch.equal(x[:, 1:], y[:, :-1])
            for row, (shard, offset) in enumerate(windows[step][r::world]):
                expect = torch.from_numpy(tokens[shard][offset : offset + seq_len + 1].astype(np.int64))
                assert torch.equal(x[row], expect[:-1]) and torch.equal(y[row], expect[1:])
            if r == 1:
                x2, _ = again.next_batch(global_tokens, seq_len)
                assert torch.equal(x, x2)
    # the 30-token shard cannot hold a 33-token window and is never used
    assert all(shard != 2 for batch in windows for shard, _ in batch)


def test_coprime_mixes_more_shards_as_training_progresses(train_dir):
    loader = make_train_loader(train_dir, "coprime", 0, 1, ramp_batches=4)
    used = [len({s for s, _ in loader._windows(40, 16)}) for _ in range(6)]
    assert used[0] == 8 and used[-1] == 10  # low = 8, high = min(32, 10 shards)


def test_coprime_resume_is_exact(train_dir):
    a = make_train_loader(train_dir, "coprime", 1, 2)
    for _ in range(9):
        a.next_batch(2 * 8 * 32, 32)
    state = json.loads(json.dumps(a.state_dict()))
    b = make_train_loader(train_dir, "coprime", 1, 2)
    b.load_state_dict(state)
    for _ in range(6):
        xa, _ = a.next_batch(2 * 8 * 32, 32)
        xb, _ = b.next_batch(2 * 8 * 32, 32)
        assert torch.equal(xa, xb)
    with pytest.raises(GolfError, match="sequential"):
        b.load_state_dict(make_train_loader(train_dir, "sequential").state_dict())


def test_cursor_visits_every_block_once():
    cursor = _Cursor(phase=5, count=12, start=7, stride=5)
    offsets = [cursor.next_offset(10) for _ in range(12)]
    assert sorted(offsets) == [5 + 10 * k for k in range(12)]


def test_coprime_cursor_draws_a_full_permutation(tmp_path):
    write_shard(tmp_path / shard_name("train", 0), np.arange(1000) % 1024)
    loader = make_train_loader(tmp_path, "coprime")
    loader._start_epoch(16)
    cur = loader.cursors[0]
    assert 0 <= cur.phase <= 15 and cur.count == (1000 - 1 - cur.phase) // 16
    offsets = [loader._take(0, 16) for _ in range(cur.count)]
    assert sorted(offsets) == [cur.phase + 16 * k for k in range(cur.count)]
    assert loader.cursors[0] is not cur  # re-drawn when exhausted


def test_seed_is_the_fnv_hash_of_the_path_strings():
    assert path_hash_seed([]) == 0
    assert path_hash_seed(["a"]) == (97 * 1099511628211) % 2**64
    assert path_hash_seed(["ab"]) == (((97 * 1099511628211) % 2**64 ^ 98) * 1099511628211) % 2**64


def test_bad_requests(train_dir):
    with pytest.raises(GolfError, match="unknown loader kind 'random'"):
        make_train_loader(train_dir, "random")
    with pytest.raises(GolfError, match="bad rank 2"):
        make_train_loader(train_dir, "sequential", 2, 2)
    with pytest.raises(GolfError, match="less than one sequence"):
        make_train_loader(train_dir, "sequential").next_batch(100, 128)
    empty = train_dir / "empty"
    empty.mkdir()
    with pytest.raises(GolfError, match="no train shards") as info:
        make_train_loader(empty, "coprime")
    assert str(empty) in str(info.value)


def test_shared_shards_with_the_record_batch_shape(shared_shards):
    seq = make_train_loader(shared_shards, "sequential", 0, 8)
    x, y = seq.next_batch(8 * 4 * 1024, 1024)
    first = np.fromfile(shared_shards / "fineweb_train_000000.bin", dtype="<u2", offset=1024, count=4 * 1024 + 1)
    assert torch.equal(x.reshape(-1), torch.from_numpy(first[:-1].astype(np.int64)))
    assert torch.equal(y.reshape(-1), torch.from_numpy(first[1:].astype(np.int64)))
    ranks = [make_train_loader(shared_shards, "coprime", r, 8) for r in (0, 7)]
    batches = [loader.next_batch(786_432, 2048) for loader in ranks]
    assert all(b[0].shape == (48, 2048) for b in batches)
    assert not torch.equal(batches[0][0], batches[1][0])
