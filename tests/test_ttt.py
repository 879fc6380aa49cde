"""Score-first TTT: chunks scored before training, last chunk never trained on, causality."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eval_helpers import VOCAB, TinyCausalLM, byte_tables, repetitive_stream, small_cfg
from golfcli.eval import evaluate, plan_for
from golfcli.eval import runner as runner_module
from golfcli.eval.ttt import ScoreFirstTrainer, chunk_sequences



def test_chunk_sequences_cover_the_span_once():
    seqs = chunk_sequences(10, 75, 32)
    assert seqs == [(10, 42), (42, 74), (74, 75)]  # inputs [start, end), targets start+1 .. end
    assert chunk_sequences(5, 5, 32) == []


def test_trains_only_on_scored_tokens_and_never_on_the_last_chunk(monkeypatch):
    calls = []
    scored_upto = {"slot": 0}

    class Recording(ScoreFirstTrainer):
        def adapt(self, chunk, first, last):
            # every target the chunk trains on (tokens first+1 .. last) is already scored
            assert last <= scored_upto["slot"]
            calls.append((chunk, first, last))
            super().adapt(chunk, first, last)

    real_score = runner_module.WindowScorer.score_sums

    def score_sums(self, plan, tables, nll_out=None):
        out = real_score(self, plan, tables, nll_out)
        scored_upto["slot"] = max(scored_upto["slot"], int(plan.end_slot.max()))  # one past the last slot scored
        return out

    monkeypatch.setattr(runner_module, "ScoreFirstTrainer", Recording)
    monkeypatch.setattr(runner_module.WindowScorer, "score_sums", score_sums)
    tokens = repetitive_stream(300)
    cfg = small_cfg()
    r = evaluate(TinyCausalLM(), tokens, byte_tables(), "sliding", cfg, ttt=True)
    chunks = plan_for("sliding", 300, cfg).chunks(cfg.ttt_chunk_tokens)
    assert r["ttt_chunks"] == len(chunks) == 5 and r["ttt_trained_chunks"] == 4
    assert [c for c, _, _ in calls] == [0, 1, 2, 3]
    for (c, first, last), chunk, nxt in zip(calls, chunks, chunks[1:]):
        assert first == int(chunk.first_slot[0]) and last == int(chunk.end_slot[-1])
        assert last == int(nxt.first_slot[0])  # trained up to the token before the next scored target
    assert r["tokens_scored"] == 299


def test_zero_epochs_equals_plain_sliding():
    tokens = repetitive_stream(200)
    cfg = small_cfg(ttt_epochs=0)
    a = evaluate(TinyCausalLM(), tokens, byte_tables(), "sliding", cfg)
    b = evaluate(TinyCausalLM(), tokens, byte_tables(), "sliding", cfg, ttt=True)
    assert a["val_loss"] == b["val_loss"]


def test_adaptation_changes_weights_and_helps_on_repetitive_text():
    tokens = repetitive_stream(700)
    cfg = small_cfg(ttt_lr=0.3, ttt_epochs=2, ttt_chunk_tokens=128)
    plain = evaluate(TinyCausalLM(), tokens, byte_tables(), "sliding", cfg)
    model = TinyCausalLM()
    before = model.head.weight.detach().clone()
    adapted = evaluate(model, tokens, byte_tables(), "sliding", cfg, ttt=True)
    assert not torch.equal(before, model.head.weight)
    assert adapted["val_bpb"] < plain["val_bpb"] - 0.1
    assert not model.training  # left in eval mode


def test_cosine_learning_rate():
    trainer = ScoreFirstTrainer(TinyCausalLM(), torch.arange(10), small_cfg(ttt_lr=0.01), n_chunks=5)
    assert [round(trainer.lr_for(c), 6) for c in range(5)] == [0.01, 0.008536, 0.005, 0.001464, 0.0]
    with pytest.raises(RuntimeError, match="last chunk"):
        trainer.adapt(4, 0, 5)


@pytest.mark.parametrize("mode", ["sliding", "hedge"])
def test_causality(mode, tmp_path):
    tokens = repetitive_stream(220)
    cfg = small_cfg(ttt_lr=0.1)

    def run(stream, name):
        path = tmp_path / name
        evaluate(TinyCausalLM(), stream, byte_tables(), mode, cfg, ttt=True, per_token=path)
        return np.load(path, allow_pickle=False)

    base = run(tokens, "base.npy")
    for t in (10, 63, 64, 150):  # 63/64: the last target of chunk 0 and the first of chunk 1
        changed = tokens.clone()
        changed[t + 1] = (changed[t + 1] + 5) % VOCAB
        nll = run(changed, "changed.npy")
        np.testing.assert_array_equal(nll[:t], base[:t])
        assert nll[t] != base[t]


def test_whole_sequences_only_drops_the_short_tail():
    assert chunk_sequences(10, 75, 32, whole_only=True) == [(10, 42), (42, 74)]
    assert chunk_sequences(10, 41, 32, whole_only=True) == []


def test_whole_sequences_option_equals_training_on_the_truncated_span(monkeypatch):
    tokens = repetitive_stream(400)
    cfg = dict(ttt_lr=0.3, ttt_epochs=2, ttt_seq_len=24)  # 64-token chunks: two whole sequences + 16
    whole = evaluate(TinyCausalLM(), tokens, byte_tables(), "sliding", small_cfg(ttt_whole_seqs=True, **cfg), ttt=True)
    full = evaluate(TinyCausalLM(), tokens, byte_tables(), "sliding", small_cfg(**cfg), ttt=True)
    real_adapt = ScoreFirstTrainer.adapt

    def truncated(self, chunk, first, last):
        real_adapt(self, chunk, first, first + (last - first) // 24 * 24)

    monkeypatch.setattr(ScoreFirstTrainer, "adapt", truncated)
    by_hand = evaluate(TinyCausalLM(), tokens, byte_tables(), "sliding", small_cfg(**cfg), ttt=True)
    assert whole["val_loss"] == by_hand["val_loss"]
    assert whole["ttt_trained_chunks"] == full["ttt_trained_chunks"] > 0
    assert abs(whole["val_loss"] - full["val_loss"]) > 1e-6  # the tail's training is really left out
