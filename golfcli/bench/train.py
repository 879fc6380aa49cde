"""`golf bench train`: ms/step, tokens/s and model FLOP utilisation of the real training step.

Runs golf's own Trainer.step (loader, forward/backward, gradient clip, Muon + AdamW, EMA update)
on random tokens for each preset and recurrence phase. On CUDA the batch defaults to one GPU's
share of the preset's global batch (batch_tokens / 8, as in the 8×H100 records), so tokens/s
compares with the records' per-GPU rate; on CPU a reduced batch is used and MFU is not reported.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import numpy as np

from golfcli.bench.record import record
from golfcli.cli.options import emit, json_option
from golfcli.config import GolfConfig, load_config, replace_section

if TYPE_CHECKING:
    import torch

H100_BF16_DENSE_FLOPS = 989.4e12
# Per-GPU rates of the records (tokens per step × steps per second / 8 GPUs).
RECORD_RATES = {"baseline": 524288 / 0.0435 / 8, "record-1204": 786432 / 0.0961 / 8}


def flops_per_token(model, cfg: GolfConfig, seq_len: int) -> float:
    """Training FLOPs per token: 6 × matmul parameters (tied head included) + 12·L·d·T attention (PaLM rule)."""
    embed_only = {"tok_emb.weight", "bigram.embed.weight", "ve_shared.embed.weight"}
    n = sum(p.numel() for name, p in model.named_parameters() if name not in embed_only and "value_embeds" not in name)
    n += cfg.model.vocab_size * cfg.model.model_dim  # the tied output head's matmul
    layers = len(model.schedule.layout(model.phase).layers)
    return 6.0 * n + 12.0 * layers * cfg.model.model_dim * seq_len


def time_steps(trainer, steps: int) -> float:
    """Seconds per training step (optimizer and EMA update included, as the training loop runs them)."""
    trainer.sync()
    t0 = time.perf_counter()
    for k in range(steps):
        trainer.step(k, 1.0)
        if trainer.ema is not None:
            trainer.ema.update(trainer.current_weights())
    trainer.sync()
    return (time.perf_counter() - t0) / steps


def _peak_flops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    import torch

    name = torch.cuda.get_device_name(device)
    return H100_BF16_DENSE_FLOPS if "H100" in name or "H200" in name else None


def bench_preset(preset: str, steps: int, warmup: int, seq_len: int | None, batch_tokens: int | None,
                 device: str, compile_opt: str) -> list[dict[str, Any]]:
    """Time the training step of one preset in every recurrence phase."""
    from golfcli.data.shards import write_shard
    from golfcli.train import distributed as D
    from golfcli.train.loop import Trainer

    dev = D.pick_device(device)
    cuda = dev.type == "cuda"
    cfg = load_config(preset)
    seq = seq_len or (cfg.train.seq_len if cuda else 256)
    batch = batch_tokens or (cfg.train.batch_tokens // 8 if cuda else 8 * seq)
    compile_value: bool | str = {"auto": "auto", "on": True, "off": False}[compile_opt]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        rng = np.random.default_rng(0)
        write_shard(Path(tmp) / "fineweb_train_000000.bin",
                    rng.integers(0, cfg.model.vocab_size, size=max(4 * batch, 1 << 20), dtype=np.uint16))
        cfg = replace_section(cfg, "train", seq_len=seq, batch_tokens=batch, grad_accum=1, device=device,
                              compile=compile_value, loader="sequential")
        cfg = replace_section(cfg, "data", data_dir=tmp)
        trainer = Trainer(cfg, Path(tmp) / "run", D.DistInfo(device=dev))
        model = trainer.model
        for phase in range(model.num_phases):
            model.set_phase(phase, copy_untied=True)
            for _ in range(warmup):
                trainer.step(0, 1.0)
            dt = time_steps(trainer, steps)
            tok_s = batch / dt
            fpt = flops_per_token(model, cfg, seq)
            peak = _peak_flops(dev)
            results.append({
                "preset": preset, "phase": phase, "virtual_layers": len(model.schedule.layout(phase).layers),
                "device": str(dev), "compiled": trainer.forward is not model, "seq_len": seq,
                "batch_tokens": batch, "params": model.num_params(), "ms_per_step": round(1000 * dt, 2),
                "tokens_per_s": round(tok_s, 1), "tflops": round(fpt * tok_s / 1e12, 3),
                "mfu": round(fpt * tok_s / peak, 4) if peak else None,
                "record_tokens_per_s_per_gpu": round(RECORD_RATES[preset]) if preset in RECORD_RATES else None,
            })
    return results


@click.command("train")
@click.option("--preset", "presets", multiple=True, default=("baseline", "record-1204"), show_default=True,
              help="Preset shapes to time (repeatable).")
@click.option("--steps", type=click.IntRange(min=1), default=None, help="Timed steps (default 20 on GPU, 2 on CPU).")
@click.option("--warmup", type=click.IntRange(min=0), default=None, help="Untimed steps first (default 5 GPU, 1 CPU).")
@click.option("--seq-len", type=click.IntRange(min=1), help="Sequence length (default: preset on GPU, 256 on CPU).")
@click.option("--batch-tokens", type=click.IntRange(min=1),
              help="Tokens per step (default: preset batch / 8 on GPU, 8 sequences on CPU).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--compile", "compile_opt", type=click.Choice(["auto", "on", "off"]), default="auto", show_default=True)
@click.option("--save/--no-save", default=True, show_default=True, help="Record the result under docs/benchmarks/.")
@json_option
def command(presets, steps, warmup, seq_len, batch_tokens, device, compile_opt, save, as_json) -> None:
    """Time golf's training step for preset shapes: ms/step, tokens/s, MFU."""
    import torch

    cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    steps = steps or (20 if cuda else 2)
    warmup = warmup if warmup is not None else (5 if cuda else 1)
    rows = []
    for preset in presets:
        rows += bench_preset(preset, steps, warmup, seq_len, batch_tokens, device, compile_opt)
    result = {"rows": rows, "steps": steps, "warmup": warmup}
    if not cuda:
        result["note"] = "CPU figures at a reduced batch; GPU figures are still to be measured"
    rec = record("train", result, out_dir="docs/benchmarks" if save else None)

    def render(r: dict) -> None:
        from rich.console import Console
        from rich.table import Table

        table = Table("preset", "phase", "layers", "device", "seq", "batch", "ms/step", "tok/s", "TFLOP/s", "MFU",
                      "record tok/s/GPU")
        for row in r["results"]["rows"]:
            table.add_row(row["preset"], str(row["phase"]), str(row["virtual_layers"]), row["device"],
                          str(row["seq_len"]), str(row["batch_tokens"]), f"{row['ms_per_step']:.1f}",
                          f"{row['tokens_per_s']:,.0f}", f"{row['tflops']:.3f}",
                          "-" if row["mfu"] is None else f"{100 * row['mfu']:.1f}%",
                          "-" if row["record_tokens_per_s_per_gpu"] is None else f"{row['record_tokens_per_s_per_gpu']:,}")
        Console().print(table)
        if r["results"].get("note"):
            Console().print(r["results"]["note"])
        if r.get("path"):
            Console().print(f"saved {r['path']}")

    emit(rec, as_json, render)
