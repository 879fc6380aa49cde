"""`golf bench quantize`: GPTQ (with the clip search) of every matrix of a record-1204-shape model.

Builds the preset's model with random weights (no training needed: GPTQ's cost does not depend on
the values), synthetic Hessians from correlated random activations for every weight, writes both to
a temporary folder and times the real `quantize` stage on them, per tensor and in total, with
round to nearest (no error feedback) timed beside it.
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path

import click
import torch
from rich.console import Console
from rich.table import Table

from golfcli.bench.models import random_model
from golfcli.bench.record import record
from golfcli.checkpoint import save_checkpoint
from golfcli.cli.options import emit, json_option


def synthetic_hessian(cols: int, seed: int) -> torch.Tensor:
    """E[x xᵀ] of correlated activations with unequal channel scales (like real ones)."""
    g = torch.Generator().manual_seed(seed)
    n = 2 * cols
    mix = torch.randn(cols, cols, generator=g) / math.sqrt(cols) + torch.eye(cols)
    x = torch.randn(n, cols, generator=g) @ mix * torch.linspace(0.2, 3.0, cols)
    return x.T @ x / n


def build_inputs(preset: str, folder: Path, seed: int = 0) -> tuple[Path, Path, int]:
    """A random-weight checkpoint of `preset` and a Hessians file for its linear weights (+ tied head)."""
    from golfcli.quant.hessians import save_hessians

    model, cfg = random_model(preset, seed)
    state = model.state_dict()
    ckpt = folder / "bench.safetensors"
    save_checkpoint(ckpt, state, cfg)
    by_cols: dict[int, torch.Tensor] = {}
    hessians = {}
    names = [f"{n}.weight" for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)] + ["tok_emb.weight"]
    for name in names:
        cols = state[name].shape[1]
        if cols not in by_cols:
            by_cols[cols] = synthetic_hessian(cols, seed + cols)
        hessians[name] = by_cols[cols]
    path = folder / "hessians.safetensors"
    save_hessians(path, hessians, torch.zeros(1, 1, dtype=torch.int32), {"source": "synthetic"})
    return ckpt, path, len(names)


def run_bench(
    preset: str = "record-1204", threads: int | None = None, bits: int = 6, passthrough_max: int = 65536
) -> dict:
    """Time `quantize` (GPTQ + clip search, and RTN) on a random `preset` model; the benchmark result."""
    from golfcli.quant.quantize import quantize

    if threads:
        torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ckpt, hessians, _ = build_inputs(preset, folder)
        widths = {"attn_bits": bits, "mlp_bits": bits, "passthrough_max": passthrough_max}
        t0 = time.perf_counter()
        gptq = quantize(ckpt, folder / "q.safetensors", hessians, method="gptq", clip="search", **widths)
        t_gptq = time.perf_counter() - t0
        t0 = time.perf_counter()
        rtn = quantize(ckpt, folder / "r.safetensors", hessians, method="rtn", clip="search", **widths)
        t_rtn = time.perf_counter() - t0
    matrices = [t for t in gptq["tensors"] if t["role"] in ("attn", "mlp") or t["name"] == "bigram.proj.weight"]
    gptq_rows = [t for t in gptq["tensors"] if t["method"] == "gptq"]
    rtn_err = {t["name"]: t["error"] for t in rtn["tensors"]}
    return {
        "preset": preset,
        "torch_threads": torch.get_num_threads(),
        "bits": bits,
        "clip": "search",
        "matrices": len(matrices),
        "matrix_weights": sum(t["elements"] for t in matrices),
        "gptq_tensors": len(gptq_rows),
        "gptq_weights": sum(t["elements"] for t in gptq_rows),
        "seconds_total": round(t_gptq, 2),
        "seconds_tensors": round(sum(t["seconds"] for t in gptq["tensors"]), 2),
        "seconds_matrices": round(sum(t["seconds"] for t in matrices), 2),
        "seconds_rtn_total": round(t_rtn, 2),
        "error_gptq_over_rtn": round(
            sum(t["error"] for t in gptq_rows) / max(sum(rtn_err[t["name"]] for t in gptq_rows), 1e-30), 4),
        "per_tensor": [
            {"name": t["name"], "elements": t["elements"], "method": t["method"], "seconds": t["seconds"]}
            for t in gptq["tensors"]
        ],
    }


def _render(r: dict) -> None:
    table = Table("", "", show_header=False, title="golf bench quantize")
    for key, value in r["results"].items():
        if key != "per_tensor":
            table.add_row(key, str(value))
    slow = sorted(r["results"]["per_tensor"], key=lambda t: -t["seconds"])[:5]
    table.add_row("slowest", ", ".join(f"{t['name']} {t['seconds']:.2f}s" for t in slow))
    if r.get("path"):
        table.add_row("recorded", r["path"])
    Console().print(table)


@click.command("quantize")
@click.option("--preset", default="record-1204", show_default=True, help="Model shape to quantize.")
@click.option("--threads", type=int, default=None, help="torch threads (default: torch's choice).")
@click.option("--bits", type=int, default=6, show_default=True, help="Width of attention and MLP matrices.")
@click.option("--no-record", is_flag=True, help="Do not write docs/benchmarks/quantize-*.json.")
@json_option
def command(preset, threads, bits, no_record, as_json) -> None:
    """GPTQ with the clip search on every matrix of a record-1204-shape model: seconds per tensor and total."""
    results = run_bench(preset, threads, bits)
    emit(record("quantize", results, None if no_record else "docs/benchmarks"), as_json, _render)
