"""Loading the published training scripts of ../shared/reference at test time, and comparing golf to them.

The scripts are read from disk and executed as modules without `main()`; their CUDA-only import
(`flash_attn_interface`) gets an exact float32 SDPA stand-in. Nothing of them is copied into golf.
Weights go from the reference model into golf's through a name/shape map only: each pair is one
reference tensor (or one slice of a weight bank) and one golf tensor (or one slice), same shape,
copied as is.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
import types
from pathlib import Path
from typing import Callable

import pytest
import torch
import torch.nn.functional as F

from golfcli.config import load_config
from golfcli.model import GPT

REFERENCE_DIR = Path(__file__).resolve().parents[2] / "shared" / "reference"
Pair = tuple[str, object, str, object]  # (reference name, index or None, golf name, index or None)


def _flash_attn_func(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = True, **_) -> torch.Tensor:
    """flash_attn_func on (B, T, H, D) tensors: causal SDPA, query head h reads KV head h // (H/Hkv)."""
    rep = q.shape[2] // k.shape[2]
    k, v = k.repeat_interleave(rep, dim=2), v.repeat_interleave(rep, dim=2)
    y = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=causal)
    return y.transpose(1, 2)


def _stub_cuda_imports() -> None:
    if "flash_attn_interface" not in sys.modules:
        stub = types.ModuleType("flash_attn_interface")
        stub.flash_attn_func = _flash_attn_func
        sys.modules["flash_attn_interface"] = stub


_LOADED: dict[tuple[str, str], types.ModuleType] = {}


def load_script(
    file: str, env: dict[str, str] | None = None, stop_at: str | None = None, extra: tuple[str, str] | None = None,
) -> types.ModuleType:
    """The reference script `file` as a module (skips the test when ../shared/reference is absent).

    `env`: environment variables set while it executes (its Hyperparameters read them then).
    `stop_at`: execute only the text before this line start (record1493's f-strings need Python 3.12
    after its model classes). `extra`: (start, end) markers of one more region to execute after it,
    with `@torch.compile` dropped (its Muon, compiled only for speed on GPU).
    """
    path = REFERENCE_DIR / file
    if not path.exists():
        pytest.skip(f"reference script {path} not found (the published scripts live in ../shared/reference)")
    key = (file, repr(sorted((env or {}).items())), str(stop_at), str(extra))
    if key in _LOADED:
        return _LOADED[key]
    _stub_cuda_imports()
    text = path.read_text(encoding="utf-8")
    body = text[: text.index(stop_at)] if stop_at else text
    module = types.ModuleType(f"reference_{path.stem}")
    module.__file__ = str(path)
    saved = {k: os.environ.get(k) for k in env or {}}
    os.environ.update(env or {})
    try:
        exec(compile(body, str(path), "exec"), module.__dict__)  # noqa: S102 - the published script, read-only
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k)
            else:
                os.environ[k] = v
    if extra:
        start, end = extra
        region = text[text.index(start): text.index(end)].replace("@torch.compile\n", "")
        exec(compile(region, str(path), "exec"), module.__dict__)  # noqa: S102
    _LOADED[key] = module
    return module


def golf_model(preset: str, **changes) -> GPT:
    """golf's GPT of a preset with some model fields changed."""
    cfg = dataclasses.replace(load_config(preset).model, **changes)
    return GPT(cfg)


def perturb(model: torch.nn.Module, seed: int, scale: float = 0.02) -> None:
    """Add N(0, scale²) to every parameter, so zero-initialised tensors take part in the comparison."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * scale)


def _get(tensors: dict[str, torch.Tensor], name: str, index) -> torch.Tensor:
    t = tensors[name]
    return t if index is None else t[index]


def copy_weights(ref: torch.nn.Module, golf: GPT, pairs: list[Pair]) -> None:
    """Copy each reference tensor into its golf tensor; every tensor on both sides is covered exactly once."""
    rp, gp = dict(ref.named_parameters()), dict(golf.named_parameters())
    covered = {name: 0 for name in gp}
    used = {name: 0 for name in rp}
    with torch.no_grad():
        for rname, ridx, gname, gidx in pairs:
            src, dst = _get(rp, rname, ridx), _get(gp, gname, gidx)
            assert src.shape == dst.shape, f"{rname}[{ridx}] {tuple(src.shape)} vs {gname}[{gidx}] {tuple(dst.shape)}"
            dst.copy_(src)
            covered[gname] += dst.numel()
            used[rname] += src.numel()
    assert {n: c for n, c in covered.items() if c != gp[n].numel()} == {}, "golf tensors not covered exactly once"
    assert {n: c for n, c in used.items() if c != rp[n].numel()} == {}, "reference tensors not used exactly once"


def grad_errors(ref: torch.nn.Module, golf: GPT, pairs: list[Pair]) -> dict[str, float]:
    """‖g_golf − g_ref‖ / max(‖g_ref‖, 1e-12) per pair (a missing gradient counts as zeros)."""
    rp, gp = dict(ref.named_parameters()), dict(golf.named_parameters())
    errors = {}
    for rname, ridx, gname, gidx in pairs:
        rg = rp[rname].grad if rp[rname].grad is not None else torch.zeros_like(rp[rname])
        gg = gp[gname].grad if gp[gname].grad is not None else torch.zeros_like(gp[gname])
        a, b = _get({"t": rg}, "t", ridx), _get({"t": gg}, "t", gidx)
        errors[f"{rname}[{ridx}]"] = ((b - a).norm() / max(a.norm().item(), 1e-12)).item()
    return errors


# --- name maps ------------------------------------------------------------------------------
_BLOCK_RULES = [
    (r"blocks\.(\d+)\.attn\.c_q\.weight", r"blocks.\1.attn.q.weight"),
    (r"blocks\.(\d+)\.attn\.c_k\.weight", r"blocks.\1.attn.k.weight"),
    (r"blocks\.(\d+)\.attn\.c_v\.weight", r"blocks.\1.attn.v.weight"),
    (r"blocks\.(\d+)\.attn\.proj\.weight", r"blocks.\1.attn.proj.weight"),
    (r"blocks\.(\d+)\.mlp\.(fc|proj)\.weight", r"blocks.\1.mlp.\2.weight"),
    (r"blocks\.(\d+)\.attn\.q_gain", r"controls.\1.q_gain"),
    (r"blocks\.(\d+)\.(attn_scale|mlp_scale|resid_mix)", r"controls.\1.\2"),
    (r"(tok_emb\.weight|skip_weights|skip_gates|smear\.gate|bigram\.\w+(\.weight)?|ve_shared\.\w+(\.weight)?"
     r"|parallel_post_lambdas|parallel_resid_lambdas)", r"\1"),
    (r"repeat_mlp\.(\d+)\.(fc|proj)\.weight", r"repeat_mlp.\1.mlp.\2.weight"),
    (r"bigram_emb\.weight", "bigram.embed.weight"),
    (r"bigram_proj\.weight", "bigram.proj.weight"),
    (r"depth_adapters\.(\d+)\.(q_down|q_up|v_down|v_up)\.weight", r"lora.\1.\2.weight"),
]


def renamed(ref_name: str) -> str:
    """golf's name of a reference parameter (module-per-tensor scripts)."""
    for pattern, repl in _BLOCK_RULES:
        if re.fullmatch(pattern, ref_name):
            return re.sub(pattern, repl, ref_name)
    raise KeyError(f"no golf name for reference parameter {ref_name}")


def plain_pairs(ref: torch.nn.Module) -> list[Pair]:
    """Pairs for the baseline, record-1493 and PR #363 scripts (one module per tensor)."""
    return [(name, None, renamed(name), None) for name, _ in ref.named_parameters()]


def banked_pairs(ref: torch.nn.Module) -> list[Pair]:
    """Pairs for record-1204, whose block matrices live in four banks indexed by physical layer."""
    n = ref.num_layers
    pairs: list[Pair] = []
    for i in range(n):
        pairs += [("qo_bank", i, f"blocks.{i}.attn.q.weight", None),
                  ("qo_bank", n + i, f"blocks.{i}.attn.proj.weight", None),
                  ("kv_bank", i, f"blocks.{i}.attn.k.weight", None),
                  ("kv_bank", n + i, f"blocks.{i}.attn.v.weight", None),
                  ("mlp_up_bank", i, f"blocks.{i}.mlp.fc.weight", None),
                  ("mlp_down_bank", i, f"blocks.{i}.mlp.proj.weight", None)]
    for name, _ in ref.named_parameters():
        if name.endswith("_bank"):
            continue
        m = re.fullmatch(r"ve_layer_scales\.(\d+)", name)
        if m:
            k = int(m.group(1))
            pairs.append((name, None, "ve_layer_scales", slice(k, k + 1)))
        else:
            pairs.append((name, None, renamed(name), None))
    return pairs


def logits_via_final_norm(model: torch.nn.Module, loss_forward: Callable, head: Callable) -> Callable:
    """For scripts whose forward returns only the loss: logits = head(final_norm output)."""
    def run(ids: torch.Tensor) -> torch.Tensor:
        seen = {}
        hook = model.final_norm.register_forward_hook(lambda m, i, o: seen.setdefault("h", o))
        try:
            loss_forward(ids, torch.zeros_like(ids))
        finally:
            hook.remove()
        return head(seen["h"])
    return run


def tokens(vocab: int, batch: int, length: int, seed: int = 0) -> torch.Tensor:
    """Validation tokens of the challenge sample when it fits the vocabulary, else seeded random ones."""
    val = REFERENCE_DIR.parent / "data" / "datasets" / "fineweb10B_sp1024" / "fineweb_val_000000.bin"
    if vocab == 1024 and val.exists():
        from golfcli.data.shards import read_shard

        stream = torch.as_tensor(read_shard(val)[: batch * length + 1].astype("int64"))
        return stream[: batch * length].view(batch, length)
    return torch.randint(0, vocab, (batch, length), generator=torch.Generator().manual_seed(seed))
