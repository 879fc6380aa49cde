"""Recording benchmark results: one JSON file per run with machine, torch version and git revision."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
from pathlib import Path
from typing import Any

from golfcli import __version__
from golfcli.io import git_revision, write_text_atomic

DEFAULT_DIR = Path("docs/benchmarks")


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on."""
    import torch

    info: dict[str, Any] = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.cuda.is_available(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def record(name: str, results: dict[str, Any], out_dir: str | Path | None = DEFAULT_DIR) -> dict[str, Any]:
    """Wrap `results` with machine/torch/git/date, write `<out_dir>/<name>-<date>.json`, return the record."""
    now = _dt.datetime.now(_dt.timezone.utc)
    rec = {
        "benchmark": name,
        "date": now.isoformat(timespec="seconds"),
        "golf_version": __version__,
        "git_revision": git_revision(),
        "machine": machine_info(),
        "results": results,
    }
    if out_dir is not None:
        path = Path(out_dir) / f"{name}-{now.strftime('%Y%m%dT%H%M%S')}.json"
        write_text_atomic(path, json.dumps(rec, indent=2) + "\n")
        rec["path"] = str(path)
    return rec
