"""Writing a records folder: the script, its requirements, a readable config, submission.json, README."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from golfcli.config import GolfConfig, config_from_dict, config_to_dict, config_to_toml
from golfcli.errors import GolfError
from golfcli.export.plan import ExportPlan
from golfcli.export.records import read_submission, write_reports
from golfcli.export.script import build_script, requirements
from golfcli.io import write_bytes_atomic, write_text_atomic

SCRIPT = "train_gpt.py"
REQUIRED_FILES = (SCRIPT, "requirements.txt", "submission.json", "README.md")
_MISSING = object()


def config_delta(cfg: GolfConfig) -> dict[str, dict]:
    """The config's values that differ from golf's defaults (the script's defaults are the same code)."""
    defaults = config_to_dict(config_from_dict({}))
    delta = {name: {k: v for k, v in table.items() if defaults.get(name, {}).get(k, _MISSING) != v}
             for name, table in config_to_dict(cfg).items()}
    return {name: table for name, table in delta.items() if table}


def plan_for(cfg: GolfConfig, mode: str = "sliding", ttt: bool = False, reserve_seconds: float | None = None) -> ExportPlan:
    """The ExportPlan of a resolved config (reserve_seconds None: the plan's default)."""
    plan = ExportPlan(config=config_delta(cfg), preset=cfg.preset, mode=mode, ttt=ttt)
    if reserve_seconds is not None:
        plan.reserve_seconds = reserve_seconds
    return plan.validate()


def build_folder(out: str | Path, plan: ExportPlan, info: dict[str, Any] | None = None,
                 overwrite: bool = False) -> dict[str, Any]:
    """Write the records folder `out`; refuse a non-empty one unless `overwrite`. Returns a report."""
    root = Path(out)
    if root.exists() and not root.is_dir():
        raise GolfError("exists and is not a directory", root)
    if root.is_dir() and any(root.iterdir()) and not overwrite:
        raise GolfError("is not empty: give an empty or new directory, --overwrite, or --update it", root)
    script, report = build_script(plan)
    root.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(root / SCRIPT, script)
    write_text_atomic(root / "requirements.txt", "\n".join(requirements(plan)) + "\n")
    cfg = config_from_dict(plan.config, preset=plan.preset)
    write_text_atomic(root / "config.toml", "# the config frozen into train_gpt.py (a readable copy; the script "
                      "does not read this file)\n" + config_to_toml(cfg))
    golf = {"preset": plan.preset, "mode": plan.mode, "ttt": plan.ttt, "reserve_seconds": plan.reserve_seconds}
    sub = write_reports(root, {**(info or {}), "golf": golf, "bytes_code": len(script)})
    return {"out": str(root), **report, "requirements": requirements(plan), "logs": len(sub["seeds"])}


def update_folder(folder: str | Path) -> dict[str, Any]:
    """Refresh submission.json and README.md's results block from the logs now in `folder`."""
    root = Path(folder)
    if not (root / SCRIPT).is_file():
        raise GolfError(f"no {SCRIPT} here: not a records folder written by golf export", root)
    info = read_submission(root)
    info["bytes_code"] = (root / SCRIPT).stat().st_size
    sub = write_reports(root, info)
    return {"out": str(root), "logs": len(sub["seeds"]), "val_bpb": sub["val_bpb"], "val_bpb_std": sub["val_bpb_std"]}
