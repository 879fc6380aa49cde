"""One forward pass over a batch of windows, reduced to what the scorers need at scored positions."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from golfcli.eval.windows import WindowPlan


@dataclass
class ScoredBatch:
    """Per scored target, in stream order: slot (target index − 1), NLL in nats, and the logit rows."""

    slots: torch.Tensor  # int64 (P,)
    nll: torch.Tensor  # float32 (P,)
    logits: torch.Tensor  # float32 (P, V): the model's logits at the scored positions

    @property
    def size(self) -> int:
        return int(self.slots.numel())


class WindowScorer:
    """Runs a causal LM (ids (B,T) → logits (B,T,V)) over windows of a token stream on one device.

    On CUDA the forward runs under bf16 autocast and, optionally, torch.compile with static shapes
    (every batch is padded to `batch_seqs` windows of the plan's longest length).
    """

    def __init__(self, model: nn.Module, tokens: torch.Tensor, batch_seqs: int, *,
                 compile: bool = False, autocast: bool = False):
        self.model = model
        self.tokens = tokens
        self.device = tokens.device
        self.batch_seqs = batch_seqs
        self.autocast = autocast and self.device.type == "cuda"
        self.pad_batches = compile and self.device.type == "cuda"
        self.forward = torch.compile(model, dynamic=False) if self.pad_batches else model

    def _inputs(self, plan: WindowPlan) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        starts = plan.starts.to(self.device)
        lengths = plan.lengths.to(self.device)
        width = int(plan.lengths.max())
        pos = torch.arange(width, device=self.device)
        valid = pos[None, :] < lengths[:, None]
        idx = torch.where(valid, starts[:, None] + pos[None, :], torch.zeros_like(pos)[None, :])
        x = torch.where(valid, self.tokens[idx], torch.zeros_like(idx))
        scored = valid & (pos[None, :] >= plan.score_from.to(self.device)[:, None])
        return x, idx, scored

    def score(self, plan: WindowPlan) -> ScoredBatch:
        """Forward the windows of `plan` (no gradients) and return their scored targets in stream order."""
        x, idx, scored = self._inputs(plan)
        rows = x.shape[0]
        if self.pad_batches and rows < self.batch_seqs:
            x = torch.cat([x, x.new_zeros(self.batch_seqs - rows, x.shape[1])])
        amp = torch.autocast("cuda", dtype=torch.bfloat16) if self.autocast else contextlib.nullcontext()
        with torch.no_grad(), amp:
            logits = self.forward(x)
        logits = logits[:rows][scored].float()
        slots = idx[scored]
        targets = self.tokens[slots + 1]
        nll = F.cross_entropy(logits, targets, reduction="none")
        return ScoredBatch(slots=slots, nll=nll, logits=logits)
