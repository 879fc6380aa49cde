"""The eval stage: score a token stream with a model in one of the three modes, optionally with TTT.

`evaluate(model, tokens, byte_tables, mode=...)` is the plain function the CLI, the pipeline and
the benchmarks call. It knows nothing about files except the optional per-token output.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from golfcli import console
from golfcli.config.eval import EvalConfig
from golfcli.errors import GolfError
from golfcli import distributed
from golfcli.eval.forward import ScoredBatch, WindowScorer
from golfcli.eval.hedge import HedgeMixer
from golfcli.eval.sliding import sliding_plan
from golfcli.eval.standard import standard_plan
from golfcli.eval.ttt import ScoreFirstTrainer
from golfcli.eval.windows import WindowPlan
from golfcli.io import atomic_path
from golfcli.metric import BpbMeter, ByteTables

MODES = ("standard", "sliding", "hedge")
CHECKS_PER_BATCH = 2  # positions per rank and batch whose full mixture --check-normalization sums


def plan_for(mode: str, n_tokens: int, cfg: EvalConfig) -> WindowPlan:
    """The window plan of an eval mode (hedge scores the sliding windows)."""
    if mode not in MODES:
        raise GolfError(f"unknown eval mode {mode!r} (expected one of {', '.join(MODES)})")
    if mode == "standard":
        return standard_plan(n_tokens, cfg.seq_len)
    return sliding_plan(n_tokens, cfg.window, cfg.stride, cfg.grid_tail)


def write_per_token(path: str | Path, nll: np.ndarray) -> None:
    """Write per-target NLLs (float32, stream order) as a .npy file, atomically and without pickle."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.lib.format.write_array(handle, np.ascontiguousarray(nll, dtype=np.float32), allow_pickle=False)


def _vocab_of(model: nn.Module, tokens: torch.Tensor) -> int:
    with torch.no_grad():
        return int(model(tokens[:1].view(1, 1)).shape[-1])


def evaluate(
    model: nn.Module,
    tokens: torch.Tensor,
    byte_tables: ByteTables,
    mode: str = "sliding",
    cfg: EvalConfig | None = None,
    *,
    ttt: bool = False,
    check_normalization: bool = False,
    per_token: str | Path | None = None,
    description: str | None = None,
) -> dict:
    """Score every target of `tokens` once; return val_loss (nats), val_bpb, counts, timings.

    `model` maps ids (B, T) to logits (B, T, V), causally; it is evaluated on its own device and
    left in eval mode (with TTT, its weights are adapted in place). Under torchrun every rank
    calls this with the same arguments; float64 sums are all-reduced and every rank returns the
    same report. With `per_token`, rank 0 writes each target's NLL in nats (float32, .npy).
    """
    cfg = (cfg or EvalConfig()).validate()
    if check_normalization and mode != "hedge":
        raise GolfError("--check-normalization needs the hedge mode")
    device = next(model.parameters()).device
    tokens = tokens.to(device=device, dtype=torch.int64)
    n_tokens = tokens.numel()
    if n_tokens < 2:
        raise GolfError(f"the validation stream has {n_tokens} token(s); at least 2 are needed")
    info = distributed.current()
    rank, world = info.rank, info.world_size
    plan = plan_for(mode, n_tokens, cfg)
    plan.check(n_tokens)
    chunks = plan.chunks(cfg.ttt_chunk_tokens) if ttt else [plan]
    tables = byte_tables.to(device)
    autocast = cfg.autocast == "bf16"
    model.eval()
    scorer = WindowScorer(model, tokens, cfg.batch_seqs, compile=cfg.compile, autocast=autocast)
    mixer = HedgeMixer(cfg, _vocab_of(model, tokens), tokens) if mode == "hedge" else None
    trainer = ScoreFirstTrainer(model, tokens, cfg, len(chunks), rank, world, autocast) if ttt else None
    meter, neural_meter = BpbMeter(), BpbMeter()
    # one slot per target, and a spare last one where unscored positions are written
    nll_out = torch.zeros(n_tokens if per_token else 0, dtype=torch.float32, device=device)
    sums = torch.zeros(3, dtype=torch.float64, device=device)  # NLL, targets, bytes: read once at the end

    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    label = description or f"eval {mode}{' + ttt' if ttt else ''}"
    with console.progress(len(plan), label) as bar:
        for ci, chunk in enumerate(chunks):
            for batch in chunk.batches(cfg.batch_seqs * world):
                local = batch.rank_part(rank, world)
                if mixer is None:
                    if len(local):
                        sums += scorer.score_sums(local, tables, nll_out if per_token else None)
                else:
                    out = scorer.score(local) if len(local) else _empty(device, mixer)
                    _score_hedge(mixer, batch, out, tokens, tables, meter, neural_meter, nll_out if per_token
                                 else None, info, check_normalization)
                bar.advance(len(batch))
            if trainer is not None and ci < len(chunks) - 1:
                trainer.adapt(ci, int(chunk.first_slot[0]), int(chunk.end_slot[-1]))
                model.eval()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0

    nll_sum, n_targets, n_bytes = sums.tolist()
    meter.add_sums(nll_sum, int(n_targets), int(n_bytes))
    meter.all_reduce(info)
    neural_meter.all_reduce(info)
    if per_token:
        nll_all = distributed.sum_tensor(nll_out[:-1], info)  # every slot was written by exactly one rank
        if rank == 0:
            write_per_token(per_token, nll_all.cpu().numpy())
    result = {
        "mode": mode,
        "ttt": ttt,
        "val_loss": meter.val_loss,
        "val_bpb": meter.bpb,
        "tokens_scored": meter.tokens,
        "bytes_scored": meter.bytes,
        "seconds": seconds,
        "tokens_per_s": meter.tokens / seconds if seconds > 0 else float("nan"),
        "windows": len(plan),
        "world_size": world,
    }
    if mode == "standard":
        result["seq_len"] = cfg.seq_len
    else:
        result.update(window=cfg.window, stride=cfg.stride)
    if mixer is not None:
        result.update(
            neural_loss=neural_meter.val_loss,
            neural_bpb=neural_meter.bpb,
            gain_bpb=neural_meter.bpb - meter.bpb,
            expert_weights=mixer.weights,
        )
        if check_normalization:
            result.update(normalization_checks=mixer.checks, max_normalization_error=mixer.max_check_error)
    if trainer is not None:
        result.update(ttt_chunks=len(chunks), ttt_trained_chunks=len(trainer.trained))
    return result


def _empty(device: torch.device, mixer: HedgeMixer | None) -> ScoredBatch:
    """What a rank with no window in a batch contributes (possible when windows < ranks)."""
    vocab = mixer.counts.vocab_size if mixer is not None else 0
    return ScoredBatch(torch.zeros(0, dtype=torch.int64, device=device), torch.zeros(0, device=device),
                       torch.zeros(0, vocab, device=device))


def _score_hedge(mixer: HedgeMixer, batch: WindowPlan, out: ScoredBatch, tokens: torch.Tensor,
                 tables: ByteTables, meter: BpbMeter, neural_meter: BpbMeter, nll_out: torch.Tensor | None,
                 info: distributed.DistInfo, check_normalization: bool) -> None:
    """Mix one global batch: every rank gathers the per-target neural values (not the logits) and
    runs the same mixer on them, so the replicated count tables stay identical; rank 0 accounts."""
    targets = tokens[out.slots + 1]
    neural = torch.cat([out.nll[:, None], mixer.neural_logprobs(out.logits, out.nll, targets)], 1)
    neural = distributed.gather_rows(neural, info)
    check = None
    if check_normalization:
        pick = torch.tensor(sorted({0, out.size // 2}) if out.size else [], dtype=torch.int64, device=tokens.device)
        check = (distributed.gather_rows(out.slots[pick], info), distributed.gather_rows(out.logits[pick], info))
    first = int(batch.first_slot[0])
    slots = torch.arange(first, int(batch.end_slot[-1]), device=tokens.device)
    mixed = mixer.score(first, neural[:, 1:], check)
    if info.is_main:
        prev, target = tokens[slots], tokens[slots + 1]
        meter.add(mixed, prev, target, tables)
        neural_meter.add(neural[:, 0], prev, target, tables)
        if nll_out is not None:
            nll_out[slots] = mixed
