"""`golf quantize`: a float checkpoint (+ Hessians) → a quantized file of int codes and fp16 scales.

Every float tensor with more than `passthrough_max` elements is quantized on the symmetric grid
of its bit width: the width of its role (attn, mlp, embed, other), overridden by `--rule
REGEX=BITS` (later rules win), or — with `--target-bytes` — chosen by the byte-budget planner;
`hessian_top_n` replaces the role widths of attn/mlp matrices by record-1204's tr(H) ranking
(quant/ranking.py). `clip_rules` give matching tensors their own clip rule.
Weights with a Hessian are quantized by GPTQ (method gptq), the rest by round to nearest; the clip
rule picks each row's scale. Weights the calibration forward never used (listed as `unused` in the
Hessians file, e.g. layer-0 attention with disable_layer0_attn) get all-zero codes. Smaller float
tensors are kept as fp16 (fp32 where `fp32_rules` match); non-float tensors are kept as they are.
"""

from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path
from typing import Any

import torch

from golfcli import console
from golfcli.bitwidths import bits_for, parse_clip, parse_clip_rules, parse_rules
from golfcli.checkpoint import load_checkpoint
from golfcli.config import QuantConfig, config_to_dict
from golfcli.config.quant import QUANT_METHODS
from golfcli.config.resolve import resolve_settings
from golfcli.errors import FormatError, GolfError
from golfcli.io import provenance, require_file, sha256_file
from golfcli.qtensor import QuantizedModel, QuantizedTensor, as_rows, dtype_name, role_of
from golfcli.qtensor import save_quantized
from golfcli.model.recurrence import RecurrenceSchedule
from golfcli.quant.clip import clip_for
from golfcli.quant.hessians import load_hessians
from golfcli.quant.plan import PlanOption, plan_bits
from golfcli.quant.ranking import ranked_widths
from golfcli.quant.size import passthrough_bytes, quantized_bytes
from golfcli.quant.tensor import QuantOption, TensorQuant, quantize_tensor

METHODS = QUANT_METHODS
NO_HESSIANS = (
    "GPTQ needs Hessians: run `golf gptq-calibrate CHECKPOINT --out hessians.safetensors` and pass "
    "--hessians hessians.safetensors, or choose --method rtn"
)


# --- the stage ------------------------------------------------------------------------------------
def quantize(
    checkpoint_path: str | Path,
    out_path: str | Path,
    hessians_path: str | Path | None = None,
    quant: QuantConfig | None = None,
    *,
    preset: str | None = None,
    config_file: str | Path | None = None,
    overrides: tuple[str, ...] = (),
    **flags: Any,
) -> dict[str, Any]:
    """Quantize a checkpoint and write the quantized file; return the per-tensor report and totals.

    The [quant] settings follow the one precedence rule (`golfcli.config.resolve`): `flags`
    (method=, attn_bits=, rules=, target_bytes=, ...; None = not given) > `overrides` (`--set`) >
    `config_file`/`preset` > the checkpoint's stored [quant] (or `quant`, when given) > defaults.
    """
    require_file(checkpoint_path, "checkpoint")
    state, cfg, _ = load_checkpoint(checkpoint_path)
    stored = cfg if quant is None else dataclasses.replace(cfg, quant=quant)
    resolved = resolve_settings(stored, preset, config_file, overrides, {"quant": flags}, reads=("quant",))
    q = resolved.config.quant
    rules = parse_rules(q.rules)
    clip = parse_clip(q.clip)
    clip_rules = parse_clip_rules(q.clip_rules)

    hessians: dict[str, torch.Tensor] = {}
    calib_meta: dict[str, Any] = {}
    if hessians_path is not None:
        require_file(hessians_path, "Hessians file")
        hessians, _, calib_meta = load_hessians(hessians_path)
    elif q.method == "gptq":
        raise GolfError(NO_HESSIANS)

    qm, to_quantize = split_tensors(state, q.passthrough_max, q.fp32_rules)
    _check_hessians(hessians, state, to_quantize, hessians_path)
    planning = q.target_bytes > 0
    pass_bytes = sum(passthrough_bytes(t) for t in qm.passthrough.values())
    if planning and q.code_bytes + pass_bytes > q.target_bytes:
        raise GolfError(f"--target-bytes {q.target_bytes:,} cannot be met: code {q.code_bytes:,} + passthrough "
                        f"tensors {pass_bytes:,} already cost {q.code_bytes + pass_bytes:,} bytes before any "
                        "quantized tensor")
    warnings = unused_widths(flags, to_quantize, state, rules, q)
    for w in warnings:
        console.info(f"[yellow]warning[/yellow]: {w}")
    unused = set(calib_meta.get("unused") or []) & set(to_quantize)
    ranked = _ranked_widths(q, cfg, to_quantize, hessians)

    start = time.perf_counter()
    results: dict[str, TensorQuant] = {}
    fixed: dict[str, bool] = {}
    with console.progress(sum(state[n].numel() for n in to_quantize), "quantizing (weights)") as bar:
        for name in to_quantize:
            bits, by_rule = bits_for(name, q, rules)
            if name in ranked and not _matches(name, rules):
                bits, by_rule = ranked[name], True
            h = hessians.get(name)
            planned = planning and not by_rule and h is not None
            fixed[name] = not planned
            widths = sorted({int(b) for b in q.plan_bits}) if planned else [bits]
            if name in unused:
                results[name] = unused_weight(state[name], bits)
            else:
                results[name] = quantize_tensor(
                    state[name], widths, clip_for(name, clip, clip_rules), h=h, method=q.method, damp=q.damp,
                    block=q.block,
                    act_order=q.act_order,
                )
            if results[name].damp_retries:
                console.info(f"{name}: Cholesky failed, damping raised to {results[name].damp:g}")
            bar.advance(state[name].numel())

    if planning:
        _check_budget(q, pass_bytes, results, fixed)
    chosen = choose_widths(results, fixed, q.target_bytes - q.code_bytes - pass_bytes if planning else None)

    rows = []
    for name in to_quantize:
        r, bits = results[name], chosen[name]
        opt = r.options[bits]
        t = state[name]
        qm.quantized[name] = QuantizedTensor(
            codes=opt.codes, scales=opt.scales, bits=bits, shape=tuple(t.shape), dtype=dtype_name(t.dtype),
            role=role_of(name),
        )
        rows.append({
            "name": name, "role": role_of(name), "bits": bits, "method": r.method,
            "planned": not fixed[name], "elements": t.numel(), "shape": list(t.shape),
            "error": opt.error, "rel_error": opt.error / r.reference if r.reference > 0 else 0.0,
            "weighted": r.weighted, "sq_error": opt.sq_error,
            "damp": r.damp, "damp_retries": r.damp_retries, "bytes": opt.bytes,
        })
    seconds = time.perf_counter() - start
    quant_bytes = sum(row["bytes"] for row in rows)
    estimated = quant_bytes + pass_bytes
    report = {
        "tensors": rows,
        "passthrough": [
            {"name": n, "elements": t.numel(), "dtype": dtype_name(t.dtype), "bytes": passthrough_bytes(t)}
            for n, t in sorted(qm.passthrough.items())
        ],
        "total_error": sum(row["error"] for row in rows),
        "estimated_bytes": estimated,
        "quantized_bytes": quant_bytes,
        "passthrough_bytes": pass_bytes,
        "code_bytes": q.code_bytes,
        "total_bytes": estimated + q.code_bytes,
        "target_bytes": q.target_bytes or None,
        "fits": (estimated + q.code_bytes <= q.target_bytes) if planning else None,
        "bits_histogram": _histogram(row["bits"] for row in rows),
        "damp_raised": [row["name"] for row in rows if row["damp_retries"]],
        "warnings": warnings,
        "method": q.method,
        "clip": str(clip),
        "hessians": str(hessians_path) if hessians_path else None,
        "calibration_source": calib_meta.get("source"),
        "out": str(out_path),
    }
    used_cfg = dataclasses.replace(cfg, quant=q)
    qm.config = config_to_dict(used_cfg)
    qm.meta = {
        "preset": cfg.preset,
        "quant": dataclasses.asdict(q),
        "report": {k: v for k, v in report.items() if k != "passthrough"},  # no timing: the same bytes every run
        "source_checkpoint": str(checkpoint_path),
        "source_sha256": sha256_file(checkpoint_path),
        "provenance": provenance(seed=cfg.train.seed, tokenizer=cfg.data.tokenizer),
    }
    save_quantized(str(out_path), qm)
    # where each value came from goes to the caller only: the file (and the artifact) keep just the values
    return {**report, "seconds": round(seconds, 3), "tensor_seconds": {n: results[n].seconds for n in to_quantize},
            "quant_sources": {k: v for k, v in resolved.sources.items() if k.startswith("quant.")}}


def _matches(name: str, rules: list[tuple[re.Pattern, int]]) -> bool:
    return any(pattern.search(name) for pattern, _ in rules)


def _ranked_widths(q: QuantConfig, cfg: Any, names: list[str], hessians: dict[str, torch.Tensor]) -> dict[str, int]:
    """Widths of the attn/mlp matrices under record-1204's tr(H) rule (empty when it is off)."""
    if q.hessian_top_n <= 0:
        return {}
    schedule = RecurrenceSchedule(cfg.model)

    def looped(name: str) -> bool:
        parts = name.split(".")
        return parts[0] == "repeat_mlp" or (parts[0] == "blocks" and schedule.is_looped(int(parts[1])))

    matrices = [n for n in names if role_of(n) in ("attn", "mlp")]
    return ranked_widths(matrices, hessians, looped, q.hessian_top_n, q.hessian_top_bits, q.hessian_rest_bits)


def split_tensors(
    state: dict[str, torch.Tensor], passthrough_max: int, fp32_rules: list[str]
) -> tuple[QuantizedModel, list[str]]:
    """A QuantizedModel holding the passthrough tensors, and the names of the tensors to quantize.

    Float tensors above `passthrough_max` elements are quantized; smaller ones are kept as fp16
    (fp32 when a `fp32_rules` regex matches); non-float tensors are kept as they are.
    """
    keep32 = [re.compile(r) for r in fp32_rules]
    qm = QuantizedModel()
    to_quantize: list[str] = []
    for name in sorted(state):
        t = state[name]
        if t.is_floating_point() and t.numel() > passthrough_max:
            to_quantize.append(name)
            continue
        if t.is_floating_point():
            qm.passthrough[name] = t.to(torch.float32 if any(p.search(name) for p in keep32) else torch.float16)
        else:
            qm.passthrough[name] = t
        qm.passthrough_dtypes[name] = dtype_name(t.dtype)
    return qm, to_quantize


def choose_widths(results: dict[str, TensorQuant], fixed: dict[str, bool], budget: int | None) -> dict[str, int]:
    """Each tensor's width: its only option when fixed, else the planner's pick within `budget` bytes."""
    chosen = {name: next(iter(r.options)) for name, r in results.items() if fixed[name]}
    if budget is None:
        return chosen
    budget -= sum(results[n].options[b].bytes for n, b in chosen.items())
    options = {
        name: [PlanOption(b, o.bytes, o.error) for b, o in r.options.items()]
        for name, r in results.items() if not fixed[name]
    }
    chosen.update({name: opt.bits for name, opt in plan_bits(options, budget).items()})
    return chosen


def unused_widths(requested: dict[str, Any], names: list[str], state: dict[str, torch.Tensor],
                  rules: list[tuple[re.Pattern, int]], q: QuantConfig) -> list[str]:
    """A warning for each width asked for (--attn/--mlp/--embed/--other, --rule) that no quantized tensor gets."""
    out = []
    for role in ("attn", "mlp", "embed", "other"):
        if requested.get(f"{role}_bits") is None:
            continue
        flag = f"--{role} int{requested[f'{role}_bits']}"
        mine = [n for n in names if role_of(n) == role]
        if any(not bits_for(n, q, rules)[1] for n in mine):
            continue
        kept = [n for n in state if role_of(n) == role and state[n].is_floating_point() and n not in names]
        if mine:
            out.append(f"{flag} applies to no tensor: every {role} tensor's width comes from a --rule")
        elif kept:
            largest = max(state[n].numel() for n in kept)
            out.append(f"{flag} applies to no tensor: the {len(kept)} {role} tensors (the largest has {largest:,} "
                       f"elements) are within --passthrough-max {q.passthrough_max:,} and stay fp16")
        else:
            out.append(f"{flag} applies to no tensor: this model has no {role} tensors")
    for text in requested.get("rules") or []:
        pattern = parse_rules([text])[0][0]
        if not any(pattern.search(n) for n in names):
            out.append(f"--rule {text} matches no quantized tensor")
    return out


def _check_budget(q: QuantConfig, pass_bytes: int, results: dict[str, TensorQuant], fixed: dict[str, bool]) -> None:
    """A GolfError saying what the fixed part costs and what the smallest plan needs, when over budget."""
    fixed_bytes = sum(next(iter(r.options.values())).bytes for n, r in results.items() if fixed[n])
    smallest = sum(min(o.bytes for o in r.options.values()) for n, r in results.items() if not fixed[n])
    fixed_part = q.code_bytes + pass_bytes + fixed_bytes
    need = fixed_part + smallest
    if need <= q.target_bytes:
        return
    n_fixed = sum(fixed.values())
    parts = f"code {q.code_bytes:,} + passthrough tensors {pass_bytes:,} + {n_fixed} tensors at fixed widths {fixed_bytes:,}"
    n_planned = len(fixed) - n_fixed
    plan = (f"; the {n_planned} planned tensors need {smallest:,} more at their narrowest widths" if n_planned else "")
    raise GolfError(f"--target-bytes {q.target_bytes:,} cannot be met: the fixed part costs {fixed_part:,} bytes "
                    f"({parts}){plan}, so the smallest plan needs {need:,} bytes")


def unused_weight(w: torch.Tensor, bits: int) -> TensorQuant:
    """All-zero codes for a weight the model never uses at its final phase (it costs almost no bytes)."""
    rows = as_rows(w).shape[0]
    codes = torch.zeros(as_rows(w).shape, dtype=torch.int8)
    option = QuantOption(bits=bits, codes=codes, scales=torch.ones(rows, dtype=torch.float16), error=0.0,
                         sq_error=float((w.double() ** 2).sum()), bytes=quantized_bytes(codes))
    return TensorQuant(method="unused", weighted=True, reference=0.0, options={bits: option})


def _histogram(bits: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for b in bits:
        out[f"int{b}"] = out.get(f"int{b}", 0) + 1
    return dict(sorted(out.items()))


def _check_hessians(
    hessians: dict[str, torch.Tensor], state: dict[str, torch.Tensor], names: list[str], path: Any
) -> None:
    """Every Hessian must fit its weight; a file sharing no weight with the checkpoint is rejected."""
    if not hessians or not names:
        return
    if not set(hessians) & set(names):
        raise FormatError("these Hessians name none of the checkpoint's quantized weights (another model?)", path)
    for name in names:
        h = hessians.get(name)
        if h is not None and h.shape[0] != as_rows(state[name]).shape[1]:
            raise FormatError(
                f"Hessian of {name!r} is {h.shape[0]}×{h.shape[0]} but the weight has {as_rows(state[name]).shape[1]} "
                "inputs (Hessians from another model?)", path,
            )
