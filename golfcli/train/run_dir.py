"""The run directory `golf train --out RUN` writes, and its metrics log.

    RUN/config.toml                          resolved config (`--config RUN/config.toml` reproduces it)
    RUN/metrics.jsonl                        one JSON object per logged step / validation
    RUN/checkpoints/step_NNNNNN.safetensors  training state (model, optimizer, EMA, SWA, loader, RNG)
    RUN/final.safetensors                    the final weights (a golf checkpoint)
    RUN/ema.safetensors                      the EMA weights (a golf checkpoint), when EMA is on
    RUN/swa.safetensors                      the SWA mean (a golf checkpoint), when SWA took snapshots
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from golfcli.errors import GolfError
from golfcli.io import write_text_atomic

_STEP_RE = re.compile(r"^step_(\d+)\.safetensors$")


class RunDir:
    """Paths inside one run directory."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    config = property(lambda self: self.root / "config.toml")
    metrics = property(lambda self: self.root / "metrics.jsonl")
    checkpoints_dir = property(lambda self: self.root / "checkpoints")
    final = property(lambda self: self.root / "final.safetensors")
    ema = property(lambda self: self.root / "ema.safetensors")
    swa = property(lambda self: self.root / "swa.safetensors")

    def checkpoint(self, step: int) -> Path:
        """Path of the training-state checkpoint taken after `step` steps."""
        return self.checkpoints_dir / f"step_{step:06d}.safetensors"

    def checkpoints(self) -> list[tuple[int, Path]]:
        """(step, path) of every training-state checkpoint, oldest first."""
        if not self.checkpoints_dir.is_dir():
            return []
        found = []
        for p in self.checkpoints_dir.iterdir():
            m = _STEP_RE.match(p.name)
            if m:
                found.append((int(m.group(1)), p))
        return sorted(found)

    def latest_checkpoint(self) -> Path | None:
        """The newest training-state checkpoint, or None."""
        found = self.checkpoints()
        return found[-1][1] if found else None

    def has_training_output(self) -> bool:
        """True when a run already wrote checkpoints or final weights here."""
        return bool(self.checkpoints()) or self.final.exists()

    def prune(self, keep: int) -> None:
        """Delete all but the newest `keep` training-state checkpoints (keep ≤ 0: keep all)."""
        if keep <= 0:
            return
        for _, path in self.checkpoints()[:-keep]:
            path.unlink(missing_ok=True)

    def require_run(self) -> None:
        """A GolfError unless this looks like a golf run directory."""
        if not self.root.is_dir():
            raise GolfError("run directory not found", self.root)
        if not self.config.exists():
            raise GolfError("not a golf run directory (no config.toml)", self.root)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else str(value)
    return value


class MetricsLog:
    """Append-only JSON-lines log; on resume, lines after the resumed step are dropped."""

    def __init__(self, path: Path, enabled: bool = True):
        self.path, self.enabled = path, enabled

    def truncate_after(self, step: int) -> None:
        """Keep only records with step ≤ `step` (a resumed run rewrites what came after)."""
        if not self.enabled or not self.path.exists():
            return
        kept = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a crash
            if int(rec.get("step", 0)) <= step:
                kept.append(line)
        write_text_atomic(self.path, "".join(k + "\n" for k in kept))

    def write(self, record: dict[str, Any]) -> None:
        """Append one record."""
        if not self.enabled:
            return
        line = json.dumps({k: _clean(v) for k, v in record.items()}, separators=(",", ":"))
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """Every record of a metrics.jsonl file (damaged lines skipped)."""
    out = []
    p = Path(path)
    if not p.exists():
        return out
    for line in p.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out
