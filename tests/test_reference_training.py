"""Three optimizer steps of golf and of each published script agree (losses within 1e-3).

Both sides start from the same (perturbed) weights, copied through the name/shape map of
reference_scripts.py, and train three steps on the same batch. The reference builds its optimizers as its
main() does; golf builds Muon and AdamW from the preset's [train] section, given the reference's
numerics (Newton–Schulz in bfloat16). Everything else runs in float32 on CPU, except record-1493's
bf16 token embedding, compared in its own test below.
"""

from __future__ import annotations

import dataclasses
import inspect
import types

import pytest
import torch

from golfcli.config import load_config
from golfcli.train.loop import Trainer
from golfcli.train.muon import Muon
from golfcli.train.schedule import muon_momentum
from reference_scripts import banked_pairs, copy_weights, golf_model, load_script, perturb, plain_pairs, tokens
from test_reference_models import (
    RECORD1493_ENV, RECORD1493_MODEL_END, RECORD1493_MUON, baseline_pair, hyperparameters, pr363_pair, record1204_pair,
    record1493_pair,
)

STEPS, TOL = 3, 1e-3
SMALL = {"model_dim": 128, "num_heads": 4, "num_kv_heads": 2}


def golf_optimizers(golf, preset: str) -> list[torch.optim.Optimizer]:
    """Muon (bf16 Newton–Schulz) and AdamW over golf's parameter groups, settings from the preset."""
    tc = load_config(preset).train
    groups = golf.param_groups()
    extra = {_row_normalize_arg(): True} if tc.muon_row_normalize else {}
    muon = Muon(groups["matrix"], lr=tc.matrix_lr, momentum=tc.muon_momentum_start, weight_decay=tc.muon_wd,
                ns_steps=tc.muon_ns_steps, ns_dtype=torch.bfloat16, **extra)
    adam = torch.optim.AdamW(
        [{"params": groups["embed"], "lr": tc.embed_lr, "weight_decay": tc.embed_weight_decay()},
         {"params": groups["scalar"], "lr": tc.scalar_lr, "weight_decay": tc.adam_wd}],
        betas=(tc.beta1, tc.beta2), eps=tc.adam_eps,
    )
    return [muon, adam]


def run_steps(model, optimizers, muon_opt, momentum_at, clip: float, batches) -> list[float]:
    """Losses of STEPS training steps (momentum schedule, optional global-norm clip)."""
    losses = []
    for step, (x, y) in enumerate(batches):
        for group in muon_opt.param_groups:
            group["momentum"] = momentum_at(step)
        loss = model(x, y)
        loss.backward()
        if clip > 0:
            torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.grad is not None], clip)
        for opt in optimizers:
            opt.step()
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
    return losses


def batches(vocab: int, length: int = 64):
    """One batch, seen STEPS times: the loss must fall, so the steps are shown to do something."""
    ids = tokens(vocab, 2, length + 1, seed=7)
    return [(ids[:, :-1], ids[:, 1:])] * STEPS


def compare(ref, ref_opts, ref_muon, h, golf, preset, pairs, vocab) -> None:
    copy_weights(ref, golf, pairs)
    data = batches(vocab)
    ref_losses = run_steps(ref, ref_opts, ref_muon, lambda s: muon_momentum(
        s, h.muon_momentum_warmup_start, h.muon_momentum, h.muon_momentum_warmup_steps), h.grad_clip_norm, data)
    tc = load_config(preset).train
    opts = golf_optimizers(golf, preset)
    golf_losses = run_steps(golf, opts, opts[0], lambda s: muon_momentum(
        s, tc.muon_momentum_start, tc.muon_momentum, tc.muon_momentum_warmup), tc.grad_clip, data)
    assert ref_losses[-1] < ref_losses[0], f"the reference did not train: {ref_losses}"
    diffs = [abs(a - b) for a, b in zip(ref_losses, golf_losses)]
    assert max(diffs) <= TOL, f"losses {ref_losses} (reference) vs {golf_losses} (golf)"


def _adam(groups, h, wd: float):
    return torch.optim.AdamW(groups, betas=(h.beta1, h.beta2), eps=h.adam_eps, weight_decay=wd)


def test_baseline_trains_like_baseline_train_gpt():
    mod, ref, golf = baseline_pair(**SMALL)
    h = mod.Hyperparameters()
    perturb(ref, seed=11, scale=0.01)
    blocks = list(ref.blocks.named_parameters())
    control = lambda n: any(p in n for p in mod.CONTROL_TENSOR_NAME_PATTERNS)  # noqa: E731
    muon = mod.Muon([p for n, p in blocks if p.ndim == 2 and not control(n)], lr=h.matrix_lr,
                    momentum=h.muon_momentum, backend_steps=h.muon_backend_steps)
    scalars = [p for n, p in blocks if p.ndim < 2 or control(n)] + [ref.skip_weights]
    opts = [_adam([{"params": [ref.tok_emb.weight], "lr": h.tied_embed_lr}], h, 0.0), muon,
            _adam([{"params": scalars, "lr": h.scalar_lr}], h, 0.0)]
    compare(ref, opts, muon, h, golf, "baseline", plain_pairs(ref), 1024)


@pytest.mark.parametrize("phase", [0, 1])
def test_record_1204_trains_like_record1204_train_gpt(phase):
    mod, ref, golf = record1204_pair(**SMALL)
    h = mod.Hyperparameters()
    ref.set_recurrence_active(phase == 1)
    golf.set_phase(phase)
    perturb(ref, seed=12, scale=0.01)
    banks = [ref.qo_bank, ref.kv_bank, ref.mlp_up_bank, ref.mlp_down_bank]
    muon = mod.Muon(banks + list(ref.repeat_mlp.parameters()), lr=h.matrix_lr, momentum=h.muon_momentum,
                    backend_steps=h.muon_backend_steps, weight_decay=h.muon_wd)
    control = lambda n: any(p in n for p in mod.CONTROL_TENSOR_NAME_PATTERNS)  # noqa: E731
    scalars = [p for n, p in ref.blocks.named_parameters() if p.ndim < 2 or control(n)]
    scalars += [ref.parallel_post_lambdas, ref.parallel_resid_lambdas, ref.skip_weights, ref.skip_gates,
                ref.smear.gate, ref.bigram.scale, ref.bigram.proj.weight, ref.ve_shared.proj.weight,
                ref.ve_shared.scale, *ref.ve_layer_scales]
    tables = [ref.tok_emb.weight, ref.bigram.embed.weight, ref.ve_shared.embed.weight]
    opts = [_adam([{"params": [t], "lr": h.tied_embed_lr} for t in tables], h, h.adam_wd), muon,
            _adam([{"params": scalars, "lr": h.scalar_lr}], h, h.adam_wd)]
    compare(ref, opts, muon, h, golf, "record-1204", banked_pairs(ref), 1024)


def _row_normalize_arg() -> str | None:
    """The name of golf Muon's MuonEq-R switch (train.muon_row_normalize), if it has one."""
    return next((p for p in inspect.signature(Muon.__init__).parameters if "row_normal" in p), None)


@pytest.mark.parametrize("phase", [0, 1])
def test_record_1493_trains_like_record1493_train_gpt(phase):
    if _row_normalize_arg() is None:
        pytest.skip("golf's Muon does not take row_normalize (MuonEq-R, train.muon_row_normalize) yet")
    mod, h, ref, golf = record1493_pair(vocab_size=1024, **SMALL)
    ref.looping_active = phase == 1
    golf.set_phase(phase)
    perturb(ref, seed=13, scale=0.01)
    assert (h.embed_wd, h.adam_wd) == (0.085, 0.02)  # the reference runs with its own two decays
    opts = mod.Optimizers(h, ref)
    compare(ref, list(opts), opts.optimizer_muon, h, golf, "record-1493", plain_pairs(ref), 1024)


def test_pr363_trains_like_pr363_train_gpt():
    mod, ref, golf = pr363_pair(**SMALL)
    h = mod.Hyperparameters()
    perturb(ref, seed=14, scale=0.01)
    control = lambda n: any(p in n for p in mod.CONTROL_TENSOR_NAME_PATTERNS)  # noqa: E731
    blocks = list(ref.blocks.named_parameters())
    matrices = [p for n, p in blocks if p.ndim == 2 and not control(n)]
    matrices += [p for p in ref.depth_adapters.parameters() if p.ndim == 2] + [ref.bigram_proj.weight]
    scalars = [p for n, p in blocks if p.ndim < 2 or control(n)] + [ref.skip_weights]
    muon = mod.Muon(matrices, lr=h.matrix_lr, momentum=h.muon_momentum, backend_steps=h.muon_backend_steps,
                    weight_decay=h.muon_weight_decay)
    opts = [_adam([{"params": [ref.tok_emb.weight, ref.bigram_emb.weight], "lr": h.tied_embed_lr}], h, 0.0), muon,
            _adam([{"params": scalars, "lr": h.scalar_lr}], h, 0.0)]
    compare(ref, opts, muon, h, golf, "pr363", plain_pairs(ref), 1024)


# --- record-1493's bf16 embedding (train.embed_dtype = "bf16") -----------------------------------
def _fp32_forward(mod, monkeypatch):
    """Both forwards in float32 around a bf16 table: its lookups are upcast (a hook) and the script's
    tied head casts the table to its input's dtype, as golf's does. Only the training state differs."""
    import torch.nn.functional as F

    casting = types.SimpleNamespace(**{k: getattr(F, k) for k in dir(F) if not k.startswith("__")})
    casting.linear = lambda x, w, b=None: F.linear(x, w.to(x.dtype), b)
    monkeypatch.setattr(mod, "F", casting)
    return lambda module, inputs, out: out.float()


@pytest.mark.parametrize("phase", [0, 1])
def test_record_1493_bf16_embedding_trains_like_the_scripts(phase, monkeypatch):
    """The script's `GPT(h).bfloat16()` + `restore_fp32_params` vs golf with the preset's train.embed_dtype,
    3 steps with golf's CUDA optimizers (fused AdamW, bf16 Newton–Schulz) on CPU.

    The script's `.bfloat16()` also rounds its RoPE `inv_freq` buffer (golf's model.rope_dtype, compared
    in tests/test_reference_rope.py); here the script gets its fp32 buffers back and golf fp32 tables, so
    that the test isolates the table. With float32 forwards on both sides, what is compared is the bf16 table and its bf16 AdamW
    moments: losses within 1e-4 and most table entries bit-identical, where the same run with an fp32
    table (the control) shares almost no entry with the script.
    """
    mod = load_script("record1493_train_gpt.py", env=RECORD1493_ENV, stop_at=RECORD1493_MODEL_END,
                      extra=(RECORD1493_MUON[0], "def collect_hessians("))
    upcast = _fp32_forward(mod, monkeypatch)
    tc = load_config("record-1493").train
    assert tc.embed_dtype == "bf16"
    results = {}
    for embed_dtype in ("bf16", "fp32"):
        h = hyperparameters(mod, vocab_size=1024, **SMALL)
        h.embedding_dim = h.model_dim
        torch.manual_seed(0)
        ref = mod.GPT(h)
        perturb(ref, seed=13, scale=0.01)
        rotary = [(m, m.inv_freq.clone()) for m in ref.modules() if isinstance(m, mod.Rotary)]
        ref = ref.bfloat16()
        mod.restore_fp32_params(ref)
        for m, inv_freq in rotary:
            m.inv_freq, m._cos_cached = inv_freq, None
        assert {n for n, p in ref.named_parameters() if p.dtype != torch.float32} == {"tok_emb.weight"}
        ref.looping_active = phase == 1
        ref.tok_emb.register_forward_hook(upcast)
        golf = golf_model("record-1493", vocab_size=1024, rope_dtype="fp32", **SMALL)
        golf.set_phase(phase)
        if embed_dtype == "bf16":
            golf.tok_emb.bfloat16()  # what Trainer does with it (tests/test_embed_dtype.py)
        golf.tok_emb.register_forward_hook(upcast)
        copy_weights(ref, golf, plain_pairs(ref))
        data = batches(1024)
        ref_opts = mod.Optimizers(h, ref)
        ref_losses = run_steps(ref, list(ref_opts), ref_opts.optimizer_muon, lambda s: muon_momentum(
            s, h.muon_momentum_warmup_start, h.muon_momentum, h.muon_momentum_warmup_steps), h.grad_clip_norm, data)
        fake = types.SimpleNamespace(tc=dataclasses.replace(tc, embed_dtype=embed_dtype), model=golf, cuda=True,
                                     params=list(golf.parameters()), device=torch.device("cpu"),
                                     dist=types.SimpleNamespace(rank=0, world_size=1))
        opts = Trainer._build_optimizers(fake)
        losses = run_steps(golf, opts, opts[0], lambda s: muon_momentum(
            s, tc.muon_momentum_start, tc.muon_momentum, tc.muon_momentum_warmup), tc.grad_clip, data)
        table, ref_table = golf.tok_emb.weight.detach().float(), ref.tok_emb.weight.detach().float()
        moments = {t.dtype for opt in opts for p, st in opt.state.items() if p is golf.tok_emb.weight
                   for k, t in st.items() if k.startswith("exp_avg")}
        results[embed_dtype] = (max(abs(a - b) for a, b in zip(ref_losses, losses)),
                                (table == ref_table).float().mean().item(), moments)
        assert ref_losses[-1] < ref_losses[0] - 1.0
    loss_diff, same, moments = results["bf16"]
    assert moments == {torch.bfloat16} and results["fp32"][2] == {torch.float32}
    assert loss_diff <= 1e-4, results
    assert same >= 0.8 and results["fp32"][1] <= 0.01, results
