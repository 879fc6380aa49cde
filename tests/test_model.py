"""The GPT of every preset at a reduced width: forward/backward, causality, KV cache, groups, init."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from golfcli.config import ModelConfig, list_presets, load_config
from golfcli.errors import GolfError
from golfcli.model import GPT

MODEL_PRESETS = list_presets()  # every shipped preset gets the forward, causality, cache and group tests
VOCAB, T = 64, 12

# The stack each shipped preset builds: physical blocks, then the virtual depth of each recurrence
# phase. A preset added to golfcli/presets without an entry here fails
# test_every_shipped_model_preset_is_covered.
STACKS = {
    "tiny": (4, [4]),
    "baseline": (9, [9]),
    "record-1204": (11, [11, 13]),
    "loop-segment": (11, [11, 17]),
    "middle-cycle": (9, [15]),
    "recur-3x4": (3, [6, 9, 12]),
    "stabilized-loop": (6, [14]),
    "record-1493": (11, [11, 17]),
    "record-1493-sp1024": (11, [11, 17]),
    "pr363": (3, [9]),
}


def small(cfg: ModelConfig) -> ModelConfig:
    """The same architecture at a CPU-test width (every option that is on stays on)."""
    changes = dict(vocab_size=VOCAB, model_dim=32, num_heads=4, num_kv_heads=2)
    if cfg.rope_dims:
        changes["rope_dims"] = 4
    if cfg.rope_train_seq_len:
        changes["rope_train_seq_len"] = 8  # T > 8 exercises the NTK rescale
    if cfg.bigram_vocab_size:
        changes.update(bigram_vocab_size=37, bigram_dim=8)
    if cfg.ve_dim:
        changes["ve_dim"] = 8
    if cfg.loop_adapter_dim:
        changes["loop_adapter_dim"] = 4
    return dataclasses.replace(cfg, **changes)


def build(preset: str, phase: str = "final", seed: int = 0, **overrides) -> GPT:
    torch.manual_seed(seed)
    cfg = dataclasses.replace(small(load_config(preset).model), **overrides)
    model = GPT(cfg)
    _randomize(model)
    model.set_phase(model.final_phase if phase == "final" else 0)
    return model.eval()


def _randomize(model: GPT) -> None:
    """Give zero-initialised weights and gates non-trivial values so every path matters."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.1)


def test_every_shipped_model_preset_is_covered():
    missing, stale = sorted(set(list_presets()) - set(STACKS)), sorted(set(STACKS) - set(list_presets()))
    assert not missing, f"shipped presets with no expected stack in tests/test_model.py STACKS: {missing}"
    assert not stale, f"STACKS names presets that are not shipped: {stale}"


@pytest.mark.parametrize("preset", MODEL_PRESETS)
def test_preset_builds_its_stack(preset):
    if preset not in STACKS:
        pytest.fail(f"preset {preset!r} has no expected stack in tests/test_model.py STACKS")
    model = build(preset)
    depths = [len(model.schedule.layout(phase).layers) for phase in range(model.num_phases)]
    assert (len(model.blocks), depths) == STACKS[preset]


@pytest.mark.parametrize("preset", MODEL_PRESETS)
def test_forward_backward_every_phase(preset):
    model = build(preset).train()
    ids = torch.randint(0, VOCAB, (2, T))
    for phase in range(model.num_phases):
        model.set_phase(phase)
        logits = model(ids)
        assert logits.shape == (2, T, VOCAB) and logits.dtype == torch.float32
        assert logits.abs().max() <= model.cfg.logit_softcap
        model.zero_grad()
        loss = model(ids, ids)
        assert loss.ndim == 0 and torch.isfinite(loss)
        loss.backward()
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        assert grads and all(torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("preset", MODEL_PRESETS)
def test_causal(preset):
    """Changing token t+1 leaves the logits at positions ≤ t unchanged (BigramHash, SmearGate too)."""
    model = build(preset)
    ids = torch.randint(0, VOCAB, (1, T))
    cuts = (0, 4, T - 2)
    batch = ids.repeat(len(cuts) + 1, 1)
    for row, t in enumerate(cuts, start=1):
        batch[row, t + 1] = (batch[row, t + 1] + 7) % VOCAB
    out = model(batch)
    for row, t in enumerate(cuts, start=1):
        torch.testing.assert_close(out[row, : t + 1], out[0, : t + 1], rtol=0, atol=1e-5)
        assert (out[row, t + 1] - out[0, t + 1]).abs().max() > 1e-4


@pytest.mark.parametrize("preset", MODEL_PRESETS)
def test_kv_cache_matches_full_forward(preset):
    model = build(preset)
    ids = torch.randint(0, VOCAB, (2, T))
    full = model(ids)
    cache = model.new_cache(2, max_len=T)
    pieces = [model.forward_step(ids[:, :3], cache)]  # a prompt, then one token at a time
    pieces += [model.forward_step(ids[:, i : i + 1], cache) for i in range(3, T)]
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, rtol=1e-4, atol=1e-4)


def test_kv_cache_refuses_other_phase_and_overflow():
    model = build("record-1204", phase="start")
    cache = model.new_cache(1, max_len=4)
    model.set_phase(model.final_phase)
    with pytest.raises(GolfError, match="phase"):
        model.forward_step(torch.zeros(1, 1, dtype=torch.long), cache)
    model.set_phase(0)
    model.forward_step(torch.zeros(1, 4, dtype=torch.long), cache)
    with pytest.raises(ValueError, match="holds 4"):
        model.forward_step(torch.zeros(1, 1, dtype=torch.long), cache)


@pytest.mark.parametrize("preset", MODEL_PRESETS)
def test_param_groups_partition_parameters(preset):
    model = build(preset)
    groups = model.param_groups()
    assert set(groups) == {"matrix", "embed", "scalar"}
    ids = [id(p) for ps in groups.values() for p in ps]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    assert all(p.ndim == 2 for p in groups["matrix"])
    assert model.tok_emb.weight in [p for p in groups["embed"]]


def test_group_membership_follows_the_record():
    model = build("record-1204")
    names = {id(p): n for n, p in model.named_parameters()}
    by_group = {g: {names[id(p)] for p in ps} for g, ps in model.param_groups().items()}
    assert {"tok_emb.weight", "bigram.embed.weight", "ve_shared.embed.weight"} == by_group["embed"]
    assert {"bigram.proj.weight", "ve_shared.proj.weight", "smear.gate", "skip_gates"} <= by_group["scalar"]
    assert "repeat_mlp.0.mlp.fc.weight" in by_group["matrix"] and "blocks.4.attn.q.weight" in by_group["matrix"]


def test_names_carry_quantization_roles():
    from golfcli.qtensor import role_of

    roles = {n: role_of(n) for n, _ in build("record-1204").named_parameters()}
    assert roles["blocks.3.attn.q.weight"] == roles["blocks.3.attn.proj.weight"] == "attn"
    assert roles["blocks.3.mlp.fc.weight"] == roles["repeat_mlp.1.mlp.proj.weight"] == "mlp"
    assert roles["tok_emb.weight"] == roles["bigram.embed.weight"] == roles["ve_shared.embed.weight"] == "embed"


def test_recurrent_block_hooks_fire_once_per_pass():
    model = build("record-1204")
    calls = []
    model.blocks[4].attn.q.register_forward_hook(lambda m, i, o: calls.append(i[0].shape))
    model.blocks[4].mlp.fc.register_forward_hook(lambda m, i, o: calls.append("mlp"))
    model(torch.zeros(1, T, dtype=torch.long))
    assert len(calls) == 3  # attention twice (shared), base MLP once (the repeat pass has its own)
    seen = []
    model.final_norm.register_forward_hook(lambda m, i, o: seen.append(o.shape))
    model(torch.zeros(1, T, dtype=torch.long))
    assert seen == [(1, T, 32)]


def test_switching_recurrence_on_copies_untied_mlps():
    model = build("record-1204", phase="start")
    with torch.no_grad():
        for p in model.repeat_mlp.parameters():
            p.normal_()
    before = [p.clone() for p in model.repeat_mlp.parameters()]
    model.set_phase(1)  # loading a trained checkpoint: no copy
    assert all(torch.equal(a, b) for a, b in zip(before, model.repeat_mlp.parameters()))
    model.set_phase(0)
    model.set_phase(1, copy_untied=True)
    for j, base in enumerate((4, 5)):
        assert torch.equal(model.repeat_mlp[j].mlp.fc.weight, model.blocks[base].mlp.fc.weight)
        assert torch.equal(model.repeat_mlp[j].mlp.proj.weight, model.blocks[base].mlp.proj.weight)
        assert model.repeat_mlp[j].mlp.fc.weight.data_ptr() != model.blocks[base].mlp.fc.weight.data_ptr()


def test_record_init_follows_the_spec():
    torch.manual_seed(0)
    cfg = dataclasses.replace(small(load_config("record-1204").model), model_dim=64, bigram_dim=64)
    model = GPT(cfg)
    w = model.bigram.proj.weight  # constructed, then re-initialised orthogonally (both dims ≥ 64)
    torch.testing.assert_close(w.T @ w, torch.eye(64), atol=1e-4, rtol=0)
    q = model.blocks[3].attn.q.weight
    torch.testing.assert_close(q @ q.T, torch.eye(64), atol=1e-4, rtol=0)
    assert model.bigram.embed.weight.abs().max() == 0
    assert model.blocks[3].attn.proj.weight.abs().max() == 0 and model.blocks[3].mlp.proj.weight.abs().max() == 0
    assert abs(model.tok_emb.weight.std().item() - 0.005) < 5e-4
    assert torch.equal(model.controls[12].q_gain, torch.full((4,), 1.5))
    r = model.repeat_mlp[1].mlp.proj.weight  # orthogonal, not zero, until recurrence copies block 5's MLP
    torch.testing.assert_close(r @ r.T, torch.eye(64), atol=1e-4, rtol=0)
    assert model.parallel_resid_lambdas[7, 0].item() == pytest.approx(1.1 ** 0.5)
    assert model.bigram.scale.item() == pytest.approx(0.05) and model.ve_shared.scale.item() == pytest.approx(0.1)


def test_baseline_matches_a_hand_written_reference():
    """The baseline forward equals a straight transcription of the naive baseline's equations."""
    import torch.nn.functional as F

    model = build("baseline", num_layers=3, rope_dtype="fp32")  # its bf16 tables: tests/test_reference_rope.py
    ids = torch.randint(0, VOCAB, (2, T))
    n = lambda t: F.rms_norm(t, (t.shape[-1],))  # noqa: E731
    x = x0 = n(model.tok_emb.weight[ids])
    hd, pos = 8, torch.arange(T, dtype=torch.float32)
    inv = 1.0 / (10000.0 ** (torch.arange(0, hd // 2, dtype=torch.float32) / (hd // 2)))
    cos, sin = torch.outer(pos, inv).cos(), torch.outer(pos, inv).sin()

    def rope(t):
        a, b = t[..., : hd // 2], t[..., hd // 2 :]
        c, s = cos[None, :, None], sin[None, :, None]
        return torch.cat((a * c + b * s, b * c - a * s), -1)  # the published scripts' direction

    skips = []
    for i, blk in enumerate(model.blocks):
        ctl = model.controls[i]
        if i >= 1 and skips:  # 1 encoder layer, 2 decoder layers
            x = x + model.skip_weights[i - 1] * skips.pop()
        x = ctl.resid_mix[0] * x + ctl.resid_mix[1] * x0
        h = n(x)
        q = rope(n((h @ blk.attn.q.weight.T).view(2, T, 4, hd))) * ctl.q_gain[None, None, :, None]
        k = rope(n((h @ blk.attn.k.weight.T).view(2, T, 2, hd)))
        v = (h @ blk.attn.v.weight.T).view(2, T, 2, hd)
        k, v = k.repeat_interleave(2, 2), v.repeat_interleave(2, 2)
        att = (q.transpose(1, 2) @ k.transpose(1, 2).transpose(-1, -2)) / hd**0.5
        att = att.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf")).softmax(-1)
        y = (att @ v.transpose(1, 2)).transpose(1, 2).reshape(2, T, 32)
        x = x + ctl.attn_scale * (y @ blk.attn.proj.weight.T)
        m = torch.relu(n(x) @ blk.mlp.fc.weight.T).square() @ blk.mlp.proj.weight.T
        x = x + ctl.mlp_scale * m
        if i < 1:
            skips.append(x)
    z = n(x) @ model.tok_emb.weight.T
    torch.testing.assert_close(model(ids), 30 * torch.tanh(z / 30), rtol=1e-4, atol=1e-4)


def test_xsa_removes_the_own_value_direction():
    from golfcli.model.attention import Attention, Rotary

    torch.manual_seed(0)
    attn = Attention(32, 4, 2)
    rot = Rotary(8, 0, 10000.0, 0)
    captured = {}
    attn.proj.register_forward_hook(lambda m, i, o: captured.setdefault("y", i[0]))
    attn.v.register_forward_hook(lambda m, i, o: captured.setdefault("v", o))
    attn(torch.randn(1, 5, 32), torch.ones(4), (rot, *rot.cos_sin(0, 5, 5, torch.device("cpu"))), xsa=True)
    y = captured["y"].view(1, 5, 2, 2, 8)
    v = captured["v"].view(1, 5, 2, 1, 8)
    assert (y * v).sum(-1).abs().max() < 1e-5


def test_rope_rotates_in_the_published_direction():
    """(x1, x2) → (x1·cos + x2·sin, −x1·sin + x2·cos): position 1 of a 2-dim head, angle 1 rad."""
    from golfcli.model.attention import Rotary

    rot = Rotary(2, 0, 10000.0, 0)
    cos, sin = rot.cos_sin(0, 2, 2, torch.device("cpu"))
    x = torch.tensor([3.0, 5.0]).repeat(1, 2, 1, 1)  # (B, T, H, D)
    out = rot.apply(x, cos, sin)[0, 1, 0]
    c, s = math.cos(1.0), math.sin(1.0)
    torch.testing.assert_close(out, torch.tensor([3 * c + 5 * s, -3 * s + 5 * c]))


def test_rope_rescale_base():
    from golfcli.model.attention import Rotary

    rot = Rotary(64, 16, 10000.0, 1024)
    assert rot.base_for(1024) == 10000.0
    assert rot.base_for(2048) == pytest.approx(22081.0, abs=1.0)


def test_bigram_buckets():
    from golfcli.model.embeddings import BigramHash

    bh = BigramHash(2816, 8, 16)
    ids = torch.tensor([[5, 7, 1023]])
    expected = [2815, ((36313 * 7) ^ (27191 * 5)) % 2815, ((36313 * 1023) ^ (27191 * 7)) % 2815]
    assert bh.bucket_ids(ids).tolist() == [expected]
    assert bh.bucket_ids(ids[:, 1:], prev_last=ids[:, 0]).tolist() == [expected[1:]]


def test_prime_bigram_buckets():
    """PR #363's hash: (prev·1000003 + cur) mod buckets, position 0 paired with itself, no scale."""
    from golfcli.model.embeddings import BigramHash

    bh = BigramHash(2048, 8, 16, "prime")
    ids = torch.tensor([[5, 7, 1023]])
    expected = [(5 * 1000003 + 5) % 2048, (5 * 1000003 + 7) % 2048, (7 * 1000003 + 1023) % 2048]
    assert bh.bucket_ids(ids).tolist() == [expected]
    assert bh.bucket_ids(ids[:, 1:], prev_last=ids[:, 0]).tolist() == [expected[1:]]
    assert bh.scale is None and bh.proj.zero_init


@pytest.mark.parametrize("bad", [
    {"mlp_activation": "gelu"}, {"unet_skips": "sideways"}, {"recurrence": "spiral"},
    {"recurrence": "mini", "recur_layers": (4, 6)}, {"recurrence": "segment", "loop_start": 5, "loop_end": 3},
    {"recurrence": "shared", "loop_repeats": 4, "progressive_depth": "0.5:3,1.0:2"},
    {"progressive_depth": "half:2"}, {"num_heads": 5},
])
def test_bad_options_are_golf_errors(bad):
    with pytest.raises(GolfError):
        GPT(dataclasses.replace(ModelConfig(num_layers=2, model_dim=32, num_heads=4, num_kv_heads=2), **bad))


def test_untied_head_starts_at_zero_logits_and_trains():
    model = build("tiny", tie_embeddings=False)
    with torch.no_grad():
        model.lm_head.weight.zero_()
    ids = torch.randint(0, VOCAB, (1, T))
    assert model(ids).abs().max() == 0
    names = {id(p): n for n, p in model.named_parameters()}
    assert "lm_head.weight" in {names[id(p)] for p in model.param_groups()["embed"]}
    model.train()(ids, ids).backward()
    assert model.lm_head.weight.grad.abs().max() > 0


def test_film_scale_is_clamped():
    model = build("stabilized-loop")
    ids = torch.randint(0, VOCAB, (1, T))
    with torch.no_grad():
        model.film_gamma.fill_(4.0)
        at_cap = model(ids)
        model.film_gamma.fill_(25.0)
        torch.testing.assert_close(model(ids), at_cap)
        model.film_gamma.fill_(2.0)
        assert (model(ids) - at_cap).abs().max() > 1e-4


def test_depth_encoding_is_the_sine_table():
    model = GPT(small(load_config("stabilized-loop").model))
    enc = model.depth_enc
    assert enc.shape == (14, 32) and enc[0].abs().max() == 0
    assert enc[3, 5].item() == pytest.approx(torch.sin(torch.tensor(3 / 10000 ** (5 / 32))).item(), abs=1e-6)
    assert "depth_enc" not in model.state_dict()  # a fixed buffer: zero bytes in the artifact


def test_disabled_layer0_attention_is_reported_unused_and_gets_no_gradient():
    model = build("record-1204").train()
    unused = model.unused_weight_names()
    assert unused == [f"blocks.0.attn.{n}.weight" for n in ("q", "k", "v", "proj")] + [
        "controls.0.q_gain", "controls.0.attn_scale"]
    model(torch.randint(0, VOCAB, (1, T)), torch.randint(0, VOCAB, (1, T))).backward()
    params = dict(model.named_parameters())
    assert all(params[n].grad is None for n in unused)
    assert all(p.grad is not None for n, p in params.items() if n not in unused)
    assert build("baseline").unused_weight_names() == []
