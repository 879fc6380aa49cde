"""golf's score-first TTT eval computes what record1493_train_gpt.py's `eval_val_ttt` computes.

A tiny record-1493-shaped model (its 11-layer looped layout at d = 64, vocab 1024), the reference's
weights copied into golf's through the name map of reference_scripts.py, float32 on CPU (the script's
`torch.compile` is made the identity; its CUDA autocast is inactive on CPU). Both sides run the
same sliding windows (off the stride grid the script's last window is shorter: the preset's
eval.grid_tail), score each chunk before training on it, and train with the same SGD, cosine
schedule, clip and epochs. The script's eval model is `.bfloat16()` + restore_fp32_params: its bf16
table is reproduced by eval.ttt_embed_dtype (its own test); its bf16 RoPE buffer by the preset's
model.rope_dtype, so the script's model gets it here. With one process
nothing else differs; under torchrun the script splits
each chunk's windows and sequences into contiguous rank shares and averages per-rank mean losses,
golf splits each global batch and divides by the global token count: the same sums for the presets'
16 equal sequences per chunk, in another float order.
"""

from __future__ import annotations

import copy
import dataclasses
import types
import warnings

import pytest
import torch

from eval_helpers import byte_tables
from golfcli.config import load_config
from golfcli.eval import evaluate
from reference_scripts import copy_weights, golf_model, load_script, perturb, plain_pairs, tokens
from test_reference_models import RECORD1493_ENV, RECORD1493_MODEL_END, bf16_rotary, hyperparameters

VOCAB, DIMS = 1024, {"model_dim": 64, "num_heads": 4, "num_kv_heads": 2}
SEQ, STRIDE, CHUNK = 128, 32, 512
N_TOKENS = 4 * CHUNK + 192 + 1  # 2,240 targets: 5 chunks, the last one partial; (N - 1 - SEQ) % STRIDE == 0
TTT = {"ttt_epochs": 2, "ttt_lr": 0.05}  # the preset's 0.005 moves this tiny model too little to show


def _pair():
    mod = load_script("record1493_train_gpt.py", env=RECORD1493_ENV, stop_at=RECORD1493_MODEL_END,
                      extra=("def _loss_bpb(", "def timed_eval("))
    h = hyperparameters(mod, vocab_size=VOCAB, embedding_dim=DIMS["model_dim"], eval_seq_len=SEQ,
                        eval_stride=STRIDE, ttt_chunk_tokens=CHUNK, ttt_momentum=0.9, rank=0, world_size=1, **DIMS)
    for k, v in TTT.items():
        setattr(h, k, v)
    torch.manual_seed(0)
    ref = mod.GPT(h)
    bf16_rotary(mod, ref)  # the eval model's `.bfloat16()` rounds its RoPE buffer (model.rope_dtype)
    perturb(ref, seed=21, scale=0.02)
    ref.looping_active = True  # the eval model: `deserialize` then looping on
    golf = golf_model("record-1493", vocab_size=VOCAB, **DIMS)
    golf.set_phase(golf.final_phase)
    copy_weights(ref, golf, plain_pairs(ref))
    return mod, h, ref, golf


def _golf_cfg(embed_dtype: str = "fp32"):
    """The preset's [eval] at the test's sizes; its bf16 table only where the script's model has one."""
    cfg = load_config("record-1493").eval
    return dataclasses.replace(cfg, window=SEQ, stride=STRIDE, ttt_chunk_tokens=CHUNK, ttt_seq_len=SEQ,
                               compile=False, ttt_embed_dtype=embed_dtype, **TTT)


def _script_ttt(mod, h, ref, stream, tables, batch: int) -> tuple[float, float]:
    val = types.SimpleNamespace(val_tokens=stream, base_bytes_lut=tables.base_bytes,
                                has_leading_space_lut=tables.has_leading_space, is_boundary_token_lut=tables.is_boundary)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "CUDA is not available": its autocast is off on CPU
        return mod.eval_val_ttt(h, torch.device("cpu"), val, ref, batch_seqs=batch)


def test_record_1493_presets_ttt_settings_are_the_scripts():
    mod = load_script("record1493_train_gpt.py", env=RECORD1493_ENV, stop_at=RECORD1493_MODEL_END,
                      extra=("def _loss_bpb(", "def timed_eval("))
    h = mod.Hyperparameters()
    for preset in ("record-1493", "record-1493-sp1024"):
        e = load_config(preset).eval
        assert (e.window, e.stride, e.ttt_seq_len) == (h.eval_seq_len, h.eval_stride, h.eval_seq_len)
        assert (e.ttt_chunk_tokens, e.ttt_epochs, e.ttt_lr, e.ttt_momentum) == (
            h.ttt_chunk_tokens, h.ttt_epochs, h.ttt_lr, h.ttt_momentum)
        assert e.ttt_grad_clip == 1.0 and e.ttt_whole_seqs and e.ttt_batch_seqs == 32  # its fixed clip and batch
        assert e.grid_tail and e.ttt_embed_dtype == "bf16"


# extra = 31: the stride grid stops 31 targets short of the end; batch 2: two SGD steps per epoch and chunk
@pytest.mark.parametrize("extra,batch", [(0, 32), (31, 32), (31, 2)])
def test_ttt_bpb_equals_eval_val_ttt(monkeypatch, extra, batch):
    mod, h, ref, golf = _pair()
    monkeypatch.setattr(torch, "compile", lambda fn, **_: fn)
    stream = tokens(VOCAB, 1, N_TOKENS + extra, seed=5).flatten()
    tables = byte_tables(VOCAB)
    cfg = dataclasses.replace(_golf_cfg(), ttt_batch_seqs=batch)
    assert cfg.grid_tail  # the preset's: the script's shorter last window
    ref_loss, ref_bpb = _script_ttt(mod, h, ref, stream, tables, batch)
    if extra == 0:
        plain = evaluate(copy.deepcopy(golf), stream, tables, "sliding", cfg)
        assert abs(plain["val_bpb"] - ref_bpb) > 1e-3  # TTT changed the score well beyond the tolerance
    if batch == 32:  # golf's default end-aligned last window: the same on the grid; off it, its 31 targets see more
        aligned = evaluate(copy.deepcopy(golf), stream, tables, "sliding", dataclasses.replace(cfg, grid_tail=False),
                           ttt=True)
        assert (abs(aligned["val_bpb"] - ref_bpb) <= 1e-7) == (extra == 0)
    got = evaluate(golf, stream, tables, "sliding", cfg, ttt=True)
    assert got["tokens_scored"] == N_TOKENS + extra - 1 and got["ttt_chunks"] == 5 and got["ttt_trained_chunks"] == 4
    # measured: |Δbpb| ≈ 2e-9 (float32 summation order); 1e-7 still tells the two tails apart
    assert got["val_loss"] == pytest.approx(ref_loss, abs=1e-7)
    assert got["val_bpb"] == pytest.approx(ref_bpb, abs=1e-7)


def test_grid_tail_keeps_the_grids_shorter_last_window():
    from golfcli.eval.sliding import sliding_plan

    for n in (2, 50, 129, 1000, 1001, 1024 + 64 + 1):
        for grid_tail in (False, True):
            sliding_plan(n, 128, 32, grid_tail).check(n)  # every target scored once, in order
    a, b = sliding_plan(1000, 128, 32), sliding_plan(1000, 128, 32, grid_tail=True)
    assert torch.equal(a.starts[:-1], b.starts[:-1]) and torch.equal(a.lengths[:-1], b.lengths[:-1])
    # 999 targets: full windows start at 0, 32, ..., 864 (scoring up to 992); then the last 7 targets
    assert (int(a.starts[-1]), int(a.lengths[-1]), int(a.score_from[-1])) == (871, 128, 121)
    assert (int(b.starts[-1]), int(b.lengths[-1]), int(b.score_from[-1])) == (896, 103, 96)
    assert torch.equal(sliding_plan(1025, 128, 32).lengths, sliding_plan(1025, 128, 32, True).lengths)  # on the grid


def test_bf16_table_ttt_equals_eval_val_ttt_on_the_scripts_bf16_eval_model(monkeypatch):
    """The script's eval model (`.bfloat16()` + restore_fp32_params) scores and trains a bf16 table:
    eval.ttt_embed_dtype = "bf16" (the presets') does the same. Both forwards are kept in float32 around
    the bf16 table (lookups upcast, the script's tied head casting the table as golf's does; both RoPE
    tables bf16), so what is compared is SGD with momentum on a
    bf16 table; the control keeps golf's table in fp32 (with the same bf16-rounded values)."""
    import torch.nn.functional as F

    mod, h, ref, golf = _pair()
    monkeypatch.setattr(torch, "compile", lambda fn, **_: fn)
    casting = types.SimpleNamespace(**{k: getattr(F, k) for k in dir(F) if not k.startswith("__")})
    casting.linear = lambda x, w, b=None: F.linear(x, w.to(x.dtype), b)
    monkeypatch.setattr(mod, "F", casting)
    h.ttt_lr = load_config("record-1493").eval.ttt_lr
    ref.tok_emb.bfloat16()
    with torch.no_grad():
        golf.tok_emb.weight.copy_(ref.tok_emb.weight.float())
    upcast = lambda module, inputs, out: out.float()  # noqa: E731
    for model in (ref, golf):
        model.tok_emb.register_forward_hook(upcast)
    stream = tokens(VOCAB, 1, N_TOKENS, seed=5).flatten()
    tables = byte_tables(VOCAB)
    cfg = dataclasses.replace(_golf_cfg("bf16"), ttt_lr=h.ttt_lr)
    control = evaluate(copy.deepcopy(golf), stream, tables, "sliding", dataclasses.replace(cfg, ttt_embed_dtype="fp32"),
                       ttt=True)
    _, ref_bpb = _script_ttt(mod, h, ref, stream, tables, 32)
    got = evaluate(golf, stream, tables, "sliding", cfg, ttt=True)
    assert golf.tok_emb.weight.dtype == torch.bfloat16
    # measured: |Δbpb| ≈ 4e-9; the fp32-table control is 1e-4 off
    assert got["val_bpb"] == pytest.approx(ref_bpb, abs=1e-7)
    assert abs(control["val_bpb"] - ref_bpb) > 1e-5
