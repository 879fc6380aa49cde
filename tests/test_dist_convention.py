"""One process-group convention: a DistInfo says where a process stands and every collective takes it."""

from __future__ import annotations

import re
from pathlib import Path

import torch

from golfcli import distributed as D

ROOT = Path(__file__).resolve().parents[1] / "golfcli"


def test_outside_a_group_a_process_is_rank_0_of_1_and_collectives_are_identities():
    info = D.current()
    assert (info.rank, info.world_size, info.active, info.device) == (0, 1, False, torch.device("cpu"))
    t = torch.arange(6.0).reshape(3, 2)
    assert D.gather_rows(t, info) is t and D.sum_tensor(t, info) is t


def test_global_group_state_is_read_only_by_the_setup_module():
    """Outside golfcli/distributed.py nothing asks torch.distributed whether a group exists or who it is,
    except the TTT and Muon steps, which hold their world size and only guard their all-reduces."""
    allowed = {"distributed.py", "eval/ttt.py", "train/muon.py"}
    pattern = re.compile(r"dist\.(is_initialized|get_rank|get_world_size|get_backend)\(")
    found = sorted(str(p.relative_to(ROOT)) for p in ROOT.rglob("*.py")
                   if pattern.search(p.read_text()) and str(p.relative_to(ROOT)) not in allowed)
    assert found == []
    assert sorted(str(p.relative_to(ROOT)) for p in ROOT.rglob("distributed.py")) == ["distributed.py",
                                                                                    "train/distributed.py"]
