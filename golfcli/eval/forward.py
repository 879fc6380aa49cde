"""One forward pass over a batch of windows, reduced to what the scorers need at scored positions."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from golfcli.eval.windows import WindowPlan
from golfcli.metric import ByteTables


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
    (every batch is padded to `batch_seqs` windows of the plan's longest length). `score_sums` is
    the path without host syncs: masks instead of boolean indexing, sums kept on the device.
    """

    def __init__(self, model: nn.Module, tokens: torch.Tensor, batch_seqs: int, *,
                 compile: bool = False, autocast: bool = False):
        self.model = model
        self.tokens = tokens
        self.device = tokens.device
        self.batch_seqs = batch_seqs
        self.autocast = autocast and self.device.type == "cuda"
        self.pad_batches = compile and self.device.type == "cuda"
        self.forward = torch.compile(model, dynamic=False, fullgraph=True) if self.pad_batches else model

    def _plan_on_device(self, plan: WindowPlan) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """starts, lengths, score_from on the device in one copy (pinned and asynchronous on CUDA)."""
        packed = torch.stack([plan.starts, plan.lengths, plan.score_from])
        if self.device.type == "cuda":
            packed = packed.pin_memory()
        packed = packed.to(self.device, non_blocking=True)
        return packed[0], packed[1], packed[2]

    def _inputs(self, plan: WindowPlan) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        starts, lengths, score_from = self._plan_on_device(plan)
        width = int(plan.lengths.max())  # the plan lives on the host: no device sync
        pos = torch.arange(width, device=self.device)
        valid = pos[None, :] < lengths[:, None]
        idx = torch.where(valid, starts[:, None] + pos[None, :], torch.zeros_like(pos)[None, :])
        x = torch.where(valid, self.tokens[idx], torch.zeros_like(idx))
        scored = valid & (pos[None, :] >= score_from[:, None])
        return x, idx, scored

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.shape[0]
        if self.pad_batches and rows < self.batch_seqs:
            x = torch.cat([x, x.new_zeros(self.batch_seqs - rows, x.shape[1])])
        amp = torch.autocast("cuda", dtype=torch.bfloat16) if self.autocast else contextlib.nullcontext()
        with torch.inference_mode(), amp:
            return self.forward(x)[:rows]

    def score_sums(self, plan: WindowPlan, tables: ByteTables, nll_out: torch.Tensor | None = None) -> torch.Tensor:
        """(NLL sum, scored targets, bytes) of `plan`'s windows as a float64 device tensor, without host syncs.

        Only positions from the batch's smallest `score_from` on (read from the host-side plan) are
        turned into NLLs: the last `stride` of each sliding window. With `nll_out` (one slot per
        target plus a spare last slot for unscored positions) each scored NLL is written to its slot.
        """
        x, idx, scored = self._inputs(plan)
        logits = self._logits(x)
        cols = torch.arange(int(plan.score_from.min()), x.shape[1], device=self.device)
        idx, scored = idx[:, cols], scored[:, cols]
        nll = F.cross_entropy(logits[:, cols].float().flatten(0, 1), self.tokens[idx + 1].flatten(),
                              reduction="none").view_as(idx)
        nll = torch.where(scored, nll, torch.zeros_like(nll))
        n_bytes = torch.where(scored, tables.count(self.tokens[idx], self.tokens[idx + 1]), 0)
        if nll_out is not None:
            nll_out.index_put_((torch.where(scored, idx, nll_out.numel() - 1),), nll)
        return torch.stack([nll.double().sum(), scored.sum().double(), n_bytes.sum().double()])

    def score(self, plan: WindowPlan) -> ScoredBatch:
        """Forward the windows of `plan` (no gradients) and return their scored targets in stream order."""
        x, idx, scored = self._inputs(plan)
        logits = self._logits(x)[scored].float()
        slots = idx[scored]
        targets = self.tokens[slots + 1]
        nll = F.cross_entropy(logits, targets, reduction="none")
        return ScoredBatch(slots=slots, nll=nll, logits=logits)
