"""A records folder's numbers: the train logs parsed per seed, submission.json and the README.

The parser reads the lines an exported train_gpt.py prints and, where they differ, the lines of
the challenge's own record scripts (`step:N/M ... train_time:Xms step_avg:Yms`,
`stopping_early: ... train_time:Xms`, `final_..._exact val_loss:L val_bpb:B`), so a record's log
can serve as a baseline.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from golfcli import __version__
from golfcli.config.artifact import SIZE_LIMIT
from golfcli.errors import GolfError
from golfcli.io import read_bytes, write_text_atomic

TRAIN_BUDGET_S = 600.0  # on 8×H100 SXM, training including calibration and GPTQ
EVAL_BUDGET_S = 600.0
RESULTS_START, RESULTS_END = "<!-- golf:results -->", "<!-- /golf:results -->"


@dataclass
class SeedResult:
    """What one train log says."""

    log: str
    seed: int | None = None
    run_id: str | None = None
    val_loss: float | None = None  # the last `final_..._exact` line: the scored evaluation
    val_bpb: float | None = None
    bytes_total: int | None = None
    bytes_code: int | None = None
    steps: int | None = None
    ms_per_step: float | None = None
    train_seconds: float | None = None  # training + calibration + GPTQ (what the training budget counts)
    eval_seconds: float | None = None
    world_size: int | None = None


def _last(pattern: str, text: str) -> re.Match | None:
    found = list(re.finditer(pattern, text, re.MULTILINE))
    return found[-1] if found else None


def _num(match: re.Match | None, group: int = 1, kind: type = float) -> Any:
    return kind(match.group(group)) if match else None


def parse_log(path: str | Path) -> SeedResult:
    """The numbers of one train log (fields a log does not show stay None)."""
    text = read_bytes(path, "train log").decode("utf-8", errors="replace")
    r = SeedResult(log=Path(path).name)
    r.seed = _num(_last(r"^\s*seed:\s*(\d+)", text), kind=int)
    r.run_id = _num(_last(r"^\s*run_id:\s*(\S+)", text), kind=str)
    r.world_size = _num(_last(r"world_size:\s*(\d+)", text), kind=int)
    final = (_last(r"^final_\S+_exact val_loss:([\d.]+) val_bpb:([\d.]+)", text)
             or _last(r"^[a-z][^:\n]* val_loss:\s*([\d.]+) val_bpb:\s*([\d.]+)", text))
    r.val_loss, r.val_bpb = _num(final, 1), _num(final, 2)
    r.bytes_total = _num(_last(r"^Total submission size[^:\n]*: (\d+) bytes", text), kind=int)
    r.bytes_code = _num(_last(r"^Code size: (\d+) bytes", text), kind=int)
    done = _last(r"^train_done steps:(\d+) train_time:(\d+)ms step_avg:([\d.]+)ms", text)
    step = _last(r"^(?:step:)?(\d+)/\d+ .*train_time:\s*([\d.]+)ms.*step_avg:\s*([\d.]+)ms", text)
    stop = _last(r"^stopping_early:.*train_time:\s*(\d+)ms.*step:\s*(\d+)", text)
    if done:
        r.steps, r.ms_per_step = int(done.group(1)), float(done.group(3))
    elif stop:
        r.steps = int(stop.group(2))
        r.ms_per_step = float(step.group(3)) if step else float(stop.group(1)) / max(r.steps, 1)
    elif step:
        r.steps, r.ms_per_step = int(step.group(1)), float(step.group(3))
    total = _last(r"^wallclock:post_gptq .*\btotal:([\d.]+)s", text)
    if total:
        r.train_seconds = float(total.group(1))
    elif stop or step:
        r.train_seconds = float((stop or step).group(2 if step and not stop else 1)) / 1000
    evals = _last(r"^eval_total_time:(\d+)ms", text)
    if evals:
        r.eval_seconds = float(evals.group(1)) / 1000
    else:
        times = re.findall(r"^[a-z][^:\n]* val_loss:.*eval_time:\s*(\d+)ms", text, re.MULTILINE)
        r.eval_seconds = sum(float(t) for t in times) / 1000 if times else None
    return r


def folder_logs(folder: str | Path) -> list[SeedResult]:
    """Every train log in `folder`/logs (and `*.log` / `train*.txt` beside the script), by name."""
    root = Path(folder)
    paths = sorted({*root.glob("logs/*.txt"), *root.glob("*.log"), *root.glob("train*.txt")})
    return [parse_log(p) for p in paths]


def mean_std(values: list[float]) -> tuple[float | None, float | None]:
    """(mean, sample standard deviation); std is None for fewer than two values."""
    if not values:
        return None, None
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def compliance(golf: dict[str, Any], results: list[SeedResult]) -> dict[str, Any]:
    """The rule facts golf knows: budgets, sizes, how the evaluation treats validation tokens."""
    def worst(key: str) -> Any:
        values = [getattr(r, key) for r in results if getattr(r, key) is not None]
        return max(values) if values else None

    return {
        "train_seconds_max": worst("train_seconds"), "train_budget_seconds": TRAIN_BUDGET_S,
        "eval_seconds_max": worst("eval_seconds"), "eval_budget_seconds": EVAL_BUDGET_S,
        "bytes_total_max": worst("bytes_total"), "bytes_limit": SIZE_LIMIT,
        "calibration": "self-generated by the trained model (no training or validation data), inside the "
                       "training budget",
        "score_first_ttt": bool(golf.get("ttt")),
        "ngram_cache": "Hedge mixer over already-scored tokens (normalized experts)" if golf.get("mode") == "hedge"
        else "none",
        "artifact_rescored_from_bytes": True,
    }


def submission(info: dict[str, Any], results: list[SeedResult]) -> dict[str, Any]:
    """submission.json: the author's fields, the means, per-seed results, compliance facts."""
    bpb_mean, bpb_std = mean_std([r.val_bpb for r in results if r.val_bpb is not None])
    loss_mean, _ = mean_std([r.val_loss for r in results if r.val_loss is not None])
    golf = info.get("golf", {})
    return {
        "name": info.get("name", "golf export"), "author": info.get("author", ""),
        "github_id": info.get("github_id", ""), "blurb": info.get("blurb", ""),
        "date": info.get("date") or _dt.date.today().isoformat(),
        "val_bpb": bpb_mean, "val_bpb_std": bpb_std, "val_loss": loss_mean,
        "bytes_total": max((r.bytes_total for r in results if r.bytes_total), default=None),
        "bytes_code": info.get("bytes_code"),
        "seeds": [asdict(r) for r in results],
        "compliance": compliance(golf, results),
        "golf": {**golf, "version": __version__},
    }


def _fmt(value: Any, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def results_block(sub: dict[str, Any]) -> str:
    """The README's generated part: per-seed table, mean ± std, compliance facts."""
    rows = ["| seed | val_bpb | val_loss | steps | ms/step | train s | eval s | total bytes |",
            "|---|---|---|---|---|---|---|---|"]
    for s in sub["seeds"]:
        rows.append(f"| {s['seed']} | {_fmt(s['val_bpb'], '.8f')} | {_fmt(s['val_loss'], '.8f')} | "
                    f"{_fmt(s['steps'], ',')} | {_fmt(s['ms_per_step'], '.2f')} | {_fmt(s['train_seconds'], '.1f')} | "
                    f"{_fmt(s['eval_seconds'], '.1f')} | {_fmt(s['bytes_total'], ',')} |")
    c = sub["compliance"]
    lines = [RESULTS_START, "## Results", "", *rows, "",
             f"**val_bpb {_fmt(sub['val_bpb'], '.8f')}** (mean of {len(sub['seeds'])} seeds, "
             f"std {_fmt(sub['val_bpb_std'], '.8f')}); code {_fmt(sub['bytes_code'], ',')} bytes.", "",
             "## Compliance", "",
             f"- training + calibration + GPTQ: at most {_fmt(c['train_seconds_max'], '.1f')} s of "
             f"{c['train_budget_seconds']:.0f} s; evaluation: at most {_fmt(c['eval_seconds_max'], '.1f')} s of "
             f"{c['eval_budget_seconds']:.0f} s",
             f"- artifact + code: at most {_fmt(c['bytes_total_max'], ',')} of {c['bytes_limit']:,} bytes; the score "
             "is measured on the artifact re-read from disk",
             f"- calibration: {c['calibration']}",
             f"- test-time training: {'score-first (each chunk scored before it is trained on)' if c['score_first_ttt'] else 'none'}",
             f"- n-gram cache: {c['ngram_cache']}", RESULTS_END]
    return "\n".join(lines) + "\n"


def readme(sub: dict[str, Any]) -> str:
    """A README skeleton around the generated results block."""
    golf = sub["golf"]
    return (f"# {sub['name']}\n\n{sub['blurb'] or 'What this submission changes, and why it helps.'}\n\n"
            + results_block(sub) +
            f"\n## Run\n\nExported by golf {golf['version']} (`golf export`, preset `{golf.get('preset')}`): "
            "`train_gpt.py` holds the code and the frozen config.\n\n```bash\n"
            "pip install -r requirements.txt\n"
            "for seed in 1337 42 2025; do\n"
            "  SEED=$seed DATA_PATH=./data/datasets/fineweb10B_sp1024 "
            "TOKENIZER_PATH=./data/tokenizers/fineweb_1024_bpe.model \\\n"
            "    torchrun --standalone --nproc_per_node=8 train_gpt.py\ndone\n```\n")


def write_reports(folder: Path, info: dict[str, Any]) -> dict[str, Any]:
    """Write submission.json and README.md (keeping a README's text outside the results block)."""
    sub = submission(info, folder_logs(folder))
    write_text_atomic(folder / "submission.json", json.dumps(sub, indent=2) + "\n")
    path = folder / "README.md"
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if RESULTS_START in old and RESULTS_END in old:
        head, _, rest = old.partition(RESULTS_START)
        text = head + results_block(sub).rstrip("\n") + rest.partition(RESULTS_END)[2]
    else:
        text = readme(sub)
    write_text_atomic(path, text)
    return sub


def read_submission(folder: Path) -> dict[str, Any]:
    """A folder's submission.json (GolfError naming it when absent or not JSON)."""
    path = folder / "submission.json"
    try:
        return json.loads(read_bytes(path, "submission.json"))
    except json.JSONDecodeError as exc:
        raise GolfError(f"not JSON ({exc.msg} at line {exc.lineno})", path) from None
