"""`golf export --check`: a records folder against the challenge's rules, one verdict per rule."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from golfcli.config.artifact import SIZE_LIMIT
from golfcli.errors import GolfError
from golfcli.export.folder import REQUIRED_FILES, SCRIPT
from golfcli.export.records import EVAL_BUDGET_S, TRAIN_BUDGET_S, SeedResult, folder_logs, parse_log, read_submission
from golfcli.export.stats import one_sided_p

MIN_GAIN_NATS = 0.005  # the challenge's required improvement over the record
P_MAX = 0.01
SEEDS = 3


def _verdict(rule: str, ok: bool, detail: str) -> dict[str, Any]:
    return {"rule": rule, "ok": ok, "detail": detail}


def _files(root: Path, logs: list[SeedResult]) -> list[dict[str, Any]]:
    missing = [name for name in REQUIRED_FILES if not (root / name).is_file()]
    out = [_verdict("files", not missing, f"missing {', '.join(missing)}" if missing else
                    f"{', '.join(REQUIRED_FILES)} present")]
    out.append(_verdict("logs", len(logs) >= 1, f"{len(logs)} train log(s)" + (
        "" if len(logs) >= SEEDS else f" (the challenge expects {SEEDS} seeds to show significance)")))
    return out


def _runs_here(root: Path) -> dict[str, Any]:
    """The script decompresses, imports everything it runs and resolves its config, from its folder."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    try:
        proc = subprocess.run([sys.executable, SCRIPT, "--dry-run"], cwd=root, capture_output=True, text=True,
                              env=env, timeout=300)
    except subprocess.TimeoutExpired:
        return _verdict("runs", False, f"python {SCRIPT} --dry-run did not finish in 300 s")
    last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
    return _verdict("runs", proc.returncode == 0, f"python {SCRIPT} --dry-run in {root}: " +
                    ("ok" if proc.returncode == 0 else f"exit {proc.returncode}: {last[0]}"))


def _per_log(r: SeedResult, code_bytes: int | None, limit: int) -> list[dict[str, Any]]:
    name = f"{r.log} (seed {r.seed})"
    out = []
    if r.val_bpb is None:
        out.append(_verdict("score", False, f"{name}: no final val_bpb line (did the run finish?)"))
    if r.bytes_total is None:
        out.append(_verdict("size", False, f"{name}: no 'Total submission size' line"))
    else:
        out.append(_verdict("size", r.bytes_total <= limit, f"{name}: {r.bytes_total:,} bytes "
                            f"{'≤' if r.bytes_total <= limit else 'OVER the cap of'} {limit:,}"))
    if code_bytes is not None and r.bytes_code is not None and r.bytes_code != code_bytes:
        out.append(_verdict("code", False, f"{name}: logged code size {r.bytes_code:,} bytes, but {SCRIPT} has "
                            f"{code_bytes:,}: the log is from another script"))
    for rule, seconds, budget in (("train time", r.train_seconds, TRAIN_BUDGET_S),
                                  ("eval time", r.eval_seconds, EVAL_BUDGET_S)):
        if seconds is None:
            out.append(_verdict(rule, False, f"{name}: the log shows no {rule}"))
        else:
            out.append(_verdict(rule, seconds <= budget, f"{name}: {seconds:.1f} s "
                                f"{'≤' if seconds <= budget else 'OVER the budget of'} {budget:.0f} s"))
    return out


def _significance(logs: list[SeedResult], baseline_bpb: float, min_gain: float) -> dict[str, Any]:
    bpbs = [r.val_bpb for r in logs if r.val_bpb is not None]
    gains = [(baseline_bpb - b) * math.log(2) for b in bpbs]  # nats per byte
    if len(gains) < 2:
        return _verdict("significance", False, f"{len(gains)} scored seed(s): a t-test needs at least 2")
    t, p = one_sided_p(gains, min_gain)
    mean = sum(gains) / len(gains)
    ok = p < P_MAX
    return _verdict("significance", ok, f"mean gain {mean:.5f} nats/byte over {baseline_bpb:.8f} bpb "
                    f"({len(gains)} seeds), t={t:.3f}, one-sided p={p:.4g} for a gain > {min_gain} nats "
                    f"({'<' if ok else '≥'} {P_MAX})")


def baseline_from_log(path: str | Path) -> float:
    """The final val_bpb of a record's train log."""
    r = parse_log(path)
    if r.val_bpb is None:
        raise GolfError("no final val_bpb line in this log", path)
    return r.val_bpb


def check_folder(folder: str | Path, baseline_bpb: float | None = None, min_gain: float = MIN_GAIN_NATS,
                 limit: int = SIZE_LIMIT, run_script: bool = True) -> dict[str, Any]:
    """Every rule's verdict for `folder` and whether all passed."""
    root = Path(folder)
    if not root.is_dir():
        raise GolfError("not a directory", root)
    logs = folder_logs(root)
    verdicts = _files(root, logs)
    script = root / SCRIPT
    code_bytes = script.stat().st_size if script.is_file() else None
    if run_script and code_bytes is not None:
        verdicts.append(_runs_here(root))
    for r in logs:
        verdicts += _per_log(r, code_bytes, limit)
    bpbs = [r.val_bpb for r in logs if r.val_bpb is not None]
    if (root / "submission.json").is_file() and bpbs:
        sub = read_submission(root)
        mean = sum(bpbs) / len(bpbs)
        same = sub.get("val_bpb") is not None and abs(sub["val_bpb"] - mean) < 1e-9
        verdicts.append(_verdict("submission.json", same, f"val_bpb {sub.get('val_bpb')} "
                                 + ("= the logs' mean" if same else f"≠ the logs' mean {mean} (run golf export --update)")))
    if baseline_bpb is not None:
        verdicts.append(_significance(logs, baseline_bpb, min_gain))
    return {"folder": str(root), "ok": all(v["ok"] for v in verdicts), "verdicts": verdicts}
