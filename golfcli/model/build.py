"""Building a GPT for use: at a given recurrence phase, weights loaded strictly, in eval mode."""

from __future__ import annotations

from pathlib import Path

import torch

from golfcli.config.model import ModelConfig
from golfcli.errors import FormatError
from golfcli.model.gpt import GPT


def build_model(cfg: ModelConfig, state: dict[str, torch.Tensor] | None, device: str | torch.device = "cpu",
                phase: int | None = None, path: str | Path | None = None) -> GPT:
    """A GPT of `cfg` at `phase` (default: its final, full-depth phase) on `device`, in eval mode.

    `state` is loaded strictly (floats are cast to the parameters' dtype); None keeps the
    initialisation (seed torch first). Weights that do not fit raise a FormatError naming `path`.
    The phase switch never copies untied repeat weights: a state at that phase already holds them.
    """
    model = GPT(cfg)
    model.set_phase(model.final_phase if phase is None else phase, copy_untied=False)
    if state is not None:
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()
            raise FormatError(f"weights do not fit the model its config describes ({' '.join(first[:2])[:300]})",
                              path) from None
    return model.to(device).eval()
