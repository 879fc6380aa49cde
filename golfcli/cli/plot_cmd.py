"""`golf plot RUN`: pictures of a run (needs the optional `plot` extra: matplotlib)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from golfcli.cli.options import emit, json_option, overwrite_option
from golfcli.errors import GolfError
from golfcli.io import atomic_path, check_output_file

TIME_KEYS = ("elapsed_s", "train_seconds", "time_s", "elapsed")
STORY = (("pre_quant", "pre-quant"), ("post_quant", "post-quant"), ("sliding", "sliding"), ("hedge", "hedge"))


def _metrics(run: Path) -> list[dict[str, Any]]:
    for path in (run / "train" / "metrics.jsonl", run / "metrics.jsonl"):
        if path.exists():
            rows = []
            for line in path.read_text().splitlines():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
            return rows
    raise GolfError("no metrics.jsonl found (expected RUN/train/metrics.jsonl or RUN/metrics.jsonl)", run)


def _series(rows: list[dict[str, Any]], key: str, x: str = "step") -> tuple[list[float], list[float]]:
    pts = [(r[x], r[key]) for r in rows if r.get(key) is not None and r.get(x) is not None]
    return [p[0] for p in pts], [p[1] for p in pts]


def _time_key(rows: list[dict[str, Any]]) -> str | None:
    return next((k for k in TIME_KEYS if any(k in r for r in rows)), None)


def _summary(run: Path) -> dict[str, Any]:
    path = run / "summary.json"
    return json.loads(path.read_text()) if path.exists() else {}


def plot_run(run: str | Path, out: str | Path | None = None, overwrite: bool = False) -> dict[str, Any]:
    """Draw training curves, the bpb story and the byte budget of a run dir into one PNG."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise GolfError("golf plot needs matplotlib: pip install 'golfcli[plot]'") from None
    run = Path(run)
    if not run.is_dir():
        raise GolfError("run directory not found", run)
    out_path = check_output_file(Path(out) if out else run / "plot.png", overwrite, "PNG file")
    rows = _metrics(run)
    summary = _summary(run)
    fig, axes = plt.subplots(2, 3, figsize=(15, 8))
    _plot_curves(axes[0], rows)
    _plot_story(axes[1][0], summary)
    _plot_bytes(axes[1][1], summary)
    _plot_stage_seconds(axes[1][2], summary)
    fig.suptitle(f"golf run: {run.name}")
    fig.tight_layout()
    with atomic_path(out_path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return {"plot": str(out_path), "points": len(rows)}


def _plot_curves(row_axes: Any, rows: list[dict[str, Any]]) -> None:
    ax_loss, ax_bpb, ax_lr = row_axes
    ax_loss.plot(*_series(rows, "loss"), lw=1, label="train loss")
    ax_loss.set(xlabel="step", ylabel="loss (nats/token)", title="training loss")
    tkey = _time_key(rows)
    if tkey:
        _time_axis(ax_loss, rows, tkey)
    ax_bpb.plot(*_series(rows, "val_bpb"), "o-", label="val bpb")
    ax_bpb.set(xlabel="step", ylabel="bits per byte", title="validation bpb")
    if tkey:
        _time_axis(ax_bpb, rows, tkey)
    ax_lr.plot(*_series(rows, "lr_scale"), lw=1)
    ax_lr.set(xlabel="step", ylabel="LR scale", title="learning-rate scale", ylim=(0, 1.05))


def _time_axis(ax: Any, rows: list[dict[str, Any]], tkey: str) -> None:
    """Seconds on the top axis, labelled at evenly spaced steps (time is not linear in steps)."""
    import numpy as np

    steps, times = _series(rows, tkey)
    if len(steps) < 2:
        return
    lo, hi = ax.get_xlim()
    top = ax.twiny()
    ticks = np.linspace(max(lo, steps[0]), min(hi, steps[-1]), 5)
    top.set_xticks(ticks)
    top.set_xticklabels([f"{t:.0f}" for t in np.interp(ticks, steps, times)])
    top.set_xlim(lo, hi)
    top.set_xlabel("seconds")


def _plot_story(ax: Any, summary: dict[str, Any]) -> None:
    bpb = summary.get("bpb", {})
    labels = [label for key, label in STORY if bpb.get(key) is not None]
    values = [bpb[key] for key, _ in STORY if bpb.get(key) is not None]
    bars = ax.bar(labels, values, color=["#4c72b0", "#dd8452", "#55a868", "#c44e52"][: len(values)])
    for bar, value in zip(bars, values):
        ax.annotate(f"{value:.4f}", (bar.get_x() + bar.get_width() / 2, value), ha="center", va="bottom")
    if values:
        ax.set_ylim(min(values) * 0.98, max(values) * 1.01)
    ax.set(ylabel="bits per byte", title="bpb through the stages")


def _plot_bytes(ax: Any, summary: dict[str, Any]) -> None:
    by_role = summary.get("bytes", {}).get("by_section", {})
    limit = summary.get("bytes", {}).get("limit", 16_000_000)
    code = summary.get("bytes", {}).get("code", 0) or 0
    left = 0.0
    for name, value in [*by_role.items(), ("code", code)]:
        ax.barh([0], [value / 1e6], left=left / 1e6, label=f"{name} {value:,}")
        left += value
    ax.axvline(limit / 1e6, color="red", ls="--", label=f"cap {limit:,}")
    share = f"{left:,.0f} B = {100 * left / limit:.1f}% of the cap" if limit else ""
    ax.text(0.02, 0.9, share, transform=ax.transAxes, fontsize=9)
    ax.set(yticks=[], xlabel="MB (10^6 bytes)", title="artifact bytes by section vs the cap")
    ax.legend(fontsize=7, loc="lower right")


def _plot_stage_seconds(ax: Any, summary: dict[str, Any]) -> None:
    seconds = summary.get("seconds", {})
    ax.barh(list(seconds), list(seconds.values()))
    ax.set(xlabel="seconds", title="time per stage")


@click.command("plot")
@click.argument("run", type=click.Path())
@click.option("--out", default=None, help="PNG to write (default RUN/plot.png).")
@overwrite_option
@json_option
def command(run: str, out: str | None, overwrite: bool, as_json: bool) -> None:
    """Plot loss, validation bpb, LR scale, the quantization story and bytes vs the cap."""
    emit(plot_run(run, out, overwrite), as_json, lambda r: click.echo(f"wrote {r['plot']} ({r['points']} metric rows)"))
