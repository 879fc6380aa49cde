"""Standard and sliding evaluation: window plans, exact-once scoring, context, causality, bpb."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from eval_helpers import TinyCausalLM, byte_tables, small_cfg
from golfcli.errors import GolfError
from golfcli.eval import evaluate
from golfcli.eval.sliding import sliding_plan
from golfcli.eval.standard import standard_plan
from golfcli.metric import bits_per_byte, count_stream_bytes



def _scored_slots(plan) -> list[int]:
    out = []
    for s, n, f in zip(plan.starts.tolist(), plan.lengths.tolist(), plan.score_from.tolist()):
        out += list(range(s + f, s + n))
    return out


@pytest.mark.parametrize("n", [2, 3, 9, 33, 64, 65, 100, 257, 1000, 1001])
@pytest.mark.parametrize("window,stride", [(8, 2), (8, 8), (16, 3), (5, 1), (32, 7)])
def test_sliding_scores_every_target_once_with_longest_context(n, window, stride):
    plan = sliding_plan(n, window, stride)
    assert _scored_slots(plan) == list(range(n - 1))  # every target once, in stream order
    L = min(window, n - 1)
    assert set(plan.lengths.tolist()) == {L}  # one shape for every batch
    assert plan.score_from[0] == 0  # the first window scores all its positions
    for s, f in zip(plan.starts.tolist()[1:], plan.score_from.tolist()[1:]):
        for slot in range(s + f, s + L):
            context = slot - s + 1  # tokens the target sees
            assert context >= min(slot + 1, L - min(stride, L) + 1)
    # targets inside the first window see the whole prefix
    assert plan.starts[0] == 0 and plan.lengths[0] == L


def test_sliding_tail_is_not_rescored_and_gets_more_context():
    # the public rule would rescore the tail in every window starting past T - window
    plan = sliding_plan(1000, 64, 16)
    assert plan.scored == 999
    last_start, last_from = int(plan.starts[-1]), int(plan.score_from[-1])
    assert last_start + 64 == 999 and last_from > 64 - 16


@pytest.mark.parametrize("n,L", [(2, 4), (10, 4), (17, 4), (100, 32)])
def test_standard_plan_tiles_the_targets(n, L):
    plan = standard_plan(n, L)
    assert _scored_slots(plan) == list(range(n - 1))
    assert (plan.score_from == 0).all()
    assert plan.starts.tolist() == list(range(0, n - 1, L))


def _per_token(model, tokens, mode, cfg, tmp_path, name="nll.npy", **kw):
    path = tmp_path / name
    result = evaluate(model, tokens, byte_tables(), mode, cfg, per_token=path, **kw)
    return result, np.load(path, allow_pickle=False)


def test_stride_one_equals_brute_force_context(tmp_path):
    model = TinyCausalLM()
    tokens = torch.randint(0, 64, (60,), generator=torch.Generator().manual_seed(1))
    cfg = small_cfg(window=16, stride=1, batch_seqs=8)
    result, nll = _per_token(model, tokens, "sliding", cfg, tmp_path)
    assert nll.dtype == np.float32 and nll.shape == (59,)
    with torch.no_grad():
        for t in range(1, 60):
            ctx = tokens[max(0, t - 16):t][None]
            expect = F.cross_entropy(model(ctx)[0, -1:], tokens[t:t + 1]).item()
            assert nll[t - 1] == pytest.approx(expect, abs=2e-5), t
    assert result["tokens_scored"] == 59


def test_full_window_sliding_equals_standard_equals_one_forward(tmp_path):
    model = TinyCausalLM()
    tokens = torch.randint(0, 64, (97,), generator=torch.Generator().manual_seed(2))
    cfg = small_cfg(seq_len=96, window=96, stride=96)
    r_std, nll_std = _per_token(model, tokens, "standard", cfg, tmp_path, "a.npy")
    r_sl, nll_sl = _per_token(model, tokens, "sliding", cfg, tmp_path, "b.npy")
    with torch.no_grad():
        direct = F.cross_entropy(model(tokens[None, :-1])[0], tokens[1:], reduction="none").numpy()
    np.testing.assert_allclose(nll_std, direct, atol=1e-5)
    np.testing.assert_array_equal(nll_std, nll_sl)
    assert r_std["val_loss"] == r_sl["val_loss"]


def test_window_counts_of_both_modes():
    model = TinyCausalLM()
    tokens = torch.randint(0, 64, (400,), generator=torch.Generator().manual_seed(3))
    cfg = small_cfg(seq_len=32, window=32, stride=4)
    r_std = evaluate(model, tokens, byte_tables(), "standard", cfg)
    r_sl = evaluate(model, tokens, byte_tables(), "sliding", cfg)
    assert r_std["tokens_scored"] == r_sl["tokens_scored"] == 399
    assert r_std["windows"] == math.ceil(399 / 32) and r_sl["windows"] > r_std["windows"]


@pytest.mark.parametrize("mode", ["standard", "sliding"])
def test_bpb_uses_the_metric_module(mode):
    model = TinyCausalLM()
    tokens = torch.randint(0, 64, (301,), generator=torch.Generator().manual_seed(4))
    tables = byte_tables()
    r = evaluate(model, tokens, tables, mode, small_cfg())
    assert r["tokens_scored"] == 300
    assert r["bytes_scored"] == count_stream_bytes(tables, tokens)
    assert r["val_bpb"] == pytest.approx(bits_per_byte(r["val_loss"] * 300, 300, r["bytes_scored"]), rel=1e-12)
    assert r["tokens_per_s"] > 0 and r["seconds"] > 0


@pytest.mark.parametrize("mode", ["standard", "sliding"])
def test_causality(mode, tmp_path):
    model = TinyCausalLM()
    tokens = torch.randint(0, 64, (200,), generator=torch.Generator().manual_seed(5))
    cfg = small_cfg()
    _, base = _per_token(model, tokens, mode, cfg, tmp_path, "base.npy")
    for t in (0, 37, 100, 198):
        changed = tokens.clone()
        changed[t + 1] = (changed[t + 1] + 1) % 64
        _, nll = _per_token(model, changed, mode, cfg, tmp_path, "changed.npy")
        np.testing.assert_array_equal(nll[:t], base[:t])  # targets 1..t unchanged
        assert nll[t] != base[t]  # target t+1 itself is scored differently


def test_per_token_file_is_a_plain_npy_that_sums_to_the_loss(tmp_path):
    model = TinyCausalLM()
    tokens = torch.randint(0, 64, (150,), generator=torch.Generator().manual_seed(6))
    r, nll = _per_token(model, tokens, "sliding", small_cfg(), tmp_path)
    assert nll.shape == (149,) and nll.dtype == np.float32
    assert float(nll.astype(np.float64).mean()) == pytest.approx(r["val_loss"], rel=1e-6)
    raw = (tmp_path / "nll.npy").read_bytes()
    assert raw.startswith(b"\x93NUMPY") and b"'descr': '<f4'" in raw
    assert not list(tmp_path.glob(".*.tmp"))  # atomic write leaves no temp file


def test_bad_inputs_are_golf_errors():
    model = TinyCausalLM()
    with pytest.raises(GolfError, match="at least 2"):
        evaluate(model, torch.tensor([3]), byte_tables(), "sliding", small_cfg())
    with pytest.raises(GolfError, match="unknown eval mode"):
        evaluate(model, torch.arange(10), byte_tables(), "fancy", small_cfg())
    with pytest.raises(GolfError, match="stride"):
        evaluate(model, torch.arange(10), byte_tables(), "sliding", small_cfg(stride=64, window=32))
    with pytest.raises(GolfError, match="hedge mode"):
        evaluate(model, torch.arange(10), byte_tables(), "sliding", small_cfg(), check_normalization=True)
