"""Atomic writes and golf safetensors metadata."""

from __future__ import annotations

import pytest
import torch

from golfcli.errors import FormatError, GolfError
from golfcli.io import atomic_path, load_tensors, read_metadata, save_tensors, tensor_table


def test_save_load_round_trip_with_metadata(tmp_path):
    path = tmp_path / "x.safetensors"
    tensors = {"w": torch.randn(3, 5), "b": torch.arange(4, dtype=torch.int8), "h": torch.ones(2, dtype=torch.bfloat16)}
    save_tensors(path, tensors, "checkpoint", {"config": {"model": {"n": 1}}, "step": 3})
    back, meta = load_tensors(path, "checkpoint")
    assert all(torch.equal(back[k], v) for k, v in tensors.items())
    assert meta["format"] == "checkpoint" and meta["config"] == {"model": {"n": 1}} and meta["step"] == 3
    assert [r["name"] for r in tensor_table(path)] == ["b", "h", "w"]
    assert tensor_table(path)[2]["bytes"] == 60


def test_wrong_kind_and_damaged_files_are_clean_errors(tmp_path):
    path = tmp_path / "x.safetensors"
    save_tensors(path, {"w": torch.zeros(2)}, "hessians")
    with pytest.raises(GolfError, match="expected a golf checkpoint"):
        load_tensors(path, "checkpoint")
    data = path.read_bytes()
    (tmp_path / "trunc.safetensors").write_bytes(data[:-3])
    with pytest.raises(FormatError):
        load_tensors(tmp_path / "trunc.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"\xff" * 40)
    with pytest.raises(FormatError, match="junk.safetensors"):
        read_metadata(tmp_path / "junk.safetensors")


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.bin"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("stage failed")
    assert list(tmp_path.iterdir()) == []
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"whole")
    assert target.read_bytes() == b"whole" and list(tmp_path.iterdir()) == [target]
