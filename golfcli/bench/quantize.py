"""`golf bench quantize`: GPTQ timing, or two width rules compared at equal artifact bytes.

Timing (default): builds the preset's model with random weights (no training needed: GPTQ's cost
does not depend on the values), synthetic Hessians from correlated random activations for every
weight, writes both to a temporary folder and times the real `quantize` stage on them, per tensor
and in total, with round to nearest (no error feedback) timed beside it.

Comparison (`--model` with `--hessians`): quantizes a trained checkpoint with record-1204's tr(H)
rule (`quant.hessian_top_n`), packs it, then gives golf's byte-budget planner the rule's estimated
size as its target (tightened until its packed artifact is no larger than the rule's), with every tensor
outside the attn/mlp matrices held at the width the rule run gave it, and scores both artifacts
on the same validation tokens: bpb at equal bytes.
"""

from __future__ import annotations

import math
import re
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.table import Table

from golfcli.bench.record import record
from golfcli.cli.options import emit, json_option
from golfcli.errors import GolfError

if TYPE_CHECKING:
    import torch

RULE_ROLES = ("attn", "mlp")  # the matrices record-1204's rule (and so the planner here) assigns


def synthetic_hessian(cols: int, seed: int) -> torch.Tensor:
    """E[x xᵀ] of correlated activations with unequal channel scales (like real ones)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    n = 2 * cols
    mix = torch.randn(cols, cols, generator=g) / math.sqrt(cols) + torch.eye(cols)
    x = torch.randn(n, cols, generator=g) @ mix * torch.linspace(0.2, 3.0, cols)
    return x.T @ x / n


def build_inputs(preset: str, folder: Path, seed: int = 0) -> tuple[Path, Path, int]:
    """A random-weight checkpoint of `preset` and a Hessians file for its linear weights (+ tied head)."""
    import torch

    from golfcli.bench.models import random_model
    from golfcli.checkpoint import save_checkpoint
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
    import torch

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
        "seconds_tensors": round(sum(gptq["tensor_seconds"].values()), 2),
        "seconds_matrices": round(sum(gptq["tensor_seconds"][t["name"]] for t in matrices), 2),
        "seconds_rtn_total": round(t_rtn, 2),
        "error_gptq_over_rtn": round(
            sum(t["error"] for t in gptq_rows) / max(sum(rtn_err[t["name"]] for t in gptq_rows), 1e-30), 4),
        "per_tensor": [
            {"name": t["name"], "elements": t["elements"], "method": t["method"],
             "seconds": round(gptq["tensor_seconds"][t["name"]], 4)}
            for t in gptq["tensors"]
        ],
    }


def _packed(quantized: Path, artifact: Path) -> int:
    """Pack a quantized file into `artifact`; its size in bytes."""
    from golfcli.artifact import write_artifact
    from golfcli.qtensor import load_quantized

    write_artifact(load_quantized(str(quantized)), artifact)
    return artifact.stat().st_size


def _summary(report: dict, artifact_bytes: int, scored: dict) -> dict:
    matrices = [t for t in report["tensors"] if t["role"] in RULE_ROLES]
    return {
        "artifact_bytes": artifact_bytes,
        "estimated_bytes": report["estimated_bytes"],
        "val_bpb": round(scored["val_bpb"], 6),
        "val_loss": round(scored["val_loss"], 6),
        "matrix_bits": {str(b): sum(1 for t in matrices if t["bits"] == b) for b in sorted({t["bits"] for t in matrices})},
        "matrix_error": round(sum(t["error"] for t in matrices), 6),
    }


def compare_rules(model: str | Path, hessians: str | Path, data_dir: str | Path, tokenizer: str | Path,
                  top_n: int, top_bits: int = 6, rest_bits: int = 5, plan_bits: tuple[int, ...] = (5, 6),
                  max_tokens: int | None = None, tries: int = 8) -> dict:
    """bpb of record-1204's tr(H) rule and of golf's planner on `model`, at equal artifact bytes."""
    from golfcli.checkpoint import load_checkpoint
    from golfcli.quant.quantize import quantize
    from golfcli.scoring import run_eval

    if top_n <= 0:
        raise GolfError(f"--top-n must be positive (the tr(H) rule's N), got {top_n}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rule = quantize(model, folder / "rule.safetensors", hessians, hessian_top_n=top_n,
                        hessian_top_bits=top_bits, hessian_rest_bits=rest_bits, target_bytes=0)
        rule_bytes = _packed(folder / "rule.safetensors", folder / "rule.bin")
        # the checkpoint's own width rules bind both runs; everything outside attn/mlp keeps the rule run's width
        stored = load_checkpoint(model)[1].quant.rules
        held = list(stored) + [f"^{re.escape(t['name'])}$={t['bits']}" for t in rule["tensors"]
                               if t["role"] not in RULE_ROLES]
        # the planner budgets in its own byte estimate: start from the rule's, then correct by packed sizes
        target, attempts = rule["estimated_bytes"], []
        for _ in range(tries):
            plan = quantize(model, folder / "plan.safetensors", hessians, hessian_top_n=0, rules=held,
                            target_bytes=target, code_bytes=0, plan_bits=list(plan_bits))
            plan_bytes = _packed(folder / "plan.safetensors", folder / "plan.bin")
            attempts.append({"target_bytes": target, "artifact_bytes": plan_bytes})
            if plan_bytes <= rule_bytes:
                break
            target -= plan_bytes - rule_bytes  # the estimate ran over: ask for that much less
        else:
            raise GolfError(f"the planner's artifact stayed above the rule's {rule_bytes:,} bytes after {tries} tries")
        scores = {name: run_eval(str(folder / f"{name}.bin"), str(data_dir), str(tokenizer), "standard",
                                 max_tokens=max_tokens, device="cpu") for name in ("rule", "plan")}
    rule_row, plan_row = _summary(rule, rule_bytes, scores["rule"]), _summary(plan, plan_bytes, scores["plan"])
    return {
        "model": str(model),
        "hessians": str(hessians),
        "tokens_scored": scores["rule"]["tokens_scored"],
        "rule": {"hessian_top_n": top_n, "top_bits": top_bits, "rest_bits": rest_bits, **rule_row},
        "planner": {"plan_bits": list(plan_bits), "attempts": attempts, **plan_row},
        "bpb_planner_minus_rule": round(plan_row["val_bpb"] - rule_row["val_bpb"], 6),
    }


def _render_compare(r: dict) -> None:
    res = r["results"]
    table = Table("", "tr(H) rule", "planner", title=f"golf bench quantize: {res['tokens_scored']:,} tokens scored")
    for key in ("artifact_bytes", "estimated_bytes", "val_bpb", "matrix_bits", "matrix_error"):
        table.add_row(key, str(res["rule"][key]), str(res["planner"][key]))
    table.add_row("planner − rule bpb", "", f"{res['bpb_planner_minus_rule']:+.6f}")
    if r.get("path"):
        table.add_row("recorded", r["path"], "")
    Console().print(table)


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
@click.option("--preset", default="record-1204", show_default=True, help="Model shape to quantize (timing).")
@click.option("--threads", type=int, default=None, help="torch threads (default: torch's choice).")
@click.option("--bits", type=int, default=6, show_default=True, help="Width of attention and MLP matrices (timing).")
@click.option("--model", "model_path", default=None, help="A trained checkpoint: compare the tr(H) rule with the planner.")
@click.option("--hessians", default=None, help="Its Hessians file (golf gptq-calibrate), with --model.")
@click.option("--data", "data_dir", default=None, help="Validation shards for the comparison's bpb.")
@click.option("--tokenizer", default=None, help="The tokenizer of --data.")
@click.option("--top-n", type=int, default=0, help="The tr(H) rule's N (default: half the quantized attn/mlp matrices).")
@click.option("--max-tokens", type=int, default=None, help="Score only the first N validation tokens.")
@click.option("--no-record", is_flag=True, help="Do not write docs/benchmarks/quantize*-*.json.")
@json_option
def command(preset, threads, bits, model_path, hessians, data_dir, tokenizer, top_n, max_tokens, no_record,
            as_json) -> None:
    """GPTQ timing on a random model; with --model, the tr(H) rule against the planner at equal bytes."""
    out = None if no_record else "docs/benchmarks"
    if model_path is None:
        emit(record("quantize", run_bench(preset, threads, bits), out), as_json, _render)
        return
    if not (hessians and data_dir and tokenizer):
        raise GolfError("--model needs --hessians, --data and --tokenizer")
    if threads:
        import torch

        torch.set_num_threads(threads)
    n = top_n or _half_the_matrices(model_path)
    results = compare_rules(model_path, hessians, data_dir, tokenizer, n, max_tokens=max_tokens)
    emit(record("quantize_rules", results, out), as_json, _render_compare)


def _half_the_matrices(model_path: str) -> int:
    """Half the attn/mlp matrices that the checkpoint's [quant] settings quantize (at least 1)."""
    from golfcli.checkpoint import load_checkpoint
    from golfcli.qtensor import role_of
    from golfcli.quant.quantize import split_tensors

    state, cfg, _ = load_checkpoint(model_path)
    _, names = split_tensors(state, cfg.quant.passthrough_max, cfg.quant.fp32_rules)
    return max(1, sum(1 for n in names if role_of(n) in RULE_ROLES) // 2)
