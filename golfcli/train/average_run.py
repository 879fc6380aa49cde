"""`golf ema`: one checkpoint of a run's weights (final, averaged, or the better of them).

Modes:
- final: the final weights (RUN/final.safetensors).
- ema: the EMA shadow kept during training (RUN/ema.safetensors, else the newest checkpoint's).
- swa: the mean of the SWA snapshots (RUN/swa.safetensors, else the newest checkpoint's sum).
- exp: an exponential average over the saved snapshots (every checkpoint, then final weights)
  with the given per-snapshot decay: avg ← decay·avg + (1 − decay)·w, oldest first.
- auto: final, EMA or SWA, whichever has the lowest loss on the training probe
  (golfcli/train/probe.py: held-out training tokens, never validation).

Weights from a training-state snapshot taken before the final recurrence phase are first
brought to full depth as `train()` does at the end (untied repeat copies from their base), so
averaging a snapshot gives what training would have written. When the training shards are
there, every averaged result is compared with the final weights on the probe, with a warning
when the average is worse.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from golfcli import console
from golfcli.checkpoint import load_checkpoint, save_checkpoint
from golfcli.config import GolfConfig, load_config
from golfcli.config.train import AVERAGE_MODES as MODES, SHIP_WEIGHTS
from golfcli.distributed import pick_device
from golfcli.errors import GolfError
from golfcli.io import load_tensors, read_metadata
from golfcli.train.averaging import exponential_average
from golfcli.train.phases import final_phase, final_phase_weights
from golfcli.train.probe import Probe, make_probe, probe_loss
from golfcli.train.run_dir import RunDir
from golfcli.train.state import TRAIN_STATE_FORMAT, load_train_state

AVERAGES = ("ema", "swa")  # the candidates auto weighs against the final weights


def _latest_state(run: RunDir):
    latest = run.latest_checkpoint()
    return load_train_state(latest) if latest is not None else None


def _full_depth(cfg: GolfConfig, weights: dict[str, torch.Tensor], phase: int) -> dict[str, torch.Tensor]:
    return weights if phase == final_phase(cfg) else final_phase_weights(cfg, weights, phase)


def _final(run: RunDir):
    if not run.final.exists():
        raise GolfError("this run has no final weights (final.safetensors): training did not finish", run.root)
    weights, cfg, meta = load_checkpoint(run.final)
    return weights, cfg, {"step": meta.get("step"), "sources": [str(run.final)]}


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
        weights = _full_depth(cfg, weights, loaded.state.phase)
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


def _snapshot(path: Path, cfg: GolfConfig) -> dict[str, torch.Tensor]:
    """A training-state checkpoint's model weights at full depth."""
    tensors, meta = load_tensors(path, TRAIN_STATE_FORMAT)
    weights = {k[len("model/"):]: v for k, v in tensors.items() if k.startswith("model/")}
    return _full_depth(cfg, weights, int((meta.get("train_state") or {}).get("phase", 0)))


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
    cfg = final_cfg or load_train_state(files[-1]).config

    def snapshots():
        for p in files:
            yield load_checkpoint(p)[0] if p == run.final else _snapshot(p, cfg)

    weights = exponential_average(snapshots(), decay)
    return weights, cfg, {"decay": decay, "snapshots": len(files), "sources": [str(p) for p in files]}


def _probe(run: RunDir, cfg: GolfConfig, data_dir: str | None, required: bool) -> Probe | None:
    """The training probe, or None when the shards are not there and the mode does not need them."""
    latest = run.latest_checkpoint()
    loader = (read_metadata(latest).get("train_state") or {}).get("loader") if latest else None
    try:
        return make_probe(data_dir or cfg.data.data_dir, cfg.train.seq_len, loader)
    except GolfError as exc:
        if required:
            raise GolfError(f"--mode auto compares weights on training tokens: {exc}") from None
        console.info(f"no training probe ({exc}): the average is not compared with the final weights")
        return None


def _candidates(run: RunDir) -> dict[str, Any]:
    found = {"final": _final(run)}
    for name, get in (("ema", lambda: _ema(run, None)), ("swa", lambda: _swa(run))):
        try:
            found[name] = get()
        except GolfError:
            continue  # this run kept no such average
    return found


def _compare(cfg: GolfConfig, candidates: dict[str, Any], probe: Probe) -> dict[str, float]:
    device = pick_device("auto")
    return {name: probe_loss(cfg, c[0], probe, device) for name, c in candidates.items()}


def _probe_info(probe: Probe, losses: dict[str, float]) -> dict[str, Any]:
    return {"shard": probe.shard, "tokens": probe.tokens, "held_out": probe.held_out,
            "loss": {k: round(v, 6) for k, v in losses.items()}}


def _describe(probe: Probe) -> str:
    seen = {True: "not trained on", False: "already trained on", None: "possibly trained on"}[probe.held_out]
    return f"the last {probe.tokens:,} tokens of {probe.shard}, {seen}"


def average_checkpoint(run_dir: str | Path, out: str | Path, mode: str | None = None, decay: float | None = None,
                       data_dir: str | None = None) -> dict[str, Any]:
    """Write one checkpoint of a run's weights (see the module docstring); return what was written.

    `mode` defaults to the run's train.ship_weights; `data_dir` (for the probe) to its data.data_dir.
    """
    run = RunDir(run_dir)
    run.require_run()
    if mode is None:
        mode = load_config(config_file=run.config).train.ship_weights
        if mode not in SHIP_WEIGHTS:
            raise GolfError(f"train.ship_weights must be one of {', '.join(SHIP_WEIGHTS)}, got {mode!r}", run.config)
    if mode not in MODES:
        raise GolfError(f"--mode must be one of {', '.join(MODES)}, got {mode!r}")
    if decay is not None and not 0.0 <= decay < 1.0:
        raise GolfError(f"--decay must be in [0, 1), got {decay}")
    warnings: list[str] = []
    extra: dict[str, Any] = {}
    if mode == "auto":
        candidates = _candidates(run)
        cfg = candidates["final"][1]
        probe = _probe(run, cfg, data_dir, required=True)
        losses = _compare(cfg, candidates, probe)
        chosen = min(losses, key=lambda k: (losses[k], k != "final"))  # a tie keeps the final weights
        weights, cfg, info = candidates[chosen]
        others = ", ".join(f"{k} {v:.4f}" for k, v in losses.items() if k != chosen)
        extra = {"chosen": chosen, "probe": _probe_info(probe, losses),
                 "reason": f"lowest loss on the training probe ({_describe(probe)}): {chosen} {losses[chosen]:.4f} "
                           f"nats/token" + (f" vs {others}" if others else " (no average was kept)")}
    else:
        get = {"final": lambda: _final(run), "ema": lambda: _ema(run, decay), "swa": lambda: _swa(run),
               "exp": lambda: _exp(run, decay)}[mode]
        weights, cfg, info = get()
        extra = {"chosen": mode, "reason": f"--mode {mode}"}
        if mode != "final" and run.final.exists():
            probe = _probe(run, cfg, data_dir, required=False)
            if probe is not None:
                losses = _compare(cfg, {"final": _final(run), mode: (weights, cfg, info)}, probe)
                extra["probe"] = _probe_info(probe, losses)
                if losses[mode] > losses["final"]:
                    warnings.append(f"the {mode} weights are worse than the final ones on the training probe "
                                    f"({losses[mode]:.4f} vs {losses['final']:.4f} nats/token on {_describe(probe)}); "
                                    f"--mode final or auto ships the final weights")
    for w in warnings:
        console.info(f"[yellow]warning[/yellow]: {w}")
    save_checkpoint(out, weights, cfg, source=f"average:{extra['chosen']}",
                    **{k: v for k, v in info.items() if k != "sources"})
    n_params = sum(int(t.numel()) for t in weights.values() if isinstance(t, torch.Tensor))
    return {"out": str(out), "mode": mode, "tensors": len(weights), "elements": n_params,
            "bytes": Path(out).stat().st_size, **info, **extra, "warnings": warnings}
