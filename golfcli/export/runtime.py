"""The chain an exported train_gpt.py runs, in one torchrun job (or one plain process).

train (to the wallclock less a measured reserve) → ema → self-generated calibration → GPTQ →
pack, on rank 0 inside the training budget; then every rank re-reads the artifact's bytes from
disk and scores them: the standard roundtrip, then the configured evaluation (sliding, with TTT
or Hedge where the plan says). Each step is the stage function `golf run` calls, with the same
settings, so the scores equal `golf run`'s for the same config, seed and data. Lines in the
records' style go to stdout and to logs/RUN_ID.txt; files go under runs/RUN_ID/.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch

from golfcli.config import GolfConfig, config_from_dict
from golfcli.config.toml import parse_value
from golfcli.distributed import DistInfo, barrier, held
from golfcli.errors import GolfError
from golfcli.export.plan import ExportPlan

# Artifact metadata that differs from run to run of one seed (timings, hashes of files holding
# timings, the checkout's revision): dropped so that one seed always packs the same bytes.
_RUN_SPECIFIC = ("seconds", "source_sha256", "git_revision")


@dataclass
class Run:
    """One run of the script: its config after the environment, and where it writes."""

    cfg: GolfConfig
    run_id: str
    wallclock: float  # seconds for training + quantization; 0 = step-based, no cap
    root: Path  # runs/RUN_ID
    log: Path  # logs/RUN_ID.txt

    artifact = property(lambda self: self.root / "artifact.bin")
    train_dir = property(lambda self: self.root / "train")


def apply_env(plan: ExportPlan, env: Mapping[str, str]) -> Run:
    """The run the environment asks for: SEED, DATA_PATH, TOKENIZER_PATH, MAX_WALLCLOCK_SECONDS,
    RUN_ID and GOLF_SET="section.key=value;..." on top of the frozen config."""
    tables = copy.deepcopy(plan.config)
    for item in filter(None, (s.strip() for s in env.get("GOLF_SET", "").split(";"))):
        key, eq, value = item.partition("=")
        section, dot, name = key.strip().partition(".")
        if not (eq and dot and name):
            raise GolfError(f"GOLF_SET takes section.key=value items separated by ';', got {item!r}")
        tables.setdefault(section, {})[name] = parse_value(value.strip())
    knobs = (("SEED", "train", "seed", int), ("DATA_PATH", "data", "data_dir", str),
             ("TOKENIZER_PATH", "data", "tokenizer", str))
    for var, section, name, kind in knobs:
        if env.get(var):
            try:
                tables.setdefault(section, {})[name] = kind(env[var])
            except ValueError:
                raise GolfError(f"environment variable {var} must be an integer, got {env[var]!r}") from None
    cfg = config_from_dict(tables, preset=plan.preset)
    try:
        wallclock = float(env.get("MAX_WALLCLOCK_SECONDS") or cfg.train.max_seconds)
    except ValueError:
        raise GolfError(f"MAX_WALLCLOCK_SECONDS must be a number, got {env['MAX_WALLCLOCK_SECONDS']!r}") from None
    run_id = env.get("RUN_ID") or f"{plan.preset or 'golf'}_seed{cfg.train.seed}"
    return Run(cfg, run_id, wallclock, Path("runs") / run_id, Path("logs") / f"{run_id}.txt")


class Log:
    """Rank 0's lines: stdout and the run's log file."""

    def __init__(self, path: Path, enabled: bool):
        self.enabled = enabled
        self._file = None
        if enabled:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(path, "x", encoding="utf-8")

    def __call__(self, line: str) -> None:
        if self.enabled:
            print(line, flush=True)
            self._file.write(line + "\n")
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def reproducible(meta: Any, root: Path) -> Any:
    """`meta` without run-specific keys (at any depth), and paths under `root` relative to it."""
    if isinstance(meta, dict):
        return {k: reproducible(v, root) for k, v in meta.items() if k not in _RUN_SPECIFIC}
    if isinstance(meta, list):
        return [reproducible(v, root) for v in meta]
    if isinstance(meta, str) and meta.startswith(f"{root}/"):
        return meta[len(f"{root}/"):]
    return meta


def _check_free(run: Run) -> None:
    for path in (run.root, run.log):
        if path.exists():
            raise GolfError("exists already: give another RUN_ID (or SEED), or move it away", path)


def _header(log: Log, run: Run, dist: DistInfo, code_bytes: int) -> None:
    cfg = run.cfg
    log(f"Running Python {platform.python_version()}")
    log(f"Running PyTorch {torch.__version__}")
    log(f"run_id:{run.run_id}")
    log(f"seed:{cfg.train.seed}")
    log(f"world_size:{dist.world_size} device:{dist.device}")
    log(f"data_path:{cfg.data.data_dir} tokenizer_path:{cfg.data.tokenizer}")
    for section, table in dataclasses.asdict(cfg).items():
        if isinstance(table, dict):
            log(f"config:{section} " + " ".join(f"{k}={v}" for k, v in table.items()))
    log(f"Code size: {code_bytes} bytes")


def _train(log: Log, run: Run, plan: ExportPlan) -> dict[str, Any]:
    from golfcli.train import train

    tc = run.cfg.train
    reserve = plan.reserve_seconds if run.wallclock > 0 else 0.0
    budget = max(run.wallclock - reserve, 0.0) if run.wallclock > 0 else None
    if run.wallclock > 0 and budget <= 0:
        raise GolfError(f"the reserve ({reserve:g} s) leaves no training time in {run.wallclock:g} s")
    log(f"gptq:reserving {reserve:g}s, effective={1000 * (budget or 0):.0f}ms" if budget else
        f"train:step-based iterations:{tc.iterations} (no wallclock cap)")

    def on_step(r: dict[str, Any]) -> None:
        log(f"step:{r['step']}/{tc.iterations} train_loss:{r['loss']:.4f} train_time:{1000 * r['elapsed']:.0f}ms "
            f"step_avg:{r['ms_per_step']:.2f}ms")

    result = train(run.cfg, run.train_dir, max_seconds=budget, on_step=on_step)
    steps, ms = result["steps"], 1000 * result["seconds"]
    if result["stopped_by"] == "max_seconds":
        log(f"stopping_early: wallclock_cap train_time:{ms:.0f}ms step:{steps}/{tc.iterations}")
    log(f"train_done steps:{steps} train_time:{ms:.0f}ms step_avg:{ms / max(steps, 1):.2f}ms")
    if result.get("ema_val_bpb") is not None:
        log(f"DIAGNOSTIC post_ema val_loss:{result['ema_val_loss']:.4f} val_bpb:{result['ema_val_bpb']:.4f}")
    return result


def _quantize(log: Log, run: Run, code_bytes: int) -> None:
    """ema → calibrate → quantize → pack, as `golf run`'s stages do (rank 0)."""
    from golfcli.artifact.pack import write_artifact
    from golfcli.quant.calibrate import calibrate
    from golfcli.quant.quantize import quantize
    from golfcli.qtensor import load_quantized, save_quantized
    from golfcli.train import average_checkpoint

    cfg, root = run.cfg, run.root
    ema, hessians, quantized = root / "ema.safetensors", root / "hessians.safetensors", root / "quantized.safetensors"
    averaged = average_checkpoint(run.train_dir, ema)  # train.ship_weights decides, as in `golf run`
    log(f"model_params:{averaged['elements']}")
    log(f"weights:{averaged['chosen']} ({averaged['reason']})")
    cal = calibrate(ema, hessians, cfg.calib)
    log(f"gptq:calibration {cal['source']} {cal['seqs']} seqs x {cal['seq_len']} tokens in "
        f"{cal['seconds_tokens'] + cal['seconds_hessians']:.1f}s")
    quant = cfg.quant
    if quant.target_bytes:  # the planner counts this script as the code bytes
        quant = dataclasses.replace(quant, code_bytes=code_bytes)
    report = quantize(ema, quantized, hessians, quant)
    log("mixed_quant: " + ", ".join(f"{n} {b}" for b, n in report["bits_histogram"].items()))
    qm = load_quantized(str(quantized))
    qm.meta = reproducible(qm.meta, root)
    save_quantized(str(quantized), qm)
    write_artifact(qm, run.artifact, codec=cfg.pack.codec, sample_bytes=cfg.pack.sample_bytes)


def _evaluate(log: Log, run: Run, plan: ExportPlan, label: str) -> float:
    """Score the artifact file: standard roundtrip, then the plan's evaluation; return the seconds."""
    from golfcli.scoring import run_eval

    cfg = run.cfg
    steps = [("roundtrip", "standard", False), ("sliding_window", "sliding", False)]
    if plan.mode == "hedge":
        steps.append(("hedge", "hedge", plan.ttt))
    elif plan.ttt:
        steps.append(("ttt", "sliding", True))
    total = 0.0
    for name, mode, ttt in steps:
        r = run_eval(str(run.artifact), cfg.data.data_dir, cfg.data.tokenizer, mode, ttt=ttt, eval_cfg=cfg.eval,
                     device=cfg.train.device)
        total += r["seconds"]
        extra = f" stride:{cfg.eval.stride}" if mode != "standard" else ""
        log(f"final_{label}_{name} val_loss:{r['val_loss']:.4f} val_bpb:{r['val_bpb']:.4f}{extra} "
            f"eval_time:{1000 * r['seconds']:.0f}ms")
        log(f"final_{label}_{name}_exact val_loss:{r['val_loss']:.8f} val_bpb:{r['val_bpb']:.8f}")
    return total


def run_chain(plan: ExportPlan, run: Run, script: Path) -> None:
    """The whole chain for `run` (every rank calls this)."""
    cfg = run.cfg
    code_bytes = script.stat().st_size
    with held(cfg.train.device) as dist:
        _check_free(run)
        barrier(dist)
        log = Log(run.log, dist.is_main)
        try:
            _header(log, run, dist, code_bytes)
            result = _train(log, run, plan)
            t0 = time.perf_counter()
            if dist.is_main:
                _quantize(log, run, code_bytes)
            barrier(dist)
            gptq = time.perf_counter() - t0
            log(f"gptq:done in {gptq:.1f}s (reserve {plan.reserve_seconds:g}s)")
            train_s = result["seconds"]
            log(f"wallclock:post_gptq train_time:{train_s:.1f}s gptq_time:{gptq:.1f}s total:{train_s + gptq:.1f}s "
                + (f"budget:{run.wallclock:.1f}s" if run.wallclock else "budget:none"))
            model_bytes = run.artifact.stat().st_size
            log(f"Serialized model golf artifact: {model_bytes} bytes ({run.artifact})")
            log(f"Total submission size golf artifact: {model_bytes + code_bytes} bytes")
            label = f"int{max(cfg.quant.attn_bits, cfg.quant.mlp_bits)}"
            seconds = _evaluate(log, run, plan, label)
            log(f"eval_total_time:{1000 * seconds:.0f}ms")
        finally:
            log.close()


def main(script: str, plan_table: dict[str, Any], argv: list[str] | None = None) -> int:
    """The exported script's entry: run the chain; `--dry-run` only resolves the run and imports it all."""
    args = sys.argv[1:] if argv is None else argv
    try:
        plan = ExportPlan.from_dict(plan_table)
        run = apply_env(plan, os.environ)
        if args == ["--dry-run"]:
            _dry_run(plan, run)
            return 0
        if args:
            raise GolfError(f"train_gpt.py takes no arguments but --dry-run (settings come from the environment), "
                            f"got {' '.join(args)}")
        run_chain(plan, run, Path(script))
    except GolfError as exc:
        print(f"golf: error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


def _dry_run(plan: ExportPlan, run: Run) -> None:
    import golfcli.artifact.pack  # noqa: F401  every module the chain imports loads from the bundle
    import golfcli.quant.calibrate  # noqa: F401
    import golfcli.quant.quantize  # noqa: F401
    import golfcli.scoring  # noqa: F401
    import golfcli.train  # noqa: F401

    print(f"run_id:{run.run_id} seed:{run.cfg.train.seed} wallclock:{run.wallclock:g}s mode:{plan.mode} "
          f"ttt:{plan.ttt} data_path:{run.cfg.data.data_dir} tokenizer_path:{run.cfg.data.tokenizer}")
