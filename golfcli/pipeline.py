"""`golf run`: the whole chain in one run dir, through the same commands a user would type.

Each stage is run as `golf <verb> ... --json` in a child process (golfcli/stage_process.py) on
files under fixed names in the run dir, and the exact command is logged (`commands.sh`,
`stages.json`), so any stage can be rerun by hand. A stage is skipped when its outputs exist and
the hash of its command, the config sections it reads and the bytes of its input files is the one
recorded when it last ran; a stage downstream of a redone one reruns exactly when the files it
reads changed. A stage's key is recorded before it starts, so a rerun after an interruption knows
what was running: training with the same key resumes from its newest valid checkpoint; with
another key the old train dir is moved aside (train.old-N), never deleted. Stages that write
files get `--overwrite`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from golfcli import console
from golfcli.artifact import source_digest
from golfcli.config import GolfConfig, config_to_dict, config_to_toml, load_config, replace_section
from golfcli.errors import GolfError
from golfcli.io import check_output_dir, check_safetensors, sha256_file, write_text_atomic
from golfcli.stage_process import start_stage

STATE_FILE = "stages.json"


@dataclass
class Stage:
    """One step of the chain: the golf command, the files it reads, the files it must leave."""

    name: str
    argv: list[str]
    inputs: list[Path] = field(default_factory=list)
    outputs: list[Path] = field(default_factory=list)
    ok_exit_codes: tuple[int, ...] = (0,)
    settings: dict[str, Any] = field(default_factory=dict)  # config sections the stage reads via --config
    resumable: bool = False  # its output is a train dir that `--resume` continues

    @property
    def command(self) -> str:
        return "golf " + " ".join(shlex.quote(a) for a in self.argv)


@dataclass
class RunLayout:
    """Fixed file names inside a run dir."""

    root: Path

    def __post_init__(self) -> None:
        self.root = Path(self.root)

    config = property(lambda self: self.root / "config.toml")
    train_dir = property(lambda self: self.root / "train")
    final = property(lambda self: self.root / "train" / "final.safetensors")
    averaged = property(lambda self: self.root / "ema.safetensors")
    hessians = property(lambda self: self.root / "hessians.safetensors")
    quantized = property(lambda self: self.root / "quantized.safetensors")
    artifact = property(lambda self: self.root / "artifact.bin")
    submission = property(lambda self: self.root / "submission.py")
    summary = property(lambda self: self.root / "summary.json")
    builtin_data = property(lambda self: self.root / "data")


def _file_digest(path: Path) -> str:
    if path.is_dir():  # a data directory: its listing (names, sizes, mtimes), not gigabytes of content
        listing = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in path.iterdir() if p.is_file())
        return hashlib.sha256(json.dumps(listing).encode()).hexdigest()
    return sha256_file(path) if path.exists() else "missing"


def stage_key(stage: Stage) -> str:
    """Hash of a stage's command and the bytes of its input files."""
    digest = hashlib.sha256(json.dumps([stage.argv, stage.settings], sort_keys=True).encode())
    for path in stage.inputs:
        digest.update(f"{path}:{_file_digest(path)}".encode())
    return digest.hexdigest()


def _load_state(layout: RunLayout) -> dict[str, Any]:
    path = layout.root / STATE_FILE
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return {}


def _run_stage(stage: Stage, argv: list[str], show_progress: bool) -> dict[str, Any]:
    """Run one stage as a child process; its stderr reaches ours live (a terminal's bars, or plain lines)."""
    env = dict(os.environ)
    if show_progress:
        env["GOLF_PROGRESS"] = "1"
    tty = sys.stderr.isatty()
    proc = start_stage([*argv, "--json"], env, capture_stderr=not (tty and show_progress))
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.append(proc.stdout.read() if proc.stdout else ""))
    reader.start()  # read stdout beside stderr, so neither pipe can fill and stall the stage
    tail = _stream_stderr(proc)
    reader.join()
    proc.wait()
    stdout = out[0] if out else ""
    if proc.returncode not in stage.ok_exit_codes:
        reason = tail[-1] if tail else f"exit code {proc.returncode}"
        raise GolfError(f"stage {stage.name} failed ({reason}); rerun by hand: {stage.command}")
    lines = [line for line in stdout.strip().splitlines() if line.startswith("{")]
    if not lines:
        raise GolfError(f"stage {stage.name} printed no JSON result; rerun by hand: {stage.command}")
    result = json.loads(lines[-1])
    result["exit_code"] = proc.returncode
    return result


def _stream_stderr(proc: Any) -> list[str]:
    """Copy a stage's stderr to ours line by line as it comes; return its last lines."""
    tail: list[str] = []
    if proc.stderr is None:
        return tail
    for line in proc.stderr:
        console.passthrough(line)
        if line.strip():
            tail = [*tail[-4:], line.strip()]
    return tail


def execute(stages: list[Stage], layout: RunLayout, show_progress: bool) -> dict[str, dict[str, Any]]:
    """Run (or skip, when up to date) each stage in order; return each stage's record."""
    state = _load_state(layout)
    records: dict[str, dict[str, Any]] = {}
    for stage in stages:
        key = stage_key(stage)
        previous = state.get(stage.name)
        up_to_date = (
            previous is not None and previous.get("key") == key and not previous.get("pending")
            and all(p.exists() for p in stage.outputs)
        )
        if up_to_date:
            console.info(f"[dim]{stage.name}: up to date, skipped[/dim]")
            records[stage.name] = {**previous, "skipped": True}
            continue
        argv, resumed = stage.argv, None
        if stage.resumable:
            resumed = _resume_or_set_aside(stage, previous is not None and previous.get("key") == key)
            argv = [*argv, "--resume"] if resumed is not None else argv
        state[stage.name] = {"command": stage.command, "key": key, "pending": True}
        write_text_atomic(layout.root / STATE_FILE, json.dumps(state, indent=2) + "\n")
        console.info(f"[bold]{stage.name}[/bold]: {stage.command}" + (" --resume" if resumed is not None else ""))
        start = time.perf_counter()
        result = _run_stage(stage, argv, show_progress)
        record = {"command": stage.command, "key": key, "seconds": time.perf_counter() - start,
                  "result": result}
        if resumed is not None:
            record["resumed_from_step"] = resumed
        records[stage.name] = state[stage.name] = record
        write_text_atomic(layout.root / STATE_FILE, json.dumps(state, indent=2) + "\n")
    write_text_atomic(layout.root / "commands.sh", "#!/bin/sh\nset -e\n" + "\n".join(s.command for s in stages) + "\n")
    return records


def _resume_or_set_aside(stage: Stage, same_key: bool) -> int | None:
    """Before (re)running a train stage: the step it resumes from, or None after moving old work aside.

    With the key unchanged, training continues from the newest checkpoint that reads back whole
    (damaged newer ones are renamed `*.damaged`). Otherwise an existing train dir is renamed to
    `train.old-N`, so nothing trained is ever deleted.
    """
    from golfcli.train.run_dir import RunDir

    folder = stage.outputs[0]
    if not folder.exists():
        return None
    run = RunDir(folder)
    if same_key:
        for step, path in reversed(run.checkpoints()):
            try:
                check_safetensors(path)
            except GolfError as exc:
                path.rename(path.with_name(path.name + ".damaged"))
                console.info(f"[yellow]{stage.name}[/yellow]: skipping a damaged checkpoint ({exc})")
                continue
            console.info(f"{stage.name}: same settings and inputs as the interrupted run: resuming from {path} "
                         f"(step {step})")
            return step
        if not run.has_training_output():
            return None  # interrupted before its first checkpoint: start again in place
    aside = _free_name(folder)
    folder.rename(aside)
    console.info(f"{stage.name}: settings or inputs changed since {folder} was trained: moved it to {aside} "
                 f"(delete it yourself once it is not needed)")
    return None


def _free_name(folder: Path) -> Path:
    n = 1
    while (candidate := folder.with_name(f"{folder.name}.old-{n}")).exists():
        n += 1
    return candidate


def plan_stages(cfg: GolfConfig, layout: RunLayout, hedge: bool, build_data: bool) -> list[Stage]:
    """The chain, as golf commands on the run dir's fixed file names.

    Each stage's key covers only what it reads: train the [data]/[model]/[train] sections, the
    calibration [calib], quantization [quant], the evaluations [eval], pack and verify-size [pack],
    the submission bundle golf's own source. Every stage reads its settings from the run's
    config.toml (`--config`), so changing how to quantize never retrains.
    """
    tables = config_to_dict(cfg)
    data_dir, tokenizer = Path(cfg.data.data_dir), Path(cfg.data.tokenizer)
    conf = ["--config", str(layout.config)]
    data = ["--data", str(data_dir), "--tokenizer", str(tokenizer)]
    data_inputs = [data_dir, tokenizer]
    # train.ship_weights is read by the ema stage (its --mode): changing it never retrains
    train_table = {k: v for k, v in tables["train"].items() if k != "ship_weights"}
    train_settings = {"data": tables["data"], "model": tables["model"], "train": train_table}
    calib_settings = {"calib": tables["calib"]}
    quant_settings = {"quant": tables["quant"]}
    eval_settings = {"eval": tables["eval"]}
    pack_settings = {"pack": tables["pack"]}
    code_settings = {"golf_source": source_digest()}  # the bundle changes when golf's loading code does
    model, art, sub = str(layout.averaged), str(layout.artifact), str(layout.submission)
    again = ["--overwrite"]  # the run dir is golf run's own: a stage it reruns replaces its old output
    stages = []
    if build_data:
        stages.append(Stage("data", ["data", "builtin", "--out", str(data_dir), *again], [], [data_dir]))
    stages += [
        Stage("train", ["train", *conf, *data, "--out", str(layout.train_dir)], data_inputs, [layout.train_dir],
              settings=train_settings, resumable=True),
        Stage("ema", ["ema", str(layout.train_dir), "--out", model, "--mode", cfg.train.ship_weights,
                      "--data", str(data_dir), *again], [layout.final, data_dir], [layout.averaged]),
        Stage("gptq-calibrate", ["gptq-calibrate", model, *conf, "--out", str(layout.hessians), *again],
              [layout.averaged], [layout.hessians], settings=calib_settings),
        Stage("quantize", ["quantize", model, *conf, "--hessians", str(layout.hessians), "--out",
                           str(layout.quantized), *again], [layout.averaged, layout.hessians], [layout.quantized],
              settings=quant_settings),
        Stage("pack", ["pack", str(layout.quantized), *conf, "--out", art, *again], [layout.quantized],
              [layout.artifact], settings=pack_settings),
        Stage("bundle", ["bundle", "--out", sub, *again], [], [layout.submission], settings=code_settings),
        Stage("verify-size", ["verify-size", art, "--code", sub, *conf], [layout.artifact, layout.submission], [],
              (0, 1), pack_settings),
        Stage("eval-pre-quant", ["eval", model, *conf, *data], [layout.averaged, *data_inputs],
              settings=eval_settings),
        Stage("eval-post-quant", ["eval", art, *conf, *data], [layout.artifact, *data_inputs],
              settings=eval_settings),
        Stage("eval-sliding", ["eval-sliding", art, *conf, *data], [layout.artifact, *data_inputs],
              settings=eval_settings),
    ]
    if hedge:
        stages.append(Stage("eval-hedge", ["eval-hedge", art, *conf, *data], [layout.artifact, *data_inputs],
                            settings=eval_settings))
    return stages


def _resolve_data(cfg: GolfConfig, layout: RunLayout, data_dir: str | None, tokenizer: str | None) -> tuple[Path, Path, bool]:
    if data_dir:
        tok = Path(tokenizer) if tokenizer else Path(cfg.data.tokenizer)
        return Path(data_dir), tok, False
    default_dir, default_tok = Path(cfg.data.data_dir), Path(tokenizer or cfg.data.tokenizer)
    if any(default_dir.glob("fineweb_val_*.bin")) and default_tok.exists():
        return default_dir, default_tok, False
    console.info(
        f"no challenge data at {default_dir}: using the embedded corpus (built by golf data builtin) in "
        f"{layout.builtin_data}; its bpb is not comparable to FineWeb's"
    )
    return layout.builtin_data, layout.builtin_data / "tokenizer.model", True


def run_pipeline(
    out_dir: str | Path,
    preset: str | None = None,
    config_file: str | None = None,
    overrides: tuple[str, ...] = (),
    data_dir: str | None = None,
    tokenizer: str | None = None,
    hedge: bool = False,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Run train → ema → gptq-calibrate → quantize → pack → bundle → verify-size → eval in `out_dir`."""
    layout = RunLayout(check_output_dir(out_dir))
    cfg = load_config(preset, config_file, overrides)
    layout.root.mkdir(parents=True, exist_ok=True)
    data, tok, build = _resolve_data(cfg, layout, data_dir, tokenizer)
    cfg = replace_section(cfg, "data", data_dir=str(data), tokenizer=str(tok))
    text = config_to_toml(cfg)
    if not layout.config.exists() or layout.config.read_text() != text:
        write_text_atomic(layout.config, text)
    stages = plan_stages(cfg, layout, hedge, build)
    records = execute(stages, layout, show_progress)
    summary = build_summary(cfg, records)
    write_text_atomic(layout.summary, json.dumps(summary, indent=2) + "\n")
    summary["run_dir"] = str(layout.root)
    return summary


def _bpb(records: dict[str, dict[str, Any]], stage: str) -> float | None:
    result = records.get(stage, {}).get("result", {})
    return result.get("val_bpb")


def build_summary(cfg: GolfConfig, records: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The run's numbers in the shape of summary.json."""
    from golfcli.model.params import param_report

    train = records.get("train", {}).get("result", {})
    ema = records.get("ema", {}).get("result", {})
    size = records.get("verify-size", {}).get("result", {})
    pack = records.get("pack", {}).get("result", {})
    sections = {f"codes:{role}": r.get("bytes") for role, r in (pack.get("roles") or {}).items()}
    for key in ("scales", "passthrough", "manifest", "container"):
        if pack.get(f"{key}_bytes") is not None:
            sections[key] = pack[f"{key}_bytes"]
    return {
        "preset": cfg.preset,
        "params": param_report(cfg.model)["total"],
        "steps": train.get("steps"),
        "train_seconds": train.get("seconds"),
        "resumed_from_step": records.get("train", {}).get("resumed_from_step"),
        "weights": {"used": ema.get("chosen"), "reason": ema.get("reason"), "probe": ema.get("probe"),
                    "warnings": ema.get("warnings", [])},
        "bpb": {
            "pre_quant": _bpb(records, "eval-pre-quant"),
            "post_quant": _bpb(records, "eval-post-quant"),
            "sliding": _bpb(records, "eval-sliding"),
            "hedge": _bpb(records, "eval-hedge"),
        },
        "bytes": {
            "model": size.get("model_bytes"),
            "code": size.get("code_bytes"),
            "total": size.get("total_bytes"),
            "limit": size.get("limit"),
            "fits": size.get("fits"),
            "by_section": sections,
        },
        "seconds": {name: round(rec.get("seconds", 0.0), 2) for name, rec in records.items()},
        "skipped": [name for name, rec in records.items() if rec.get("skipped")],
        "commands": {name: rec.get("command") for name, rec in records.items()},
    }
