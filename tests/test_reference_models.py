"""golf's presets compute the published scripts' functions (../shared/reference, loaded at test time).

Weights are copied from the reference model into golf's through a name/shape map only
(reference_scripts.py); both run in float32 on CPU, except the RoPE buffer that the baseline's and
record 1493's `.bfloat16()` leaves in bf16 and PR #363's casts back to float32 (model.rope_dtype,
tests/test_reference_rope.py; record-1204's reads its buffer only up to 1024 tokens and runs at 2048). Every weight is perturbed first so that the
zero-initialised ones take part. Logits agree to 1e-4 and every gradient to 1e-4 relative.
"""

from __future__ import annotations

import pytest
import torch

from golfcli.config import load_config
from golfcli.model.params import param_report
from reference_scripts import (
    banked_pairs, copy_weights, golf_model, grad_errors, load_script, logits_via_final_norm, perturb, plain_pairs,
    tokens,
)

# The logged runs' settings beyond each script's defaults (reference README; record1493_seed42.log)
RECORD1204_ENV = {
    "BIGRAM_DIM": "160", "MIXED_QUANT": "1", "N_INT6_LAYERS": "32", "NUM_LAYERS": "11", "RECUR_LAYERS": "4,5",
    "RECUR_START_STEP": "3000", "REPEAT_UNTIE_MLP": "full", "REPEAT_UNTIE_MLP_LAYERS": "4,5",
    "DISABLE_LAYER0_ATTN": "1", "PARALLEL_RESIDUAL": "1", "PARALLEL_START_LAYER": "7",
}
RECORD1493_ENV = {"QK_GAIN_INIT": "5.25"}
RECORD1493_MODEL_END = "def classify_param("
RECORD1493_MUON = ("@torch.compile\ndef zeropower_via_newtonschulz5", "def restore_fp32_params(")
TOL = 1e-4


def hyperparameters(module, **attrs):
    """The script's Hyperparameters (read from the environment at load time), then `attrs` set on it."""
    h = module.Hyperparameters()
    for k, v in attrs.items():
        setattr(h, k, v)
    return h


def check_equal(ref, golf, ids, ref_logits, pairs, ref_loss) -> None:
    """Logits within TOL and every gradient within TOL relative."""
    with torch.no_grad():
        delta = (ref_logits(ids) - golf(ids)).abs().max().item()
    assert delta <= TOL, f"max |Δlogits| = {delta:.3g}"
    targets = torch.roll(ids, -1, dims=1)
    ref_loss(ids, targets).backward()
    golf(ids, targets).backward()
    errors = grad_errors(ref, golf, pairs)
    worst = max(errors, key=errors.get)
    assert errors[worst] <= TOL, f"gradient of {worst} differs by {errors[worst]:.3g} (relative)"


def bf16_rotary(mod, ref, back: torch.dtype | None = None) -> None:
    """What the script's `.bfloat16()` does to its Rotary buffers (golf's model.rope_dtype = "bf16"), then
    casting them `back` (PR #363's main(): model.rope_dtype = "bf16_inv_freq")."""
    for m in ref.modules():
        if isinstance(m, mod.Rotary):
            m.inv_freq, m._cos_cached = m.inv_freq.bfloat16().to(back or torch.bfloat16), None


# --- baseline --------------------------------------------------------------------------------
def tied_softcap_head(ref):
    """The scripts' logits from the final hidden state: the tied embedding, softcapped."""
    cap = ref.logit_softcap
    return lambda h: cap * torch.tanh(torch.nn.functional.linear(h, ref.tok_emb.weight) / cap)


def baseline_reference(mod, h):
    """The baseline script's GPT at hyperparameters `h`, built after torch.manual_seed(0)."""
    torch.manual_seed(0)
    return mod.GPT(vocab_size=h.vocab_size, num_layers=h.num_layers, model_dim=h.model_dim, num_heads=h.num_heads,
                   num_kv_heads=h.num_kv_heads, mlp_mult=h.mlp_mult, tie_embeddings=h.tie_embeddings,
                   tied_embed_init_std=h.tied_embed_init_std, logit_softcap=h.logit_softcap, rope_base=h.rope_base,
                   qk_gain_init=h.qk_gain_init)


def baseline_pair(**dims):
    mod = load_script("baseline_train_gpt.py")
    h = hyperparameters(mod, **dims)
    ref = baseline_reference(mod, h)
    golf = golf_model("baseline", vocab_size=h.vocab_size, num_layers=h.num_layers, model_dim=h.model_dim,
                      num_heads=h.num_heads, num_kv_heads=h.num_kv_heads, mlp_mult=float(h.mlp_mult))
    bf16_rotary(mod, ref)
    return mod, ref, golf


def test_baseline_equals_baseline_train_gpt():
    _, ref, golf = baseline_pair()
    assert golf.num_params() == sum(p.numel() for p in ref.parameters()) == 17_059_912
    perturb(ref, seed=1)
    pairs = plain_pairs(ref)
    copy_weights(ref, golf, pairs)
    check_equal(ref, golf, tokens(1024, 2, 128), logits_via_final_norm(ref, ref, tied_softcap_head(ref)), pairs, ref)


# --- record-1204 ------------------------------------------------------------------------------
def record1204_pair(**dims):
    mod = load_script("record1204_train_gpt.py", env=RECORD1204_ENV)
    h = hyperparameters(mod, **dims)
    layers = mod._parse_layer_list
    torch.manual_seed(0)
    ref = mod.GPT(
        vocab_size=h.vocab_size, num_layers=h.num_layers, model_dim=h.model_dim, num_heads=h.num_heads,
        num_kv_heads=h.num_kv_heads, mlp_mult=h.mlp_mult, tie_embeddings=h.tie_embeddings,
        tied_embed_init_std=h.tied_embed_init_std, logit_softcap=h.logit_softcap, rope_base=h.rope_base,
        qk_gain_init=h.qk_gain_init, bigram_vocab_size=h.bigram_vocab_size, bigram_dim=h.bigram_dim,
        xsa_last_n=h.xsa_last_n, rope_dims=h.rope_dims, ln_scale=h.ln_scale, ve_enabled=h.ve_enabled,
        ve_dim=h.ve_dim, ve_layers=h.ve_layers, canon_ac_layers=layers(h.canon_ac_layers),
        parallel_residual=h.parallel_residual, parallel_start_layer=h.parallel_start_layer,
        parallel_start_layer_is_physical=h.parallel_start_layer_is_physical, neg_slope=h.negative_slope,
        disable_layer0_attn=h.disable_layer0_attn, recur_layers=layers(h.recur_layers_str), recurrence_active=False,
        repeat_untie_mlp=h.repeat_untie_mlp, repeat_untie_mlp_layers=layers(h.repeat_untie_mlp_layers),
    )
    golf = golf_model("record-1204", model_dim=h.model_dim, num_heads=h.num_heads, num_kv_heads=h.num_kv_heads,
                      bigram_dim=h.bigram_dim)
    return mod, ref, golf


@pytest.mark.parametrize("phase, length, dims", [
    (0, 128, {}),
    (1, 128, {}),
    (1, 1280, {"model_dim": 128, "num_heads": 4, "num_kv_heads": 2}),  # longer than 1024: NTK-rescaled RoPE
], ids=["phase0", "phase1", "phase1-ntk-1280"])
def test_record_1204_equals_record1204_train_gpt(phase, length, dims):
    _, ref, golf = record1204_pair(**dims)
    if not dims:
        assert golf.num_params() == sum(p.numel() for p in ref.parameters()) == 30_352_046
    ref.set_recurrence_active(phase == 1)  # before the copy: switching on copies the base MLPs
    golf.set_phase(phase)
    perturb(ref, seed=2)
    pairs = banked_pairs(ref)
    copy_weights(ref, golf, pairs)
    check_equal(ref, golf, tokens(1024, 1 if length > 128 else 2, length), ref.forward_logits, pairs, ref)


# --- record-1493 ------------------------------------------------------------------------------
def record1493_pair(**dims):
    mod = load_script("record1493_train_gpt.py", env=RECORD1493_ENV, stop_at=RECORD1493_MODEL_END,
                      extra=RECORD1493_MUON)
    h = hyperparameters(mod, **dims)
    if "model_dim" in dims:
        h.embedding_dim = h.model_dim
    torch.manual_seed(0)
    ref = mod.GPT(h)
    golf = golf_model("record-1493", vocab_size=h.vocab_size, model_dim=h.model_dim, num_heads=h.num_heads,
                      num_kv_heads=h.num_kv_heads)
    bf16_rotary(mod, ref)
    return mod, h, ref, golf


@pytest.mark.parametrize("phase", [0, 1])
def test_record_1493_equals_record1493_train_gpt(phase):
    _, _, ref, golf = record1493_pair()
    assert golf.num_params() == sum(p.numel() for p in ref.parameters()) == 35_944_536
    ref.looping_active = phase == 1
    golf.set_phase(phase)
    perturb(ref, seed=3)
    pairs = plain_pairs(ref)
    copy_weights(ref, golf, pairs)
    check_equal(ref, golf, tokens(8192, 2, 128), ref.forward_logits, pairs, ref)


# --- PR #363 ----------------------------------------------------------------------------------
def pr363_pair(**dims):
    mod = load_script("pr363_train_gpt.py")
    h = hyperparameters(mod, **dims)
    torch.manual_seed(0)
    ref = mod.RecurrentGPT(
        vocab_size=h.vocab_size, num_unique_blocks=h.num_unique_blocks, effective_depth=h.effective_depth,
        depth_lora_rank=h.depth_lora_rank, model_dim=h.model_dim, num_heads=h.num_heads,
        num_kv_heads=h.num_kv_heads, mlp_mult=h.mlp_mult, tie_embeddings=h.tie_embeddings,
        tied_embed_init_std=h.tied_embed_init_std, logit_softcap=h.logit_softcap, rope_base=h.rope_base,
        qk_gain_init=h.qk_gain_init, bigram_buckets=h.bigram_buckets, bigram_dim=h.bigram_dim,
        xsa_last_n=h.xsa_last_n,
    )
    golf = golf_model("pr363", model_dim=h.model_dim, num_heads=h.num_heads, num_kv_heads=h.num_kv_heads)
    bf16_rotary(mod, ref, back=torch.float32)
    return mod, ref, golf


def test_pr363_preset_equals_pr363_train_gpt():
    _, ref, golf = pr363_pair()
    assert all(b.attn.use_xsa for b in ref.blocks) and all(l.xsa for l in golf.schedule.full.layers)
    assert golf.num_params() == sum(p.numel() for p in ref.parameters()) == 6_429_720
    perturb(ref, seed=4)
    pairs = plain_pairs(ref)
    copy_weights(ref, golf, pairs)
    check_equal(ref, golf, tokens(1024, 2, 128), logits_via_final_norm(ref, ref, tied_softcap_head(ref)), pairs, ref)


@pytest.mark.parametrize("preset, logged", [("record-1204", 30_352_046), ("record-1493", 35_944_536)])
def test_parameter_counts_equal_the_logs(preset, logged):
    assert param_report(load_config(preset).model)["total"] == logged
