"""The challenge shard format: exact bytes, validation with file-naming errors, val loading."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from golfcli.data.shards import (
    HEADER_BYTES, MAGIC, VERSION, load_validation_tokens, read_shard, shard_files, shard_name, write_shard,
)
from golfcli.errors import GolfError


def _raw_shard(tokens, magic=MAGIC, version=VERSION, count=None) -> bytes:
    header = np.zeros(256, dtype="<i4")
    header[:3] = [magic, version, len(tokens) if count is None else count]
    return header.tobytes() + np.asarray(tokens, dtype="<u2").tobytes()


def test_write_shard_bytes_are_exactly_the_challenge_format(tmp_path):
    tokens = [1, 0, 65535, 1023, 7]
    path = tmp_path / "fineweb_val_000000.bin"
    write_shard(path, np.array(tokens, dtype=np.int64))
    assert path.read_bytes() == _raw_shard(tokens)
    assert path.stat().st_size == HEADER_BYTES + 2 * len(tokens)
    assert read_shard(path).tolist() == tokens
    assert not [p for p in tmp_path.iterdir() if p.name != path.name]  # no temp files left


def test_read_shard_is_memory_mapped_uint16(tmp_path):
    path = tmp_path / "s.bin"
    path.write_bytes(_raw_shard(list(range(100))))
    arr = read_shard(path)
    assert isinstance(arr, np.memmap) and arr.dtype == np.uint16 and len(arr) == 100 and int(arr[99]) == 99


@pytest.mark.parametrize(
    "raw, message",
    [
        (_raw_shard([1, 2, 3], magic=20240521), "magic is 20240521"),
        (_raw_shard([1, 2, 3], version=2), "version 2"),
        (_raw_shard([1, 2, 3], count=4), "need exactly 1032"),
        (_raw_shard([1, 2, 3])[:-1], "1029 bytes"),
        (b"\x00" * 100, "shorter than the 1024-byte header"),
    ],
)
def test_damaged_shards_name_the_file_and_problem(tmp_path, raw, message):
    path = tmp_path / "fineweb_train_000000.bin"
    path.write_bytes(raw)
    with pytest.raises(GolfError) as info:
        read_shard(path)
    assert str(path) in str(info.value) and message in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_shard_and_missing_split(tmp_path):
    with pytest.raises(GolfError, match="shard not found"):
        read_shard(tmp_path / "nope.bin")
    with pytest.raises(GolfError, match=r"no val shards"):
        shard_files(tmp_path, "val")
    with pytest.raises(GolfError, match="data directory not found"):
        shard_files(tmp_path / "absent", "train")


def test_write_shard_refuses_ids_beyond_uint16_and_leaves_nothing(tmp_path):
    path = tmp_path / "fineweb_train_000000.bin"
    with pytest.raises(GolfError, match="65536") as info:
        write_shard(path, np.array([1, 65536]))
    assert str(path) in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_shard_files_sorted_and_validation_truncation(tmp_path):
    write_shard(tmp_path / shard_name("val", 1), [5, 6, 7, 8])
    write_shard(tmp_path / shard_name("val", 0), [1, 2, 3, 4])
    write_shard(tmp_path / shard_name("train", 0), [9] * 10)
    assert [p.name for p in shard_files(tmp_path, "val")] == ["fineweb_val_000000.bin", "fineweb_val_000001.bin"]
    full = load_validation_tokens(tmp_path)
    assert full.dtype == torch.int64 and full.tolist() == [1, 2, 3, 4, 5, 6, 7, 8]
    # N=8 tokens, seq_len 3: ((8-1)//3)*3 + 1 = 7 tokens
    assert load_validation_tokens(tmp_path, seq_len=3).tolist() == [1, 2, 3, 4, 5, 6, 7]
    assert load_validation_tokens(tmp_path, seq_len=7).numel() == 8
    with pytest.raises(GolfError, match="too few"):
        load_validation_tokens(tmp_path, seq_len=8)


def test_shared_val_shard_loads_with_the_challenge_truncation(shared_shards):
    tokens = load_validation_tokens(shared_shards)
    assert tokens.numel() == 954_141 and int(tokens[0]) == 1 and int(tokens.max()) < 1024
    assert load_validation_tokens(shared_shards, seq_len=1024).numel() == 953_344 + 1
    assert int((tokens == 1).sum()) == 500
