"""The prefetching loader: the wrapped loader's batches in order, exact state, clean stop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from golfcli.data.loaders import PrefetchLoader, make_train_loader
from golfcli.data.shards import write_shard
from golfcli.errors import GolfError

ARGS = (4 * 16, 16, 1)  # global tokens, seq_len, accumulation: 4 rows for one rank


@pytest.fixture()
def train_dir(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(3):
        write_shard(tmp_path / f"fineweb_train_00000{i}.bin", rng.integers(0, 1024, size=3000 + 500 * i, dtype=np.uint16))
    return tmp_path


@pytest.mark.parametrize("kind", ["sequential", "coprime"])
def test_prefetched_batches_and_state_equal_the_plain_loader(train_dir, kind):
    plain = make_train_loader(train_dir, kind)
    fetched = PrefetchLoader(make_train_loader(train_dir, kind), *ARGS, depth=3)
    try:
        for _ in range(6):
            x, y = plain.next_batch(*ARGS)
            fx, fy = fetched.next_batch(*ARGS)
            assert fx.is_contiguous() and fy.is_contiguous()
            assert torch.equal(x, fx) and torch.equal(y, fy)
            assert fetched.state_dict() == plain.state_dict()  # although the thread is ahead
        fetched.close()  # rewinds the wrapped loader to after the 6th batch
        assert fetched.loader.state_dict() == plain.state_dict()
        assert torch.equal(fetched.next_batch(*ARGS)[0], plain.next_batch(*ARGS)[0])
    finally:
        fetched.close()


def test_resume_from_a_prefetched_state_is_exact(train_dir):
    first = PrefetchLoader(make_train_loader(train_dir, "coprime"), *ARGS)
    for _ in range(3):
        first.next_batch(*ARGS)
    state = first.state_dict()
    expected = [first.next_batch(*ARGS)[0] for _ in range(3)]
    first.close()
    second = PrefetchLoader(make_train_loader(train_dir, "coprime"), *ARGS)
    second.load_state_dict(state)
    got = [second.next_batch(*ARGS)[0] for _ in range(3)]
    second.close()
    assert all(torch.equal(a, b) for a, b in zip(expected, got))


def test_other_batch_arguments_and_loader_errors_are_reported(train_dir):
    fetched = PrefetchLoader(make_train_loader(train_dir, "sequential"), *ARGS)
    with pytest.raises(GolfError, match="prefetching loader"):
        fetched.next_batch(128, 16, 1)
    broken = PrefetchLoader(make_train_loader(train_dir, "sequential"), 8, 16, 1)  # less than one row
    with pytest.raises(GolfError, match="less than one sequence"):
        broken.next_batch(8, 16, 1)
    assert broken._thread is None
