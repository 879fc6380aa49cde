"""The tests' gloo launcher: a rank killed by a signal is run again from the outputs it started from;
a rank's Python error fails at once, with the ranks' stderr."""

from __future__ import annotations

import os
import sys

import pytest
import torch.distributed as dist

from gloo_ranks import launch


def _abort_rank1_once(rank: int, out: str, tries: str) -> None:
    marker = os.path.join(tries, f"rank{rank}")
    first = not os.path.exists(marker)
    open(marker, "a").close()
    if not first:
        open(os.path.join(out, f"done-{rank}"), "w").close()
        return
    open(os.path.join(out, f"first-attempt-{rank}"), "w").close()
    dist.barrier()  # both ranks wrote into `out`
    if rank == 1:
        print("rank 1 goes down", flush=True, file=sys.stderr)
        os.abort()
    dist.barrier()  # rank 0 waits here until it fails or is ended


def _raise_on_rank0(rank: int) -> None:
    if rank == 0:
        raise ValueError("a real error in the code under test")


def test_a_rank_killed_by_a_signal_is_rerun_from_the_outputs_before(tmp_path):
    out, tries = tmp_path / "out", tmp_path / "tries"
    out.mkdir(), tries.mkdir()
    (out / "before.txt").write_text("kept")
    with pytest.warns(RuntimeWarning, match=r"(?s)rank 1 by SIGABRT.*rank 1 goes down"):
        launch(_abort_rank1_once, str(out), str(tries), outputs=[out])
    assert sorted(p.name for p in out.iterdir()) == ["before.txt", "done-0", "done-1"]
    assert (out / "before.txt").read_text() == "kept"


def test_a_python_error_in_a_rank_fails_at_once():
    with pytest.raises(AssertionError, match=r"(?s)a real error in the code under test.*attempt 1 of 2"):
        launch(_raise_on_rank0)
