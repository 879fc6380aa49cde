"""The training probe: which weights (final, EMA, SWA) predict unseen training text best.

The probe is the last PROBE_TOKENS tokens of the last training shard, never validation tokens
(choosing weights by the validation score would tune on validation). The sequential loader reads
shards in order, so a run that stopped before that point has not trained on them (`held_out`);
the coprime loader samples every shard, so there it is unknown (None).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from golfcli.config import GolfConfig

PROBE_TOKENS = 32768
PROBE_BATCH = 8  # sequences per forward


@dataclass
class Probe:
    """Probe sequences (inputs, targets) and where they came from."""

    x: torch.Tensor
    y: torch.Tensor
    shard: str
    held_out: bool | None

    @property
    def tokens(self) -> int:
        return int(self.y.numel())


def make_probe(data_dir: str | Path, seq_len: int, loader_state: dict[str, Any] | None) -> Probe:
    """The probe from `data_dir`'s last training shard (a GolfError when there is none)."""
    from golfcli.data.shards import read_shard, shard_files

    files = shard_files(data_dir, "train")
    tokens = np.asarray(read_shard(files[-1]), dtype=np.int64)
    n_seq = max(min(PROBE_TOKENS, tokens.size - 1) // seq_len, 1)
    need = n_seq * seq_len + 1
    if tokens.size < need:
        from golfcli.errors import GolfError

        raise GolfError(f"too few tokens for a probe of one {seq_len}-token sequence", files[-1])
    start = tokens.size - need
    chunk = torch.from_numpy(tokens[start:].copy())
    return Probe(chunk[:-1].view(n_seq, seq_len), chunk[1:].view(n_seq, seq_len), files[-1].name,
                 _held_out(loader_state, len(files) - 1, start))


def _held_out(state: dict[str, Any] | None, last_index: int, start: int) -> bool | None:
    if not state or state.get("kind") != "sequential":
        return None
    file_idx, pos = int(state.get("file_idx", 0)), int(state.get("pos", 0))
    return file_idx < last_index or (file_idx == last_index and pos <= start)


@torch.no_grad()
def probe_loss(cfg: GolfConfig, weights: dict[str, torch.Tensor], probe: Probe, device: torch.device) -> float:
    """Mean cross-entropy (nats per token) of full-depth `weights` on the probe, in float32."""
    from golfcli.model import build_model

    model = build_model(cfg.model, weights, device)
    total = 0.0
    for i in range(0, probe.x.shape[0], PROBE_BATCH):
        x, y = probe.x[i:i + PROBE_BATCH].to(device), probe.y[i:i + PROBE_BATCH].to(device)
        total += float(model(x, y)) * y.numel()
    return total / probe.tokens
