"""`golf bench calibrate`: self-generation tokens/s with and without the KV cache, side by side.

Both runs sample the same way from the same random-weight model (GPTQ calibration speed does not
depend on the weights): the KV-cached run feeds one new token per step, the reference run
recomputes the whole prefix every step, as the records' calibration does. On CUDA the default is
the record-1204 shape, 64 × 2048 tokens in batches of 8 (the reference run does one batch); on CPU
a reduced size (tiny preset, one 1024-token sequence) so the reference run ends in minutes.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.table import Table

from golfcli.bench.record import record
from golfcli.cli.options import emit, json_option

if TYPE_CHECKING:
    import torch


def random_model(preset: str, device: torch.device, seed: int = 0) -> torch.nn.Module:
    """The preset's GPT at its final phase with random (non-zero) weights, in eval mode."""
    from golfcli.bench import models as bench_models

    model, _ = bench_models.random_model(preset, seed)
    return model.to(device)


def timed_generation(model, seqs: int, seq_len: int, batch: int, kv_cache: bool) -> tuple[float, torch.Tensor]:
    """Seconds to self-generate `seqs` × `seq_len` tokens (and the tokens)."""
    import torch

    from golfcli.quant.calibrate import generate

    device = next(model.parameters()).device
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    tokens, _ = generate(model, seqs, seq_len, batch, temperature=0.8, seed=0, kv_cache=kv_cache)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, tokens


def run_bench(preset: str | None, seq_len: int | None, seqs: int | None, batch: int | None,
              reference_seqs: int | None, device_name: str) -> dict:
    """Generate with and without the KV cache; tokens/s of each and the speed-up."""
    import torch

    from golfcli.distributed import pick_device

    device = pick_device(device_name)
    gpu = device.type == "cuda"
    preset = preset or ("record-1204" if gpu else "tiny")
    seq_len = seq_len or (2048 if gpu else 1024)
    batch = batch or (8 if gpu else 1)
    seqs = seqs or (64 if gpu else 1)
    reference_seqs = reference_seqs or batch
    model = random_model(preset, device)
    timed_generation(model, min(batch, 2), 8, min(batch, 2), True)  # warm-up (kernels, allocator)
    t_cache, tok_cache = timed_generation(model, seqs, seq_len, batch, True)
    t_full, tok_full = timed_generation(model, reference_seqs, seq_len, min(batch, reference_seqs), False)
    new_cache = seqs * (seq_len - 1)
    new_full = reference_seqs * (seq_len - 1)
    same = torch.equal(tok_cache[:reference_seqs], tok_full) if reference_seqs <= seqs else None
    return {
        "preset": preset,
        "device": str(device) if not gpu else torch.cuda.get_device_name(device),
        "torch_threads": torch.get_num_threads(),
        "seq_len": seq_len,
        "batch": batch,
        "kv_cache": {"seqs": seqs, "tokens": new_cache, "seconds": round(t_cache, 3),
                     "tokens_per_s": round(new_cache / t_cache, 1)},
        "full_recompute": {"seqs": reference_seqs, "tokens": new_full, "seconds": round(t_full, 3),
                           "tokens_per_s": round(new_full / t_full, 1)},
        "speedup": round((new_cache / t_cache) / (new_full / t_full), 2),
        "same_tokens": same,
        "reduced_size": not gpu,
    }


def _render(r: dict) -> None:
    res = r["results"]
    table = Table("run", "seqs", "tokens", "seconds", "tokens/s", title=(
        f"golf bench calibrate: {res['preset']} on {res['device']}, {res['seq_len']} tokens/seq, batch {res['batch']}"
        + (" (reduced CPU size)" if res["reduced_size"] else "")))
    for key in ("kv_cache", "full_recompute"):
        row = res[key]
        table.add_row(key, str(row["seqs"]), f"{row['tokens']:,}", str(row["seconds"]), f"{row['tokens_per_s']:,}")
    console = Console()
    console.print(table)
    console.print(f"speed-up {res['speedup']}×; same tokens: {res['same_tokens']}")
    if r.get("path"):
        console.print(f"recorded {r['path']}")


@click.command("calibrate")
@click.option("--preset", default=None, help="Model shape [record-1204 on CUDA, tiny on CPU].")
@click.option("--seq-len", type=int, default=None, help="Tokens per sequence [2048 on CUDA, 1024 on CPU].")
@click.option("--seqs", type=int, default=None, help="Sequences generated with the cache [64 / 1].")
@click.option("--batch", type=int, default=None, help="Sequences per batch [8 / 1].")
@click.option("--reference-seqs", type=int, default=None, help="Sequences generated without the cache [one batch].")
@click.option("--device", default="auto", show_default=True)
@click.option("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice).")
@click.option("--no-record", is_flag=True, help="Do not write docs/benchmarks/calibrate-*.json.")
@json_option
def command(preset, seq_len, seqs, batch, reference_seqs, device, threads, no_record, as_json) -> None:
    """Self-generation tokens/s with the KV cache vs recomputing the prefix every token."""
    if threads:
        import torch

        torch.set_num_threads(threads)
    results = run_bench(preset, seq_len, seqs, batch, reference_seqs, device)
    emit(record("calibrate", results, None if no_record else "docs/benchmarks"), as_json, _render)
