"""Two gloo ranks on CPU give the single-process numbers (float64 sums all-reduced, hedge replicated).

The ranks are spawned by tests/gloo_ranks.py (a FileStore per launch, stderr kept per rank).
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from eval_helpers import TinyCausalLM, byte_tables, repetitive_stream, small_cfg
from gloo_ranks import launch
from golfcli.eval import evaluate

CASES = [("standard", False), ("sliding", False), ("hedge", False), ("sliding", True)]


def _worker(rank: int, out_dir: str) -> None:
    tokens = repetitive_stream(301)
    for mode, ttt in CASES:
        name = f"{mode}{'_ttt' if ttt else ''}"
        r = evaluate(TinyCausalLM(), tokens, byte_tables(), mode, small_cfg(batch_seqs=3, ttt_lr=0.05), ttt=ttt,
                     per_token=os.path.join(out_dir, f"{name}.npy"))
        with open(os.path.join(out_dir, f"{name}_{rank}.json"), "w") as handle:
            json.dump(r, handle)


def test_two_ranks_match_one_process(tmp_path):
    torch.set_num_threads(1)
    out = tmp_path / "ranks"
    out.mkdir()
    launch(_worker, str(out), outputs=[out])
    tokens = repetitive_stream(301)
    for mode, ttt in CASES:
        name = f"{mode}{'_ttt' if ttt else ''}"
        single_path = tmp_path / f"{name}_single.npy"
        single = evaluate(TinyCausalLM(), tokens, byte_tables(), mode, small_cfg(batch_seqs=3, ttt_lr=0.05),
                          ttt=ttt, per_token=single_path)
        ranks = [json.loads((out / f"{name}_{r}.json").read_text()) for r in range(2)]
        assert ranks[0] == ranks[1] or ranks[0]["val_loss"] == ranks[1]["val_loss"]
        r = ranks[0]
        assert r["world_size"] == 2 and r["tokens_scored"] == single["tokens_scored"] == 300
        assert r["bytes_scored"] == single["bytes_scored"]
        assert r["val_loss"] == pytest.approx(single["val_loss"], rel=1e-5, abs=1e-6), name
        np.testing.assert_allclose(np.load(out / f"{name}.npy"), np.load(single_path), rtol=1e-4, atol=1e-5)
        if mode == "hedge":
            assert r["expert_weights"] == pytest.approx(single["expert_weights"], rel=1e-4)
