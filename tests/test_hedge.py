"""The Hedge mixer: real distributions, score-before-update, equality with sliding, causality."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from eval_helpers import VOCAB, TinyCausalLM, byte_tables, repetitive_stream, small_cfg
from golfcli.config import EvalConfig
from golfcli.errors import GolfError
from golfcli.eval import evaluate
from golfcli.eval.hedge import HedgeMixer, earlier_equal, trigram_bucket



def _run(model, tokens, cfg, tmp_path, mode="hedge", name="nll.npy", **kw):
    path = tmp_path / name
    r = evaluate(model, tokens, byte_tables(), mode, cfg, per_token=path, **kw)
    return r, np.load(path, allow_pickle=False)


def test_neural_only_hedge_equals_sliding_to_the_last_digit(tmp_path):
    model = TinyCausalLM()
    tokens = torch.randint(0, VOCAB, (333,), generator=torch.Generator().manual_seed(0))
    cfg = small_cfg(hedge_experts=["neural"])
    r_sl, nll_sl = _run(model, tokens, cfg, tmp_path, "sliding", "a.npy")
    r_h, nll_h = _run(model, tokens, cfg, tmp_path, "hedge", "b.npy")
    np.testing.assert_array_equal(nll_h, nll_sl)
    assert (r_h["val_loss"], r_h["val_bpb"], r_h["bytes_scored"]) == (r_sl["val_loss"], r_sl["val_bpb"],
                                                                         r_sl["bytes_scored"])
    assert r_h["gain_bpb"] == 0.0 and r_h["expert_weights"] == {"neural": 1.0}


def test_mixture_is_a_normalized_distribution_and_scores_are_its_log_loss():
    tokens = repetitive_stream(400)
    cfg = small_cfg(hedge_temperatures=[0.7, 1.5], hedge_update_tokens=16)
    mixer = HedgeMixer(cfg, VOCAB, tokens)
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(399, VOCAB, generator=g) * 3
    targets = tokens[1:]
    nll_neural = torch.nn.functional.cross_entropy(logits, targets, reduction="none")
    lp = mixer.neural_logprobs(logits, nll_neural, targets)
    mixer.score(0, lp[:200])  # learn from 200 tokens first
    assert mixer.counts.totals["unigram"].sum() == 200  # added once the call has scored them
    for slot in (200, 201, 250, 398):
        before = mixer.distribution(slot, logits[slot])
        assert float(before.sum()) == pytest.approx(1.0, abs=1e-12)
        assert (before > 0).all()
    # scoring 200..207 (inside one update span) uses exactly those distributions
    dists = [mixer.distribution(s, logits[s]) for s in range(200, 208)]
    mixed = mixer.score(200, lp[200:208])
    for i, s in enumerate(range(200, 208)):
        assert float(mixed[i]) == pytest.approx(-math.log(float(dists[i][tokens[s + 1]])), rel=1e-5)
    assert sum(mixer.weights.values()) == pytest.approx(1.0)
    assert list(mixer.weights) == ["neural", "neural_t0.7", "neural_t1.5", "unigram", "bigram", "trigram"]


def test_check_normalization_runs_and_reports(tmp_path):
    model = TinyCausalLM()
    tokens = repetitive_stream(300)
    r = evaluate(model, tokens, byte_tables(), "hedge", small_cfg(hedge_temperatures=[2.0]),
                 check_normalization=True)
    assert r["normalization_checks"] >= 10
    assert r["max_normalization_error"] <= 1e-6


def test_counts_change_only_after_tokens_are_scored():
    tokens = repetitive_stream(200)
    cfg = small_cfg(hedge_update_tokens=50)
    mixer = HedgeMixer(cfg, VOCAB, tokens)
    lp = torch.full((199, 1), -math.log(VOCAB))
    w0 = mixer.weights
    mixer.score(0, lp[:49])
    assert mixer.counts.totals["unigram"].sum() == 49 and mixer.weights == w0  # weights move at slot 50
    mixer.score(49, lp[49:120])
    assert mixer.weights != w0
    for e in ("unigram", "bigram", "trigram"):
        assert mixer.counts.totals[e].sum() == 120 and mixer.counts.cells[e].sum() == 120
    with pytest.raises(RuntimeError, match="expected slot"):
        mixer.score(130, lp[130:140])  # slots must come in stream order


def test_every_target_counts_exactly_the_tokens_before_it():
    # unigram only: the score of target t is -log((count of y among targets < t + a) / (t - 1 + aV))
    tokens = torch.tensor([3, 5, 5, 7, 5, 5, 7, 7, 5, 3, 5, 5])
    a = 0.5
    cfg = small_cfg(hedge_experts=["unigram"], hedge_alpha=a)
    expect = []
    for slot in range(11):
        y = int(tokens[slot + 1])
        before = int((tokens[1:slot + 1] == y).sum())
        expect.append(-math.log((before + a) / (slot + a * VOCAB)))
    whole = HedgeMixer(cfg, VOCAB, tokens).score(0, torch.zeros(11, 0))
    assert whole.tolist() == pytest.approx(expect, rel=1e-6)
    pieces = HedgeMixer(cfg, VOCAB, tokens)
    split = torch.cat([pieces.score(0, torch.zeros(4, 0)), pieces.score(4, torch.zeros(1, 0)),
                       pieces.score(5, torch.zeros(6, 0))])
    assert torch.equal(split, whole)  # batching does not change what a target sees


def test_earlier_equal_matches_a_loop():
    keys = torch.randint(0, 5, (300,), generator=torch.Generator().manual_seed(3))
    loop = [int((keys[:i] == keys[i]).sum()) for i in range(300)]
    assert earlier_equal(keys).tolist() == loop


def test_result_does_not_depend_on_batching():
    model = TinyCausalLM()
    tokens = repetitive_stream(300)
    r1 = evaluate(model, tokens, byte_tables(), "hedge", small_cfg(batch_seqs=1))
    r7 = evaluate(model, tokens, byte_tables(), "hedge", small_cfg(batch_seqs=7))
    assert r1["val_loss"] == pytest.approx(r7["val_loss"], rel=1e-6)
    assert r1["expert_weights"] == pytest.approx(r7["expert_weights"], rel=1e-5)


@pytest.mark.parametrize("rule", ["eg", "hedge"])
def test_ngram_experts_help_on_repetitive_text(rule):
    model = TinyCausalLM()
    tokens = repetitive_stream(1500)
    r = evaluate(model, tokens, byte_tables(), "hedge", small_cfg(hedge_rule=rule, hedge_eta=0.5))
    assert r["gain_bpb"] > 0.5 and r["val_bpb"] < r["neural_bpb"]
    assert r["expert_weights"]["neural"] < 0.5  # the untrained model loses its weight


def test_causality(tmp_path):
    model = TinyCausalLM()
    tokens = repetitive_stream(260)
    cfg = small_cfg(hedge_temperatures=[0.5])
    _, base = _run(model, tokens, cfg, tmp_path, name="base.npy")
    for t in (5, 23, 24, 130, 258):  # 23/24 sit on an update boundary (small_cfg: update_tokens = 24)
        changed = tokens.clone()
        changed[t + 1] = (changed[t + 1] + 7) % VOCAB
        _, nll = _run(model, changed, cfg, tmp_path, name="changed.npy")
        np.testing.assert_array_equal(nll[:t], base[:t])
        assert nll[t] != base[t]


def test_trigram_key_is_the_context_only():
    p2, p1 = torch.tensor([5, 5, 9]), torch.tensor([7, 7, 7])
    h = trigram_bucket(p2, p1, 65536)
    assert h[0] == h[1] and h[0] != h[2]
    assert trigram_bucket.__code__.co_argcount == 3  # (p2, p1, table_size): the target has no say


def test_entropy_expert_and_bad_options_are_refused():
    with pytest.raises(GolfError, match="hedge_experts"):
        EvalConfig(hedge_experts=["neural", "entropy"]).validate()
    with pytest.raises(GolfError, match="hedge_init_weights"):
        EvalConfig(hedge_init_weights=[1.0, 1.0]).validate()
    with pytest.raises(GolfError, match="temperatures"):
        EvalConfig(hedge_temperatures=[0.0]).validate()
    with pytest.raises(GolfError, match="hedge_rule"):
        EvalConfig(hedge_rule="entropy").validate()


def test_initial_weights_option():
    tokens = repetitive_stream(50)
    mixer = HedgeMixer(small_cfg(hedge_init_weights=[3.0, 1.0, 0.0 + 1.0, 3.0]), VOCAB, tokens)
    assert mixer.weights == pytest.approx({"neural": 0.375, "unigram": 0.125, "bigram": 0.125, "trigram": 0.375})
