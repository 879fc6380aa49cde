"""`golf bench gpu`: golf's compiled bf16 training step and sliding eval on one GPU, against the records.

For `baseline` (64 × 1024 tokens a step) and `record-1204` (48 × 2048), i.e. one GPU's share of
the records' 8-GPU batches, golf's own Trainer (compiled, bf16 autocast, flash-only attention,
fused AdamW, banked Muon) runs warm-up then timed steps in every recurrence phase. Reported per
preset and phase: ms/step, tokens/s per GPU against the record's, MFU, the seconds the switch
into the phase took (its first step, recompile included), the attention kernels the profiler
saw, and peak memory; then sliding-window eval (window = the preset's sequence length, stride
64, 32 windows a batch) in windows/s against the record's ≈1,375 per GPU. Designed to finish in
under 8 minutes on one H100/H200.

`--device cpu --small` runs the same code on narrow models (each preset's layout, 16 dims a
head), short sequences and a few steps, so the tests exercise it in seconds; its numbers mean
nothing for a GPU.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import click
import numpy as np

from golfcli.bench.eval import RECORD_WINDOWS_PER_S_PER_GPU
from golfcli.bench.record import record
from golfcli.bench.train import RECORD_RATES, _peak_flops, flops_per_token, time_steps
from golfcli.cli.options import emit, json_option
from golfcli.config import EvalConfig, GolfConfig, load_config, replace_section
from golfcli.errors import GolfError

PRESETS = ("baseline", "record-1204")
RECORD_ROWS = {"baseline": (64, 1024), "record-1204": (48, 2048)}  # rows × seq_len per GPU
ATTENTION_WORDS = ("flash", "fmha", "attention", "sdpa", "scaled_dot_product")


def _config(preset: str, small: bool, device: str, tmp: str) -> GolfConfig:
    cfg = load_config(preset)
    rows, seq = RECORD_ROWS[preset]
    if small:
        rows, seq = 2, 64
        cfg = replace_section(cfg, "model", model_dim=16 * cfg.model.num_heads)
    cfg = replace_section(cfg, "train", seq_len=seq, batch_tokens=rows * seq, grad_accum=1, device=device,
                          compile=device != "cpu", loader="sequential", warmup_steps=0, checkpoint_every=0)
    return replace_section(cfg, "data", data_dir=tmp)


def _attention_kernels(trainer) -> list[str]:
    """Names of the attention ops and kernels one profiled step ran (device kernels first)."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if trainer.cuda else [])
    with profile(activities=activities) as prof:
        trainer.step(0, 1.0)
        trainer.sync()
    names = {e.key for e in prof.key_averages() if any(w in e.key.lower() for w in ATTENTION_WORDS)}
    return sorted(names, key=lambda n: (n.startswith("aten::"), n))


def bench_training(preset: str, small: bool, device: str, steps: int, warmup: int) -> list[dict[str, Any]]:
    """Rows of ms/step, tokens/s, MFU, phase switch, kernels and memory for every phase of `preset`."""
    import torch

    from golfcli.data.shards import write_shard
    from golfcli.train import distributed as D
    from golfcli.train.loop import Trainer

    dev = D.pick_device(device)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cfg = _config(preset, small, device, tmp)
        tc = cfg.train
        rng = np.random.default_rng(0)
        write_shard(Path(tmp) / "fineweb_train_000000.bin",
                    rng.integers(0, cfg.model.vocab_size, size=max(8 * tc.batch_tokens, 1 << 16), dtype=np.uint16))
        if dev.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.cuda.reset_peak_memory_stats(dev)
        trainer = Trainer(cfg, Path(tmp) / "run", D.DistInfo(device=dev))
        try:
            model = trainer.model
            for phase in range(model.num_phases):
                t0 = time.perf_counter()
                if phase != model.phase:
                    model.set_phase(phase, copy_untied=True)
                trainer.step(0, 1.0)  # the first step in this phase compiles its graph
                trainer.sync()
                switch_s = time.perf_counter() - t0
                for _ in range(warmup):
                    trainer.step(0, 1.0)
                dt = time_steps(trainer, steps)
                tok_s = tc.batch_tokens / dt
                fpt = flops_per_token(model, cfg, tc.seq_len)
                peak = _peak_flops(dev)
                record_rate = RECORD_RATES.get(preset)
                rows.append({
                    "preset": preset, "phase": phase, "virtual_layers": len(model.schedule.layout(phase).layers),
                    "small": small, "device": str(dev), "compiled": trainer.forward is not model,
                    "rows": tc.batch_tokens // tc.seq_len, "seq_len": tc.seq_len,
                    "ms_per_step": round(1000 * dt, 3), "tokens_per_s": round(tok_s, 1),
                    "record_tokens_per_s": None if small or record_rate is None else round(record_rate),
                    "vs_record": None if small or record_rate is None else round(tok_s / record_rate, 3),
                    "mfu": round(fpt * tok_s / peak, 4) if peak else None,
                    "first_step_s": round(switch_s, 2),
                    "attention_kernel": trainer.attention_kernel,
                    "attention_ops": _attention_kernels(trainer),
                    "peak_memory_gib": round(torch.cuda.max_memory_allocated(dev) / 2**30, 2) if dev.type == "cuda" else None,
                })
        finally:
            trainer.close()
    return rows


def bench_sliding(preset: str, small: bool, device: str, batches: int) -> dict[str, Any]:
    """Sliding-window eval windows/s of a fresh full-depth model of `preset` on random tokens."""
    import torch

    from golfcli.eval import evaluate
    from golfcli.metric import ByteTables
    from golfcli.model import build_model
    from golfcli.train import distributed as D

    dev = D.pick_device(device)
    cfg = _config(preset, small, device, "")
    window = cfg.train.seq_len
    ecfg = EvalConfig(window=window, stride=min(64, window), batch_seqs=32 if not small else 4,
                      compile=dev.type == "cuda", autocast="bf16" if dev.type == "cuda" else "off")
    torch.manual_seed(0)
    model = build_model(cfg.model, None, dev)
    vocab = cfg.model.vocab_size
    tables = ByteTables(torch.ones(vocab, dtype=torch.int16), torch.zeros(vocab, dtype=torch.bool),
                        torch.zeros(vocab, dtype=torch.bool))
    gen = torch.Generator().manual_seed(0)
    warm = torch.randint(0, vocab, (window + ecfg.stride * ecfg.batch_seqs,), generator=gen)
    evaluate(model, warm.to(dev), tables, "sliding", ecfg, description="eval warm-up")
    tokens = torch.randint(0, vocab, (window + ecfg.stride * ecfg.batch_seqs * batches,), generator=gen)
    result = evaluate(model, tokens.to(dev), tables, "sliding", ecfg, description="eval sliding")
    return {
        "preset": preset, "window": window, "stride": ecfg.stride, "batch_seqs": ecfg.batch_seqs,
        "windows": result["windows"], "seconds": round(result["seconds"], 3),
        "windows_per_s": round(result["windows"] / result["seconds"], 1),
        "record_windows_per_s": None if small else round(RECORD_WINDOWS_PER_S_PER_GPU),
    }


def bench_gpu(device: str = "cuda", small: bool = False, steps: int | None = None, warmup: int | None = None,
              eval_batches: int | None = None, presets: tuple[str, ...] = PRESETS) -> dict[str, Any]:
    """Everything `golf bench gpu` measures; refuses without CUDA unless the device is cpu."""
    import torch

    if device != "cpu" and not torch.cuda.is_available():
        raise GolfError("golf bench gpu needs a CUDA GPU (none is available); `--device cpu --small` runs the CPU twin")
    if device == "cpu" and not small:
        raise GolfError("on the CPU only the --small twin runs (full-size steps would take hours)")
    steps = steps or (2 if small else 20)
    warmup = warmup if warmup is not None else (1 if small else 5)
    eval_batches = eval_batches or (2 if small else 30)
    training = [row for p in presets for row in bench_training(p, small, device, steps, warmup)]
    sliding = [bench_sliding(p, small, device, eval_batches) for p in presets]
    return {"training": training, "sliding": sliding, "steps": steps, "warmup": warmup, "small": small}


@click.command("gpu")
@click.option("--device", default="cuda", show_default=True, help="cuda, cuda:N, or cpu (with --small).")
@click.option("--small", is_flag=True, help="Narrow models, short sequences, few steps: the CPU twin the tests run.")
@click.option("--preset", "presets", multiple=True, default=PRESETS, show_default=True,
              type=click.Choice(PRESETS), help="Preset to measure (repeatable).")
@click.option("--steps", type=click.IntRange(min=1), help="Timed steps per phase (default 20; 2 with --small).")
@click.option("--save/--no-save", default=True, show_default=True, help="Record the result under docs/benchmarks/.")
@json_option
def command(device, small, presets, steps, save, as_json) -> None:
    """Compiled bf16 training steps and sliding eval on one GPU: ms/step, tokens/s, MFU, kernel, memory."""
    results = bench_gpu(device, small, steps, presets=tuple(presets))
    rec = record("gpu", results, out_dir="docs/benchmarks" if save else None)

    def render(r: dict) -> None:
        from rich.console import Console
        from rich.table import Table

        res = r["results"]
        table = Table("preset", "phase", "ms/step", "tok/s", "× record", "MFU", "first step s", "kernel", "peak GiB")
        for row in res["training"]:
            table.add_row(row["preset"], str(row["phase"]), f"{row['ms_per_step']:.1f}", f"{row['tokens_per_s']:,.0f}",
                          "-" if row["vs_record"] is None else f"{row['vs_record']:.3f}",
                          "-" if row["mfu"] is None else f"{100 * row['mfu']:.1f}%", f"{row['first_step_s']:.1f}",
                          row["attention_kernel"], "-" if row["peak_memory_gib"] is None else f"{row['peak_memory_gib']}")
        Console().print(table)
        for row in res["sliding"]:
            Console().print(f"{row['preset']}: sliding eval {row['windows_per_s']:,.1f} windows/s "
                            f"(window {row['window']}, stride {row['stride']})")
        if r.get("path"):
            Console().print(f"saved {r['path']}")

    emit(rec, as_json, render)
