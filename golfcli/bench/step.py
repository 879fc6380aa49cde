"""`golf bench step`: what a training step costs besides the model's maths, for one rank of N.

Needs no GPU. N ranks are simulated by joining torch's in-process "fake" process group as rank 0
of N: collectives return at once, so golf's real optimizer code runs exactly the share of work
that rank 0 of an N-rank job runs. Measured per optimizer step, with the preset's full model:
- aten ops issued after backward (gradient communication, clipping, Muon, AdamW), counted with a
  dispatch mode; view ops are counted apart (they launch no kernel);
- bytes this rank sends, for ring collectives: all-reduce 2(N−1)/N·size, reduce-scatter and
  all-gather (N−1)/N·size of the full buffer;
- host work on the critical path: the wait for the next batch at the preset's per-rank batch
  (with the device's share of a step simulated by a sleep, so a background loader can overlap it),
  building the EMA's input list, and the blocking host reads of the clock agreement per step;
- graph breaks and compiled graphs (torch.compile with the `aot_eager` backend at a tiny sequence
  length): training in every recurrence phase and QAT mode, then evaluation.
"""

from __future__ import annotations

import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import click
import numpy as np

from golfcli.bench.record import record
from golfcli.cli.options import emit, json_option
from golfcli.config import GolfConfig, load_config, replace_section
from golfcli.errors import GolfError

if TYPE_CHECKING:
    import torch

    from golfcli.bench.op_counter import OpCounter

DEVICE_STEP_S = 0.02  # the simulated device time of one step while the host waits for the next batch


@contextmanager
def fake_world(world_size: int) -> Iterator[None]:
    """Join torch's fake process group as rank 0 of `world_size` (no group for one rank)."""
    if world_size <= 1:
        yield
        return
    import torch.distributed as dist
    from torch.testing._internal.distributed.fake_pg import FakeStore

    dist.init_process_group("fake", store=FakeStore(), rank=0, world_size=world_size)
    try:
        yield
    finally:
        dist.destroy_process_group()


def _labelled(counter: OpCounter, name: str, fn):
    def wrapped(*args, **kwargs):
        previous, counter.section = counter.section, name
        try:
            return fn(*args, **kwargs)
        finally:
            counter.section = previous
    return wrapped


def _random_grads(params: list[torch.nn.Parameter], seed: int) -> None:
    import torch

    gen = torch.Generator().manual_seed(seed)
    for p in params:
        p.grad = (torch.randn(p.shape, generator=gen) * 1e-3).to(p.dtype)


def _write_shards(tmp: Path, vocab: int, tokens: int) -> None:
    from golfcli.data.shards import write_shard

    rng = np.random.default_rng(0)
    for i in range(2):
        write_shard(tmp / f"fineweb_train_00000{i}.bin", rng.integers(0, vocab, size=tokens, dtype=np.uint16))


def _make_trainer(cfg: GolfConfig, world_size: int, tmp: Path):
    import torch

    from golfcli.train import distributed as D
    from golfcli.train.loop import Trainer

    cfg = replace_section(cfg, "data", data_dir=str(tmp))
    return Trainer(cfg, tmp / "run", D.DistInfo(rank=0, world_size=world_size, device=torch.device("cpu")))


def _as_on_cuda(trainer) -> list[str]:
    """Switch the optimizers to what the trainer builds on CUDA, so the counts are the GPU's."""
    import torch

    from golfcli.train.muon import Muon

    changed = []
    for i, opt in enumerate(trainer.optimizers):
        if isinstance(opt, Muon) and opt.comm_dtype != torch.bfloat16:
            opt.comm_dtype = torch.bfloat16
            changed.append("Muon communication in bf16")
        elif isinstance(opt, torch.optim.AdamW) and not opt.defaults.get("fused"):
            groups = [{k: v for k, v in g.items() if k not in ("fused", "foreach")} for g in opt.param_groups]
            d = opt.defaults
            trainer.optimizers[i] = torch.optim.AdamW(groups, betas=d["betas"], eps=d["eps"],
                                                      weight_decay=d["weight_decay"], fused=True)
            changed.append("fused AdamW")
    return changed


def measure_optimizer(trainer, world_size: int, steps: int) -> dict[str, Any]:
    """Ops, views, collectives and bytes per optimizer step of rank 0."""
    from golfcli.bench.op_counter import OpCounter

    counter = OpCounter(world_size)
    originals = [opt.step for opt in trainer.optimizers]
    for opt in trainer.optimizers:
        opt.step = _labelled(counter, type(opt).__name__, opt.step)
    try:
        _random_grads(trainer.params, 0)
        trainer.optimizer_step()  # allocates optimizer state; not counted
        for k in range(steps):
            _random_grads(trainer.params, k + 1)
            counter.section = "comm+clip"
            with counter:
                trainer.optimizer_step()
    finally:
        for opt, step in zip(trainer.optimizers, originals):
            opt.step = step
    per = {name: round(n / steps, 1) for name, n in sorted(counter.ops.items())}
    return {
        "ops_per_step": per,
        "optimizer_ops_per_step": round(sum(counter.ops.values()) / steps, 1),
        "view_ops_per_step": round(sum(counter.views.values()) / steps, 1),
        "collectives_per_step": {k: v / steps for k, v in sorted(counter.collectives.items())},
        "bytes_sent_per_step": round(counter.bytes_sent / steps),
        "mb_sent_per_step": round(counter.bytes_sent / steps / 1e6, 1),
    }


def measure_host(trainer, cfg: GolfConfig, world_size: int, steps: int) -> dict[str, Any]:
    """Host milliseconds per step that a step would wait for, at the preset's per-rank batch."""
    from golfcli.bench.op_counter import OpCounter
    from golfcli.train import distributed as D

    tc = cfg.train
    loader = trainer.loader
    loader.next_batch(tc.batch_tokens, tc.seq_len, tc.grad_accum)
    waits = []
    for _ in range(steps):
        time.sleep(DEVICE_STEP_S)
        t0 = time.perf_counter()
        for _ in range(tc.grad_accum):
            loader.next_batch(tc.batch_tokens, tc.seq_len, tc.grad_accum)
        waits.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    for _ in range(steps):
        trainer.current_weights()
    ema_ms = 1000 * (time.perf_counter() - t0) / steps
    counter = OpCounter(world_size)
    clock = D.LaggedClock(trainer.dist, 0.0)
    with counter:
        for k in range(steps):
            clock.agree(float(k))
    return {
        "batch_wait_ms": round(1000 * float(np.median(waits)), 3),
        "weights_for_ema_ms": round(ema_ms, 3),
        "clock_host_reads_per_step": counter.host_reads / steps,
        "clock_lag_steps": 1,  # each read is of the agreement launched a step before
        "simulated_device_step_ms": 1000 * DEVICE_STEP_S,
    }


def measure_graphs(cfg: GolfConfig, seq_len: int) -> dict[str, Any]:
    """Graph breaks and graphs compiled (aot_eager) for training in every phase / QAT mode, then eval."""
    import torch
    import torch._dynamo as dynamo
    from torch._dynamo.utils import counters

    from golfcli.model import GPT
    from golfcli.train.qat import export_bits

    torch.manual_seed(0)
    model = GPT(cfg.model)
    dynamo.reset()
    counters.clear()
    dynamo.config.cache_size_limit = max(dynamo.config.cache_size_limit, 64)
    compiled = torch.compile(model, backend="aot_eager", dynamic=False)
    x = torch.randint(0, cfg.model.vocab_size, (2, seq_len))
    modes = ["off"] + ([cfg.train.qat_mode] if cfg.train.qat_mode != "off" else [])
    for phase in range(model.num_phases):
        model.set_phase(phase, copy_untied=True)
        for mode in modes:
            model.set_qat(mode, export_bits(cfg.quant), seed=0)
            compiled(x, x).backward()
    train_graphs = counters["stats"]["unique_graphs"]
    model.eval()
    with torch.inference_mode():  # batches made inside, as validation's copies to the device are
        compiled(x.clone())
        # the last validation batch, 1 of 2 rows, padded to the others' shape as Trainer.validate does
        compiled(torch.cat([x[:1], torch.zeros_like(x[:1])]))
    breaks = sum(counters["graph_break"].values())
    result = {
        "graph_breaks": breaks, "train_graphs": train_graphs,
        "eval_graphs": counters["stats"]["unique_graphs"] - train_graphs,
        "phases": model.num_phases, "qat_modes": modes, "seq_len": seq_len,
    }
    dynamo.reset()
    return result


def bench_step(preset: str, world_size: int, steps: int = 3, graphs: bool = True,
               graph_seq_len: int = 64) -> dict[str, Any]:
    """All `golf bench step` measurements for one preset at `world_size` ranks."""
    cfg = load_config(preset)
    tc = cfg.train
    cfg = replace_section(cfg, "train", device="cpu", compile=False, warmup_steps=0)
    rows_per_rank = tc.batch_tokens // world_size // tc.grad_accum // tc.seq_len
    out: dict[str, Any] = {"preset": preset, "world_size": world_size, "rank": 0,
                           "seq_len": tc.seq_len, "rows_per_rank": rows_per_rank}
    with tempfile.TemporaryDirectory() as tmp, fake_world(world_size):
        _write_shards(Path(tmp), cfg.model.vocab_size, max(8 * tc.batch_tokens, 1 << 20))
        trainer = _make_trainer(cfg, world_size, Path(tmp))
        out["as_on_cuda"] = _as_on_cuda(trainer)
        out["params"] = sum(p.numel() for p in trainer.params)
        out["optimizer"] = measure_optimizer(trainer, world_size, steps)
        out["host"] = measure_host(trainer, cfg, world_size, steps)
        trainer.close()
    if graphs:
        out["graphs"] = measure_graphs(cfg, graph_seq_len)
    return out


@click.command("step")
@click.option("--preset", "presets", multiple=True, default=("record-1204",), show_default=True,
              help="Preset to measure (repeatable).")
@click.option("--world-size", "world_sizes", type=click.IntRange(min=1), multiple=True, default=(8,),
              show_default=True, help="Ranks to simulate (repeatable); rank 0's share is measured.")
@click.option("--steps", type=click.IntRange(min=1), default=3, show_default=True, help="Counted steps.")
@click.option("--graphs/--no-graphs", default=True, show_default=True,
              help="Also count graph breaks and compiled graphs (aot_eager; slower).")
@click.option("--save/--no-save", default=True, show_default=True, help="Record the result under docs/benchmarks/.")
@json_option
def command(presets, world_sizes, steps, graphs, save, as_json) -> None:
    """Per training step of one rank: optimizer ops, bytes sent, host waits, graph breaks."""
    from golfcli.config import list_presets

    unknown = [p for p in presets if p not in list_presets()]
    if unknown:
        raise GolfError(f"unknown preset {unknown[0]!r} (see `golf presets`)")
    rows = [bench_step(p, n, steps, graphs) for p in presets for n in world_sizes]
    rec = record("step", {"rows": rows, "steps": steps}, out_dir="docs/benchmarks" if save else None)

    def render(r: dict) -> None:
        from rich.console import Console
        from rich.table import Table

        table = Table("preset", "N", "optimizer ops", "of which Muon", "MB sent", "batch wait ms",
                      "weights for EMA ms", "clock reads", "graph breaks", "graphs train/eval")
        for row in r["results"]["rows"]:
            o, h, g = row["optimizer"], row["host"], row.get("graphs")
            table.add_row(row["preset"], str(row["world_size"]), f"{o['optimizer_ops_per_step']:g}",
                          f"{o['ops_per_step'].get('Muon', 0):g}", f"{o['mb_sent_per_step']:g}",
                          f"{h['batch_wait_ms']:.2f}", f"{h['weights_for_ema_ms']:.2f}",
                          f"{h['clock_host_reads_per_step']:g}",
                          "-" if g is None else str(g["graph_breaks"]),
                          "-" if g is None else f"{g['train_graphs']}/{g['eval_graphs']}")
        Console().print(table)
        if r.get("path"):
            Console().print(f"saved {r['path']}")

    emit(rec, as_json, render)
