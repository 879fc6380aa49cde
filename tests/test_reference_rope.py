"""model.rope_dtype = "bf16": golf's RoPE tables are those of a script's `.bfloat16()` model.

record1493_train_gpt.py and baseline_train_gpt.py build `GPT(...).bfloat16()` and then restore only
parameters to float32: the Rotary `inv_freq` buffer stays bf16, so positions (rounded to multiples of
2, 4, 8 above 256, 512, 1024), angles and cos/sin are bf16 wherever the base is not rescaled.
pr363_train_gpt.py casts the buffer back to float32 after that: its frequencies stay bf16-rounded and
the rest is float32 (rope_dtype = "bf16_inv_freq"). The scripts are
loaded from ../shared/reference at test time (skipped when absent); both sides run on CPU in float32
around the scripts' bf16 buffer and token table.
"""

from __future__ import annotations

import types

import pytest
import torch
import torch.nn.functional as F

from golfcli.config import load_config
from golfcli.config.base import SettingError
from reference_scripts import copy_weights, golf_model, load_script, logits_via_final_norm, perturb, plain_pairs, tokens
from test_reference_models import (RECORD1493_ENV, RECORD1493_MODEL_END, RECORD1493_MUON, baseline_reference,
                                   hyperparameters)

TINY = {"model_dim": 64, "num_heads": 4, "num_kv_heads": 2}
CPU = torch.device("cpu")


def _record1493():
    return load_script("record1493_train_gpt.py", env=RECORD1493_ENV, stop_at=RECORD1493_MODEL_END,
                       extra=(RECORD1493_MUON[0], "def collect_hessians("))  # through restore_fp32_params


def _tables(rotary, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A script Rotary's cos and sin for `length` positions as (length, dims/2) float32."""
    return tuple(t.reshape(length, -1).float() for t in rotary(length, CPU, torch.float32))


def _golf_tables(model, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    return tuple(t.float() for t in model.rotary.cos_sin(0, length, length, CPU))


def _equal(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("length", [2048, 3072], ids=["train-length", "ntk-3072"])
def test_record_1493_tables_equal_the_scripts_bfloat16_rotary_bit_for_bit(length):
    mod = _record1493()
    cfg = load_config("record-1493").model
    assert load_config("record-1493-sp1024").model.rope_dtype == cfg.rope_dtype == "bf16"
    ref = mod.Rotary(cfg.model_dim // cfg.num_heads, base=cfg.rope_base, train_seq_len=cfg.rope_train_seq_len,
                     rope_dims=cfg.rope_dims).bfloat16()
    assert ref.inv_freq.dtype == torch.bfloat16
    want = _tables(ref, length)
    got = _golf_tables(golf_model("record-1493"), length)
    fp32 = _golf_tables(golf_model("record-1493", rope_dtype="fp32"), length)
    assert _equal(got, want)
    if length <= cfg.rope_train_seq_len:  # bf16 tables; golf's fp32 ones are far off at rounded positions
        assert got[0].dtype == torch.float32 and (fp32[0] - want[0]).abs().max() > 1.0
    else:  # the script recomputes a rescaled base in float32, as golf does with either setting
        assert _equal(fp32, want)


def test_record_1204_keeps_fp32_tables_as_its_script_runs_only_rescaled_ones():
    """Its Rotary (train length 1024) reads the bf16 buffer only up to 1024 tokens; at the 2048 it trains
    and evaluates at it recomputes the rescaled base in float32: golf's fp32 tables, bit for bit."""
    mod = load_script("record1204_train_gpt.py")
    cfg = load_config("record-1204")
    assert cfg.model.rope_dtype == "fp32" and cfg.train.seq_len == cfg.eval.seq_len == cfg.eval.window == 2048
    m = cfg.model
    ref = mod.Rotary(m.model_dim // m.num_heads, base=m.rope_base, train_seq_len=m.rope_train_seq_len,
                     rope_dims=m.rope_dims).bfloat16()
    golf = golf_model("record-1204")
    assert _equal(_golf_tables(golf, 2048), _tables(ref, 2048))
    # at lengths it never runs the script would use its bf16 buffer, which golf's "bf16" reproduces
    assert not _equal(_golf_tables(golf, 1024), _tables(ref, 1024))
    assert _equal(_golf_tables(golf_model("record-1204", rope_dtype="bf16"), 1024), _tables(ref, 1024))


def test_baseline_and_pr363_tables_equal_their_scripts_rotary_bit_for_bit():
    cfg = load_config("baseline").model
    head_dim = cfg.model_dim // cfg.num_heads
    length = load_config("baseline").train.seq_len
    base = load_script("baseline_train_gpt.py").Rotary(head_dim, base=cfg.rope_base).bfloat16()
    assert cfg.rope_dtype == "bf16" and _equal(_golf_tables(golf_model("baseline"), length), _tables(base, length))
    pr363 = load_script("pr363_train_gpt.py").Rotary(head_dim, base=cfg.rope_base).bfloat16()
    pr363.inv_freq.data = pr363.inv_freq.data.float()  # what its main() does after `.bfloat16()`
    golf = golf_model("pr363")
    assert golf.cfg.rope_dtype == "bf16_inv_freq" and _equal(_golf_tables(golf, length), _tables(pr363, length))
    assert golf.rotary.cos_sin(0, length, length, CPU)[0].dtype == torch.float32
    for other in ("bf16", "fp32"):  # neither of the other settings computes PR #363's tables
        assert not _equal(_golf_tables(golf_model("pr363", rope_dtype=other), length), _tables(pr363, length))


def _fp32_forward(mod, monkeypatch, ref) -> None:
    """The script's forward in float32 around its bf16 token table: lookups upcast, its tied head casting
    the table to its input's dtype as golf's does."""
    casting = types.SimpleNamespace(**{k: getattr(F, k) for k in dir(F) if not k.startswith("__")})
    casting.linear = lambda x, w, b=None: F.linear(x, w.to(x.dtype), b)
    monkeypatch.setattr(mod, "F", casting)
    ref.tok_emb.register_forward_hook(lambda module, inputs, out: out.float())


def _deltas(ref_logits, golf_of, ref, ids) -> dict[str, float]:
    """max |Δlogits| against golf with each rope_dtype, the reference's weights copied in."""
    out = {}
    with torch.no_grad():
        want = ref_logits(ids)
        for dtype in ("bf16", "fp32"):
            golf = golf_of(dtype)
            copy_weights(ref, golf, plain_pairs(ref))
            out[dtype] = (golf(ids) - want).abs().max().item()
    return out


@pytest.mark.parametrize("phase", [0, 1])
def test_record_1493_logits_equal_the_scripts_bfloat16_model_at_2048_tokens(phase, monkeypatch):
    """Positions 512..2047 round in bf16: golf's rope_dtype = "bf16" computes the script's model
    after `.bfloat16()` + restore_fp32_params; fp32 tables are measurably off."""
    mod = _record1493()
    h = hyperparameters(mod, vocab_size=1024, **TINY)
    h.embedding_dim = h.model_dim
    torch.manual_seed(0)
    ref = mod.GPT(h)
    perturb(ref, seed=31)
    ref = ref.bfloat16()
    mod.restore_fp32_params(ref)
    assert {n for n, p in ref.named_parameters() if p.dtype != torch.float32} == {"tok_emb.weight"}
    assert {b.dtype for b in ref.buffers()} == {torch.bfloat16}  # the Rotary buffers
    ref.looping_active = phase == 1
    _fp32_forward(mod, monkeypatch, ref)

    def golf_of(dtype):
        golf = golf_model("record-1493", vocab_size=1024, rope_dtype=dtype, **TINY)
        golf.set_phase(phase)
        return golf

    deltas = _deltas(ref.forward_logits, golf_of, ref, tokens(1024, 1, h.train_seq_len, seed=3))
    assert deltas["bf16"] <= 1e-4 and deltas["fp32"] > 1e-3, deltas


def test_baseline_logits_equal_the_scripts_bfloat16_model_at_1024_tokens(monkeypatch):
    """The baseline's main(): `.bfloat16()`, CastedLinear back to float, low-dim parameters to fp32."""
    mod = load_script("baseline_train_gpt.py")
    h = hyperparameters(mod, **TINY)
    ref = baseline_reference(mod, h)
    perturb(ref, seed=32)
    ref = ref.bfloat16()
    for module in ref.modules():
        if isinstance(module, mod.CastedLinear):
            module.float()
    mod.restore_low_dim_params_to_fp32(ref)
    assert {n for n, p in ref.named_parameters() if p.dtype != torch.float32} == {"tok_emb.weight"}
    _fp32_forward(mod, monkeypatch, ref)
    cap = ref.logit_softcap
    head = lambda x: cap * torch.tanh(F.linear(x, ref.tok_emb.weight.float()) / cap)  # noqa: E731
    golf_of = lambda dtype: golf_model("baseline", rope_dtype=dtype, **TINY)  # noqa: E731
    deltas = _deltas(logits_via_final_norm(ref, ref, head), golf_of, ref, tokens(1024, 1, h.train_seq_len))
    assert deltas["bf16"] <= 1e-4 and deltas["fp32"] > 1e-3, deltas


def test_an_unknown_rope_dtype_is_named_before_anything_is_built():
    assert load_config("tiny").model.rope_dtype == "fp32"  # the default: fp32 tables
    with pytest.raises(SettingError, match=r"model\.rope_dtype must be fp32, bf16 or bf16_inv_freq, got 'fp16'"):
        load_config("record-1493", overrides=["model.rope_dtype=\"fp16\""])
