"""`golf ema`: one averaged checkpoint from a run directory.

Modes:
- ema: the EMA shadow kept during training (RUN/ema.safetensors, else the newest checkpoint's).
- swa: the mean of the SWA snapshots (RUN/swa.safetensors, else the newest checkpoint's sum).
- exp: an exponential average over the saved snapshots (every checkpoint, then final weights)
  with the given per-snapshot decay: avg ← decay·avg + (1 − decay)·w, oldest first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from golfcli.checkpoint import load_checkpoint, save_checkpoint
from golfcli.errors import GolfError
from golfcli.train.averaging import exponential_average
from golfcli.train.run_dir import RunDir
from golfcli.train.state import load_train_state, read_model_weights

MODES = ("ema", "swa", "exp")


def _latest_state(run: RunDir):
    latest = run.latest_checkpoint()
    return load_train_state(latest) if latest is not None else None


def _ema(run: RunDir, decay: float | None):
    if run.ema.exists():
        weights, cfg, meta = load_checkpoint(run.ema)
        trained, step = meta.get("decay"), meta.get("step")
        source = run.ema
    else:
        loaded = _latest_state(run)
        if loaded is None or not loaded.ema:
            raise GolfError("this run kept no EMA (train.ema_decay = 0?); try --mode exp", run.root)
        dtypes = {k: v.dtype for k, v in loaded.model.items()}
        weights = {k: v.to(dtypes[k]) for k, v in loaded.ema.items()}
        cfg, trained, step = loaded.config, loaded.config.train.ema_decay, loaded.state.step
        source = run.latest_checkpoint()
    if decay is not None and trained is not None and abs(decay - float(trained)) > 1e-12:
        raise GolfError(f"the EMA was kept with decay {trained}; another decay needs snapshots: use --mode exp "
                        f"--decay {decay}", run.root)
    return weights, cfg, {"decay": trained, "step": step, "sources": [str(source)]}


def _swa(run: RunDir):
    if run.swa.exists():
        weights, cfg, meta = load_checkpoint(run.swa)
        return weights, cfg, {"snapshots": meta.get("snapshots"), "step": meta.get("step"), "sources": [str(run.swa)]}
    loaded = _latest_state(run)
    if loaded is None or not loaded.swa or loaded.state.swa_count == 0:
        raise GolfError("this run took no SWA snapshots (train.swa_every = 0, or the lr scale never fell below "
                        "train.swa_threshold)", run.root)
    n = loaded.state.swa_count
    weights = {k: (v / n).to(loaded.model[k].dtype) for k, v in loaded.swa.items()}
    return weights, loaded.config, {"snapshots": n, "step": loaded.state.step,
                                    "sources": [str(run.latest_checkpoint())]}


def _exp(run: RunDir, decay: float | None):
    if decay is None:
        raise GolfError("--mode exp needs --decay D (per snapshot, e.g. 0.5)")
    files = [p for _, p in run.checkpoints()]
    last_step = run.checkpoints()[-1][0] if files else -1
    final_cfg = None
    if run.final.exists():
        _, final_cfg, meta = load_checkpoint(run.final)
        if int(meta.get("step", -1)) > last_step:
            files.append(run.final)
    if not files:
        raise GolfError("no snapshots to average (no checkpoints, no final.safetensors)", run.root)

    def snapshots():
        for p in files:
            yield load_checkpoint(p)[0] if p == run.final else read_model_weights(p)

    weights = exponential_average(snapshots(), decay)
    cfg = final_cfg or load_train_state(files[-1]).config
    return weights, cfg, {"decay": decay, "snapshots": len(files), "sources": [str(p) for p in files]}


def average_checkpoint(run_dir: str | Path, out: str | Path, mode: str = "ema", decay: float | None = None) -> dict[str, Any]:
    """Write one averaged golf checkpoint from a run directory; return what was written."""
    run = RunDir(run_dir)
    run.require_run()
    if mode not in MODES:
        raise GolfError(f"--mode must be one of {', '.join(MODES)}, got {mode!r}")
    if decay is not None and not 0.0 <= decay < 1.0:
        raise GolfError(f"--decay must be in [0, 1), got {decay}")
    if mode == "ema":
        weights, cfg, info = _ema(run, decay)
    elif mode == "swa":
        weights, cfg, info = _swa(run)
    else:
        weights, cfg, info = _exp(run, decay)
    save_checkpoint(out, weights, cfg, source=f"average:{mode}", **{k: v for k, v in info.items() if k != "sources"})
    n_params = sum(int(t.numel()) for t in weights.values() if isinstance(t, torch.Tensor))
    return {"out": str(out), "mode": mode, "tensors": len(weights), "elements": n_params,
            "bytes": Path(out).stat().st_size, **info}
