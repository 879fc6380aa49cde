"""Score-first test-time training: after a chunk is scored, train on it before scoring the next.

Legal by construction (recurrence-hedge.md §E): the runner scores chunk c completely, then calls
`adapt` with the chunk's span of tokens, all of whose targets are already scored; the last
chunk is never trained on. SGD with momentum over every parameter (momentum persists across
chunks), learning rate lr·½(1 + cos(π·c/(n_chunks − 1))), `epochs` passes over the chunk's
sequences (optionally only its whole ones), global gradient clipping; gradients are averaged over ranks. The model's float
weights (dequantized, for a quantized model) change in memory only: no file is touched. With
`eval.ttt_embed_dtype = "bf16"` the token embedding is cast to bf16 first, so chunks are scored and
trained with a bf16 table (record 1493's eval model is built with `.bfloat16()`).
"""

from __future__ import annotations

import contextlib
import math

import torch
import torch.nn.functional as F
from torch import nn

from golfcli.config.eval import EvalConfig


def chunk_sequences(first: int, last: int, seq_len: int, whole_only: bool = False) -> list[tuple[int, int]]:
    """Training sequences (start, end) over tokens [first, last]: inputs [start, end), targets +1.

    With `whole_only`, the shorter sequence left at the end of the span is dropped.
    """
    out = []
    start = first
    while start < last:
        end = min(start + seq_len, last)
        if whole_only and end - start < seq_len:
            break
        out.append((start, end))
        start = end
    return out


class ScoreFirstTrainer:
    """Adapts a model on already-scored chunks of the stream."""

    def __init__(self, model: nn.Module, tokens: torch.Tensor, cfg: EvalConfig, n_chunks: int,
                 rank: int = 0, world_size: int = 1, autocast: bool = False):
        self.model, self.tokens, self.cfg = model, tokens, cfg
        self.n_chunks = n_chunks
        self.rank, self.world_size = rank, world_size
        self.autocast = autocast and tokens.device.type == "cuda"
        if cfg.ttt_embed_dtype == "bf16":  # record 1493 scores and trains its eval model with a bf16 table
            model.get_submodule("tok_emb").bfloat16()
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.SGD(self.params, lr=cfg.ttt_lr, momentum=cfg.ttt_momentum)
        self.trained: list[tuple[int, int]] = []  # token spans trained on, for the report and tests

    def lr_for(self, chunk: int) -> float:
        """Cosine learning rate of chunk `chunk` (0-based)."""
        frac = chunk / max(self.n_chunks - 1, 1)
        return self.cfg.ttt_lr * 0.5 * (1.0 + math.cos(math.pi * frac))

    def adapt(self, chunk: int, first: int, last: int) -> None:
        """Train on tokens [first, last] (targets first+1 .. last, all already scored)."""
        if chunk >= self.n_chunks - 1:
            raise RuntimeError("the last chunk is never trained on")
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr_for(chunk)
        seqs = chunk_sequences(first, last, self.cfg.ttt_seq_len, self.cfg.ttt_whole_seqs)
        if not seqs:
            return
        self.trained.append((first, seqs[-1][1]))
        was_training = self.model.training
        self.model.train()
        for _ in range(self.cfg.ttt_epochs):
            for i in range(0, len(seqs), self.cfg.ttt_batch_seqs):
                self._step(seqs[i:i + self.cfg.ttt_batch_seqs])
        self.model.train(was_training)

    def _step(self, batch: list[tuple[int, int]]) -> None:
        mine = batch[self.rank::self.world_size]
        total = sum(end - start for start, end in batch)
        self.optimizer.zero_grad(set_to_none=False)
        amp = torch.autocast("cuda", dtype=torch.bfloat16) if self.autocast else contextlib.nullcontext()
        # sequences of one length share a forward; the tail sequence may be shorter
        by_len: dict[int, list[int]] = {}
        for start, end in mine:
            by_len.setdefault(end - start, []).append(start)
        device = self.tokens.device
        for length, starts in by_len.items():
            idx = torch.tensor(starts, device=device)[:, None] + torch.arange(length, device=device)
            x, y = self.tokens[idx], self.tokens[idx + 1]
            with amp:
                logits = self.model(x)
            loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum")
            (loss / total).backward()
        self._all_reduce_grads()
        if self.cfg.ttt_grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.params, self.cfg.ttt_grad_clip)
        self.optimizer.step()

    def _all_reduce_grads(self) -> None:
        import torch.distributed as dist

        if self.world_size == 1 or not (dist.is_available() and dist.is_initialized()):
            return
        for p in self.params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            dist.all_reduce(p.grad)  # each rank's loss is already divided by the global token count
