"""ExportPlan: what `golf export` freezes into a train_gpt.py besides the resolved config."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from golfcli.errors import GolfError

EVAL_MODES = ("sliding", "hedge")
# The records' environment knobs an exported script honours (GOLF_SET: "section.key=value;...").
ENV_KNOBS = ("SEED", "RUN_ID", "DATA_PATH", "TOKENIZER_PATH", "MAX_WALLCLOCK_SECONDS", "GOLF_SET")


@dataclass
class ExportPlan:
    """The frozen run: config tables and how the script scores the artifact."""

    config: dict[str, dict[str, Any]] = field(default_factory=dict)  # the resolved config's non-default values
    preset: str | None = None
    mode: str = "sliding"  # the scored evaluation of the artifact: "sliding" or "hedge"
    ttt: bool = False  # score-first test-time training during the scored evaluation
    reserve_seconds: float = 30.0  # of the training wallclock, kept for ema + calibration + GPTQ + packing

    def validate(self) -> "ExportPlan":
        """Raise a GolfError for a plan no script can run; return self."""
        if self.mode not in EVAL_MODES:
            raise GolfError(f"export eval mode must be one of {', '.join(EVAL_MODES)}, got {self.mode!r}")
        if self.reserve_seconds < 0:
            raise GolfError(f"--reserve-seconds must be ≥ 0, got {self.reserve_seconds}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, table: dict[str, Any]) -> "ExportPlan":
        return cls(**table).validate()
