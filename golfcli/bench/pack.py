"""`golf bench pack`: artifact size and speed, side by side with the records' method and plain codecs.

All methods compress the same quantized weights (a ~30M-weight record-1204-shaped model by
default, or a given quantized file):

- golf: `write_artifact(codec=auto)` then `read_artifact` (timed, 2 threads at most by default; unpack
  the fastest of three runs);
- records: the 1204 record's serialization emulated without pickle — int8 codes, fp16 scales and
  passthrough bytes concatenated per tensor in name order, byte shuffle with stride 2 (b"BSHF" +
  stride + even bytes + odd bytes), brotli quality 11 with the default window (as the record). The
  real torch.save adds a zip container and pickled names (tens of KB): the emulation is smaller
  than the record's file, so the comparison flatters the records' method;
- brotli-11 (lgwin 24), zstd-22 and lzma (preset 9 | extreme, raw LZMA2) alone on the same
  concatenation without shuffle.

Sizes are compared to the order-0 entropy bound of the codes (per tensor) plus the fp16 scales
and passthrough tensors.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import brotli
import click
import numpy as np

from golfcli import console
from golfcli.bench.record import record

if TYPE_CHECKING:
    from golfcli.qtensor import QuantizedModel, QuantizedTensor


def _rows(shape: tuple[int, ...], rng: np.random.Generator, laplace: bool) -> np.ndarray:
    """Weights with a per-row spread that varies (log-normal), Gaussian or Laplacian."""
    sigma = np.exp(rng.normal(0.0, 0.25, size=(shape[0], 1))) * 0.02
    w = rng.laplace(size=shape) / np.sqrt(2) if laplace else rng.standard_normal(shape)
    return (w * sigma).astype(np.float32)


def _quantize(w: np.ndarray, bits: int, quantile: float) -> QuantizedTensor:
    import torch

    from golfcli.qtensor import QuantizedTensor, grid_max, quantize_with_scales

    rows = torch.from_numpy(w.reshape(w.shape[0], -1))
    clip = torch.quantile(rows.abs(), quantile, dim=1)
    qmax = grid_max(bits)
    scales = torch.maximum(clip / qmax, torch.full_like(clip, 1e-8)).half()
    return QuantizedTensor(quantize_with_scales(rows, scales, bits), scales, bits, tuple(w.shape), "float32", "other")


def synthetic_record_model(seed: int = 0, scale: float = 1.0) -> QuantizedModel:
    """A quantized model shaped like record 1204 (spec B.2/D.4/D.6): 40 attention + 26 MLP
    matrices at int6 (32 most sensitive) or int5, int8 embeddings, fp16 passthrough controls.

    Attention weights are Gaussian, MLP weights Laplacian; scales come from a per-row percentile
    clip (0.9995; 0.9999984 for int8). `scale` < 1 shrinks every dimension (for quick runs)."""
    import torch

    from golfcli.qtensor import QuantizedModel, role_of

    rng = np.random.default_rng(seed)
    d = max(8, int(512 * scale))
    hid, kv = 3 * d, d // 2
    mats: list[tuple[str, tuple[int, int]]] = []
    for i in range(1, 11):
        for part, shape in (("c_q", (d, d)), ("c_k", (kv, d)), ("c_v", (kv, d)), ("proj", (d, d))):
            mats.append((f"blocks.{i}.attn.{part}.weight", shape))
    for i in range(11):
        mats += [(f"blocks.{i}.mlp.fc.weight", (hid, d)), (f"blocks.{i}.mlp.proj.weight", (d, hid))]
    for i in range(2):
        mats += [(f"repeat_mlp.{i}.fc.weight", (hid, d)), (f"repeat_mlp.{i}.proj.weight", (d, hid))]
    int6 = {n for n, _ in mats if n.startswith(("blocks.4.", "blocks.5.", "repeat_mlp."))}
    int6 |= {n for n, _ in mats if n.startswith(tuple(f"blocks.{i}.attn." for i in range(6, 10)))}
    qm = QuantizedModel(config={"model": {"preset": "record-1204-synthetic", "d_model": d}},
                        meta={"provenance": {"seed": seed, "source": "golf bench pack"}})
    for name, shape in mats:
        bits = 6 if name in int6 else 5
        q = _quantize(_rows(shape, rng, laplace="mlp" in name), bits, 0.9995)
        q.role = role_of(name)
        qm.quantized[name] = q
    bigram = _quantize(_rows((d, max(8, int(160 * scale))), rng, False), 5, 0.9995)
    bigram.role = "attn"  # the record classifies bigram.proj as attention (".proj." in its name)
    qm.quantized["bigram.proj.weight"] = bigram
    embeddings = {"tok_emb.weight": (1024, d), "bigram.embed.weight": (int(2816 * scale), max(8, int(160 * scale))),
                  "ve_shared.embed.weight": (1024, max(8, d // 4))}
    for name, shape in embeddings.items():
        q = _quantize(_rows(shape, rng, False), 8, 0.9999984)
        q.role = role_of(name)
        qm.quantized[name] = q
    small = {"ve_shared.proj.weight": (kv, max(8, d // 4)), "smear.gate": (d,), "skip_weights": (6, d),
             "skip_gates": (6, d), "bigram.scale": (), "ve_shared.scale": (), "ve_layer_scales": (2,),
             "parallel_post_lambdas": (11, 2, 2), "parallel_resid_lambdas": (11, 2)}
    for i in range(13):
        small |= {f"blocks.{i}.q_gain": (8,), f"blocks.{i}.attn_scale": (d,), f"blocks.{i}.mlp_scale": (d,),
                  f"blocks.{i}.resid_mix": (2, d)}
    for name, shape in small.items():
        t = torch.from_numpy(np.asarray(1.0 + 0.1 * rng.standard_normal(shape), dtype=np.float32)).reshape(shape)
        qm.passthrough[name] = t.half()
        qm.passthrough_dtypes[name] = "float32"
    return qm


def records_payload(qm: QuantizedModel) -> bytes:
    """The bytes torch.save would hold, without pickle: per name, codes then scale, or the tensor."""
    import torch

    parts = []
    for name in sorted([*qm.quantized, *qm.passthrough]):
        if name in qm.quantized:
            q = qm.quantized[name]
            parts += [q.codes.contiguous().numpy().tobytes(), q.scales.contiguous().numpy().tobytes()]
        else:
            parts.append(qm.passthrough[name].contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return b"".join(parts)


def byte_shuffle(data: bytes, stride: int = 2) -> bytes:
    """The record's byte shuffle: b"BSHF", stride (2 bytes LE), then every stride-th byte plane."""
    buf = np.frombuffer(data, dtype=np.uint8)
    planes = [buf[i::stride].tobytes() for i in range(stride)]
    return b"BSHF" + stride.to_bytes(2, "little") + b"".join(planes)


UNPACK_RUNS = 3


def _timed(fn, *args):
    """(result, wall seconds, CPU seconds of this process): CPU time is the honest figure on a
    shared machine, where wall time also counts other people's work."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args)
    return out, time.perf_counter() - t0, time.process_time() - c0


def run_pack_bench(qm: QuantizedModel, baselines: bool = True) -> dict[str, Any]:
    """Pack/unpack `qm` with golf and compress the same weights with the reference methods."""
    import torch

    from golfcli.artifact import pack_bytes
    from golfcli.artifact.bundle import build_bundle
    from golfcli.artifact.codecs import compress
    from golfcli.artifact.format import BROTLI, LZMA, ZSTD
    from golfcli.artifact.reader import decode_artifact

    (blob, report), pack_s, pack_cpu = _timed(pack_bytes, qm, "auto")
    # Unpack is short, so one run is at the mercy of the machine's load: keep the fastest of three.
    restored, unpack_s, unpack_cpu = min((_timed(decode_artifact, blob) for _ in range(UNPACK_RUNS)),
                                         key=lambda timed: timed[1])
    exact = all(torch.equal(restored.quantized[n].codes, q.codes)
                and torch.equal(restored.quantized[n].scales, q.scales) for n, q in qm.quantized.items())
    bound = report["entropy_bound_bytes"]
    reference = report["reference_bytes"]
    _, code = build_bundle()
    methods: dict[str, dict[str, Any]] = {
        "golf (auto)": {"bytes": len(blob), "seconds": round(pack_s, 2), "cpu_seconds": round(pack_cpu, 2),
                        "unpack_seconds": round(unpack_s, 2), "unpack_cpu_seconds": round(unpack_cpu, 2)},
    }
    if baselines:
        raw = records_payload(qm)
        with console.progress(4, "baselines") as bar:
            for name, fn in (
                ("records (shuffle + brotli-11)", lambda: brotli.compress(byte_shuffle(raw), quality=11)),
                ("brotli-11 lgwin24", lambda: compress(BROTLI, raw)),
                ("zstd-22", lambda: compress(ZSTD, raw)),
                ("lzma-9e", lambda: compress(LZMA, raw)),
            ):
                out, secs, cpu = _timed(fn)
                methods[name] = {"bytes": len(out), "seconds": round(secs, 2), "cpu_seconds": round(cpu, 2)}
                bar.advance()
        methods["uncompressed payload"] = {"bytes": len(raw), "seconds": 0.0}
    for row in methods.values():
        row["ratio_to_reference"] = round(row["bytes"] / reference, 5)
        row["vs_golf"] = round(row["bytes"] / len(blob) - 1, 5)
    return {
        "quantized_weights": report["quantized_weights"],
        "entropy_bound_bytes": bound,
        "reference_bytes": reference,
        "codes_bytes": report["codes_bytes"],
        "codes_ratio": round(report["codes_ratio"], 5),
        "artifact_bytes": report["artifact_bytes"],
        "artifact_ratio": round(report["artifact_ratio"], 5),
        "scales_bytes": report["scales_bytes"],
        "passthrough_bytes": report["passthrough_bytes"],
        "manifest_bytes": report["manifest_bytes"],
        "code_bytes": {"bundle": code["bundle_bytes"], "source": code["source_bytes"]},
        "submission_bytes": report["artifact_bytes"] + code["bundle_bytes"],
        "codecs": report["codecs"],
        "codes_candidates": next((sec["candidates"] for sec in report["sections"] if sec["section"] == "codes"), {}),
        "bit_exact": exact,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "torch_threads": torch.get_num_threads(),
        "methods": methods,
    }


def _render(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"pack benchmark: {result['quantized_weights']:,} quantized weights")
    for col in ("method", "bytes", "vs golf", "/ reference", "pack s (cpu)", "unpack s (cpu)"):
        table.add_column(col, justify="left" if col == "method" else "right")
    for name, row in result["methods"].items():
        table.add_row(name, f"{row['bytes']:,}", f"{100 * row['vs_golf']:+.2f}%", f"{row['ratio_to_reference']:.4f}",
                      f"{row['seconds']:.2f} ({row.get('cpu_seconds', 0):.2f})",
                      f"{row['unpack_seconds']:.2f} ({row['unpack_cpu_seconds']:.2f})" if "unpack_seconds" in row
                      else "")
    out = Console()
    out.print(table)
    cands = ", ".join(f"{name} {c['bytes']:,}{' (sampled)' if c['sampled'] else ''}"
                      for name, c in result["codes_candidates"].items())
    out.print(f"codes candidates: {cands}")
    out.print(f"codes {result['codes_bytes']:,} B = {result['codes_ratio']:.4f} × entropy bound "
              f"{result['entropy_bound_bytes']:,.0f} B; artifact = {result['artifact_ratio']:.4f} × "
              f"(bound + fp16 scales + passthrough); bit-exact: {result['bit_exact']}")
    code = result["code_bytes"]
    out.print(f"submission: artifact {result['artifact_bytes']:,} + golf bundle {code['bundle']:,} = "
              f"{result['submission_bytes']:,} B (the code as plain source: {code['source']:,} B)")
    if result.get("record_path"):
        out.print(f"recorded: {result['record_path']}")


@click.command("pack")
@click.option("--quantized", "quantized_path", type=click.Path(),
              help="Benchmark this quantized file instead of the synthetic record-1204-shaped model.")
@click.option("--scale", type=float, default=1.0, show_default=True, help="Shrink the synthetic model (0.25 = quick).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--threads", type=int, default=2, show_default=True, help="torch/numpy threads (the target is 2 cores).")
@click.option("--no-baselines", is_flag=True, help="Skip the reference compressors (they take minutes).")
@click.option("--no-record", is_flag=True, help="Do not write the JSON record under docs/benchmarks/.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def command(quantized_path: str | None, scale: float, seed: int, threads: int, no_baselines: bool,
            no_record: bool, as_json: bool) -> None:
    """Artifact size vs the entropy bound, the records' method and brotli/zstd/lzma; pack/unpack time."""
    # (golfcli.cli.options is not imported here: golfcli.cli imports this module while registering verbs)
    import torch

    from golfcli.qtensor import load_quantized

    console.set_quiet(as_json)
    torch.set_num_threads(max(1, threads))
    qm = load_quantized(quantized_path) if quantized_path else synthetic_record_model(seed, scale)
    console.info("packing with golf, then the reference compressors")
    result = run_pack_bench(qm, baselines=not no_baselines)
    result["input"] = (str(Path(quantized_path)) if quantized_path
                       else f"synthetic record-1204 (scale {scale}, seed {seed})")
    if not no_record:
        result["record_path"] = record("pack", result)["path"]
    if as_json:
        click.echo(json.dumps(result))
    else:
        _render(result)
