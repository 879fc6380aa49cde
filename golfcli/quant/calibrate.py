"""`golf gptq-calibrate`: calibration tokens and the per-weight input Hessians GPTQ needs.

Tokens come from the model itself by default (`selfgen`: first token uniform, then sampling at a
temperature, batched, with the KV cache), so no training or validation data is touched; `random`
(uniform tokens) and `shards` (windows of training shards) exist for comparison. The model runs at
its final (full-depth) recurrence phase, and forward hooks on every linear layer (and on
`final_norm`, whose output feeds the tied embedding head) add XᵀX of their inputs on every call:
a weight shared by two passes collects both. Each sum is divided by the number of calibration
token positions.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from golfcli import console
from golfcli.checkpoint import load_checkpoint
from golfcli.config import CalibConfig
from golfcli.config.quant import CALIB_SOURCES
from golfcli.config.resolve import resolve_settings
from golfcli.distributed import pick_device
from golfcli.errors import GolfError
from golfcli.io import provenance, require_file, sha256_file
from golfcli.quant.hessians import save_hessians

SOURCES = CALIB_SOURCES
HEAD_INPUT_MODULE = "final_norm"
TIED_HEAD_WEIGHT = "tok_emb.weight"


# --- model and device --------------------------------------------------------------------------
def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA; nothing on CPU (float32)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


# --- calibration tokens -------------------------------------------------------------------------
def sample_next(logits: torch.Tensor, temperature: float, gen: torch.Generator) -> torch.Tensor:
    """One token per row from (B, V) logits: multinomial at `temperature` (argmax at 0)."""
    if temperature <= 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    return torch.multinomial(probs, 1, generator=gen).squeeze(1)


@torch.no_grad()
def generate(
    model: nn.Module,
    seqs: int,
    seq_len: int,
    batch: int = 8,
    temperature: float = 0.8,
    seed: int = 0,
    kv_cache: bool = True,
    record_logits: bool = False,
    on_tokens: Callable[[int], None] | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Sample `seqs` sequences of `seq_len` tokens from the model itself, `batch` at a time.

    The first token of each sequence is uniform over the vocabulary; each next token is sampled
    from the model's last-position logits. With `kv_cache` each step feeds only the new token
    (model.forward_step); without it each step recomputes the whole prefix (the records' way).
    Returns (tokens (seqs, seq_len) int64, and with `record_logits` the float32 logits that
    produced tokens 1.. as (seqs, seq_len−1, V)).
    """
    device = next(model.parameters()).device
    vocab = model_vocab(model)
    gen = torch.Generator(device=device).manual_seed(seed)
    out, logit_rows = [], []
    for start in range(0, seqs, batch):
        b = min(batch, seqs - start)
        ids = torch.empty(b, seq_len, dtype=torch.long, device=device)
        ids[:, 0] = torch.randint(0, vocab, (b,), generator=gen, device=device)
        steps = []
        with autocast(device):
            cache = model.new_cache(b, seq_len) if kv_cache else None
            last = model.forward_step(ids[:, :1], cache)[:, -1] if kv_cache else None
            for t in range(1, seq_len):
                if not kv_cache:
                    last = model(ids[:, :t])[:, -1]
                last = last.float()
                if record_logits:
                    steps.append(last)
                ids[:, t] = sample_next(last, temperature, gen)
                if kv_cache and t < seq_len - 1:
                    last = model.forward_step(ids[:, t:t + 1], cache)[:, -1]
                if on_tokens is not None:
                    on_tokens(b)
        out.append(ids)
        if record_logits:
            logit_rows.append(torch.stack(steps, dim=1))
    tokens = torch.cat(out).cpu()
    return tokens, (torch.cat(logit_rows).cpu() if record_logits else None)


def model_vocab(model: nn.Module) -> int:
    cfg = getattr(model, "cfg", None) or getattr(model, "config", None)
    if cfg is not None and hasattr(cfg, "vocab_size"):
        return int(cfg.vocab_size)
    return int(model.tok_emb.weight.shape[0])


def random_tokens(seqs: int, seq_len: int, vocab: int, seed: int) -> torch.Tensor:
    """Uniform random tokens (seqs, seq_len)."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab, (seqs, seq_len), generator=gen)


def shard_tokens(data_dir: str, seqs: int, seq_len: int, seed: int) -> torch.Tensor:
    """`seqs` windows of `seq_len` tokens at seeded random offsets of the training shards."""
    from golfcli.data.shards import read_shard, shard_files

    files = shard_files(data_dir, "train")
    arrays = [read_shard(f) for f in files]
    usable = [i for i, a in enumerate(arrays) if len(a) >= seq_len]
    if not usable:
        raise GolfError(f"no training shard holds {seq_len} tokens", data_dir)
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(seqs):
        a = arrays[usable[int(rng.integers(len(usable)))]]
        off = int(rng.integers(0, len(a) - seq_len + 1))
        rows.append(np.asarray(a[off:off + seq_len], dtype=np.int64))
    return torch.from_numpy(np.stack(rows))


# --- Hessians -------------------------------------------------------------------------------------
class HessianCollector:
    """Forward hooks that add XᵀX of every linear layer's input (and of the head's input) on every call.

    A module reached under several names (shared by recurrence) is hooked once and keyed by its
    first name; every call adds to its sum, so all passes count. When consecutive hooks see the
    very same input tensor (Q, K, V), XᵀX is computed once and reused.
    """

    def __init__(self, model: nn.Module, tied_head: bool):
        self.sums: dict[str, torch.Tensor] = {}
        self.calls: dict[str, int] = {}
        self.hooked: list[str] = []
        self._handles = []
        self._last: tuple[Any, torch.Tensor] | None = None
        for name, module in model.named_modules():
            if isinstance(module, nn.Linear):
                self._hook(module, f"{name}.weight", use_output=False)
            elif tied_head and name == HEAD_INPUT_MODULE:
                self._hook(module, TIED_HEAD_WEIGHT, use_output=True)

    def _hook(self, module: nn.Module, key: str, use_output: bool) -> None:
        def fn(mod: nn.Module, inputs: tuple, output: Any) -> None:
            x = output if use_output else inputs[0]
            if isinstance(x, (tuple, list)):
                x = x[0]
            self.add(key, x)

        self._handles.append(module.register_forward_hook(fn))
        self.hooked.append(key)

    def add(self, key: str, x: torch.Tensor) -> None:
        """Add XᵀX of activations `x` (…, features) to the sum of `key`."""
        if self._last is not None and self._last[0] is x:
            xtx = self._last[1]
        else:
            with torch.autocast(x.device.type, enabled=False):
                flat = x.detach().reshape(-1, x.shape[-1]).float()
                xtx = flat.T @ flat
            self._last = (x, xtx)
        if key in self.sums:
            self.sums[key].add_(xtx)
        else:
            self.sums[key] = xtx.clone()
        self.calls[key] = self.calls.get(key, 0) + 1

    def remove(self) -> None:
        """Detach every hook."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._last = None


@torch.no_grad()
def collect_hessians(
    model: nn.Module, tokens: torch.Tensor, batch: int = 8, tied_head: bool = True,
    on_batch: Callable[[int], None] | None = None,
) -> tuple[dict[str, torch.Tensor], dict[str, int]]:
    """Run the model over `tokens` (seqs, T) and return ({weight: E[x xᵀ]}, {weight: calls per forward}).

    A hooked weight the forward never used (e.g. layer-0 attention with disable_layer0_attn) has no
    Hessian and 0 calls.
    """
    device = next(model.parameters()).device
    collector = HessianCollector(model, tied_head)
    forwards = 0
    try:
        for start in range(0, tokens.shape[0], batch):
            ids = tokens[start:start + batch].to(device)
            with autocast(device):
                model(ids)
            collector._last = None
            forwards += 1
            if on_batch is not None:
                on_batch(ids.shape[0])
    finally:
        collector.remove()
    positions = tokens.numel()
    hessians = {k: (v / positions).cpu() for k, v in collector.sums.items()}
    passes = {k: collector.calls.get(k, 0) // max(forwards, 1) for k in collector.hooked}
    return hessians, passes


# --- the stage ------------------------------------------------------------------------------------
def calibrate(
    checkpoint_path: str | Path,
    out_path: str | Path,
    calib: CalibConfig | None = None,
    *,
    preset: str | None = None,
    config_file: str | Path | None = None,
    overrides: tuple[str, ...] = (),
    **flags: Any,
) -> dict[str, Any]:
    """Generate (or read) calibration tokens, collect per-weight Hessians, write the Hessians file.

    The [calib] settings follow the one precedence rule (`golfcli.config.resolve`): `flags`
    (seqs=, seq_len=, source=, kv_cache=, data_dir=, device=, ...; None = not given) >
    `overrides` (`--set`) > `config_file`/`preset` > the checkpoint's stored [calib] (or `calib`,
    when given) > defaults. Returns a summary dict (what the CLI prints).
    """
    require_file(checkpoint_path, "checkpoint")
    state, cfg, _ = load_checkpoint(checkpoint_path)
    stored = cfg if calib is None else dataclasses.replace(cfg, calib=calib)
    resolved = resolve_settings(stored, preset, config_file, overrides, {"calib": flags}, reads=("calib",))
    c = resolved.config.calib
    from golfcli.model import build_model

    device = pick_device(c.device)
    model = build_model(cfg.model, state, device, path=checkpoint_path)
    tied = TIED_HEAD_WEIGHT in state and bool(getattr(cfg.model, "tie_embeddings", True))
    warnings: list[str] = []

    t0 = time.perf_counter()
    if c.source == "selfgen":
        with console.progress(c.seqs * (c.seq_len - 1), "self-generating") as bar:
            tokens, _ = generate(model, c.seqs, c.seq_len, c.batch, c.temperature, c.seed, c.kv_cache,
                                 on_tokens=bar.advance)
    elif c.source == "random":
        tokens = random_tokens(c.seqs, c.seq_len, model_vocab(model), c.seed)
    else:
        data_dir = c.data_dir or cfg.data.data_dir
        message = f"calibrating on training data from {data_dir} (selfgen needs no data)"
        console.info(f"[yellow]warning:[/yellow] {message}")
        warnings.append(message)
        tokens = shard_tokens(data_dir, c.seqs, c.seq_len, c.seed)
    if device.type == "cuda":
        torch.cuda.synchronize()
    t_tokens = time.perf_counter() - t0

    t1 = time.perf_counter()
    with console.progress(c.seqs, "collecting Hessians") as bar:
        hessians, passes = collect_hessians(model, tokens, c.batch, tied, on_batch=bar.advance)
    t_hessians = time.perf_counter() - t1

    meta = {
        "source": c.source, "seqs": c.seqs, "seq_len": c.seq_len, "temperature": c.temperature,
        "seed": c.seed, "kv_cache": c.kv_cache, "phase": int(model.final_phase), "passes": passes,
        "unused": sorted(k for k, v in passes.items() if v == 0),
        "checkpoint": str(checkpoint_path), "checkpoint_sha256": sha256_file(checkpoint_path),
        "warnings": warnings, "calib": dataclasses.asdict(c),
        "calib_sources": {k: v for k, v in resolved.sources.items() if k.startswith("calib.")},
        "provenance": provenance(seed=c.seed, tokenizer=cfg.data.tokenizer),
    }
    save_hessians(out_path, hessians, tokens, meta)
    n_generated = c.seqs * (c.seq_len - 1)
    return {
        "out": str(out_path),
        "source": c.source,
        "seqs": c.seqs,
        "seq_len": c.seq_len,
        "tokens": int(tokens.numel()),
        "hessians": len(hessians),
        "shared_passes": {k: v for k, v in passes.items() if v > 1},
        "unused": sorted(k for k, v in passes.items() if v == 0),
        "seconds_tokens": round(t_tokens, 3),
        "seconds_hessians": round(t_hessians, 3),
        "tokens_per_s": round(n_generated / t_tokens, 1) if c.source == "selfgen" and t_tokens > 0 else None,
        "kv_cache": c.kv_cache,
        "device": str(device),
        "warnings": warnings,
    }

