"""`golf bench eval`: tokens/s of standard, sliding and hedge evaluation side by side.

Every mode scores the same tokens with the same model: a given model file, or a freshly
initialised GPT of a preset (speed does not depend on the weights). Tokens come from the
validation shards of `--data`, or are random ids when no data is given. Each mode first runs a
short warm-up (so torch.compile on CUDA is not timed), then scores `--max-tokens` tokens.
Reported: tokens/s per mode (wall clock, best of --repeat interleaved runs), the process CPU
time, sliding windows/s, and the hedge mixer's cost over sliding (target ≤ 20%). The
record-1204 reference: 969,088 windows in ~88 s on 8 H100s ≈ 1,375 windows/s per GPU at
window 2048 / stride 64.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.table import Table

from golfcli import console
from golfcli.bench.record import DEFAULT_DIR, record
from golfcli.cli.options import emit, json_option
from golfcli.config import EvalConfig, load_config
from golfcli.errors import GolfError

if TYPE_CHECKING:
    import torch

    from golfcli.metric import ByteTables

RECORD_WINDOWS_PER_S_PER_GPU = 969_088 / 88.0 / 8
# golfcli.eval.MODES, spelled out so that `golf bench eval --help` imports no torch (a test keeps them equal)
MODES = ("standard", "sliding", "hedge")


def _model(model_path: str | None, preset: str, device: torch.device):
    if model_path:
        from golfcli.loading import load_model

        return load_model(model_path, device)
    import torch

    from golfcli.model import build_model

    cfg = load_config(preset)
    torch.manual_seed(0)
    return build_model(cfg.model, None, device), cfg


def _tokens(data_dir: str | None, n: int, vocab: int) -> torch.Tensor:
    import torch

    if data_dir:
        from golfcli.data.shards import load_validation_tokens

        tokens = load_validation_tokens(data_dir)[:n]
        if tokens.numel() < n:
            raise GolfError(f"the validation split has only {tokens.numel()} tokens, asked for {n}", data_dir)
        return tokens.clamp_max(vocab - 1)
    return torch.randint(0, vocab, (n,), generator=torch.Generator().manual_seed(0))


def _tables(tokenizer: str | None, vocab: int) -> ByteTables:
    import torch

    from golfcli.metric import ByteTables, build_byte_tables

    if tokenizer:
        from golfcli.data.tokenizer import load_tokenizer

        return build_byte_tables(load_tokenizer(tokenizer), vocab)
    return ByteTables(torch.ones(vocab, dtype=torch.int16), torch.zeros(vocab, dtype=torch.bool),
                      torch.zeros(vocab, dtype=torch.bool))


def bench_eval(model_path: str | None = None, preset: str = "tiny", data_dir: str | None = None,
               tokenizer: str | None = None, max_tokens: int = 32769, modes: tuple[str, ...] = MODES,
               device: str = "auto", repeat: int = 1, **eval_changes: Any) -> dict[str, Any]:
    """Time each eval mode on the same model and tokens; return the side-by-side figures."""
    from golfcli.distributed import pick_device
    from golfcli.eval import evaluate

    dev = pick_device(device)
    model, cfg = _model(model_path, preset, dev)
    # golf's current eval defaults (not the file's stored [eval] table), plus the flags given
    ecfg = dataclasses.replace(EvalConfig(), **{k: v for k, v in eval_changes.items() if v is not None}).validate()
    vocab = cfg.model.vocab_size
    tokens = _tokens(data_dir, max_tokens, vocab)
    tables = _tables(tokenizer, vocab)
    warm = tokens[: min(tokens.numel(), 2 * ecfg.window + 1)]
    rows: dict[str, Any] = {}
    for mode in modes:
        evaluate(model, warm, tables, mode, ecfg)
    for rep in range(repeat):  # modes interleaved, best of `repeat`: robust to a busy machine
        for mode in modes:
            console.info(f"bench eval: {mode} (run {rep + 1} of {repeat}) ...")
            cpu0 = time.process_time()
            r = evaluate(model, tokens, tables, mode, ecfg, description=f"bench {mode}")
            cpu = time.process_time() - cpu0
            best = rows.get(mode)
            if best is None or r["seconds"] < best["seconds"]:
                fastest_cpu = cpu if best is None else min(cpu, best["cpu_seconds"])
                rows[mode] = {k: r[k] for k in ("tokens_per_s", "seconds", "tokens_scored", "windows", "val_bpb")}
                rows[mode]["windows_per_s"] = r["windows"] / r["seconds"]
                rows[mode]["cpu_seconds"] = fastest_cpu
            else:
                best["cpu_seconds"] = min(cpu, best["cpu_seconds"])
    out: dict[str, Any] = {
        "device": str(dev), "model": model_path or f"random {preset}", "params": sum(p.numel() for p in
                                                                                 model.parameters()),
        "tokens": int(tokens.numel()), "data": data_dir or "random ids", "window": ecfg.window,
        "stride": ecfg.stride, "seq_len": ecfg.seq_len, "batch_seqs": ecfg.batch_seqs, "modes": rows,
        "hedge_experts": list(ecfg.hedge_experts), "hedge_table_size": ecfg.hedge_table_size,
    }
    if "sliding" in rows and "hedge" in rows:
        out["hedge_overhead_vs_sliding"] = rows["hedge"]["seconds"] / rows["sliding"]["seconds"] - 1
        out["hedge_cpu_overhead_vs_sliding"] = rows["hedge"]["cpu_seconds"] / rows["sliding"]["cpu_seconds"] - 1
    if "sliding" in rows:
        out["record_windows_per_s_per_gpu"] = RECORD_WINDOWS_PER_S_PER_GPU
    return out


def render(result: dict[str, Any]) -> None:
    """The side-by-side table."""
    table = Table(title=f"golf bench eval on {result['device']}: {result['model']} "
                        f"({result['params']:,} params), {result['tokens']:,} tokens")
    for col in ("mode", "tokens/s", "windows/s", "seconds", "cpu seconds", "bpb"):
        table.add_column(col, justify="right")
    for mode, r in result["modes"].items():
        table.add_row(mode, f"{r['tokens_per_s']:,.0f}", f"{r['windows_per_s']:,.1f}", f"{r['seconds']:.2f}",
                      f"{r['cpu_seconds']:.2f}", f"{r['val_bpb']:.4f}")
    Console().print(table)
    if "hedge_overhead_vs_sliding" in result:
        Console().print(f"hedge cost over sliding: {100 * result['hedge_overhead_vs_sliding']:+.1f}% wall, "
                        f"{100 * result['hedge_cpu_overhead_vs_sliding']:+.1f}% cpu time (target ≤ +20%)")
    if "path" in result:
        Console().print(f"recorded in {result['path']}")


@click.command("eval")
@click.option("--model", "model_path", type=click.Path(), default=None,
              help="Checkpoint, quantized file or artifact (default: a random GPT of --preset).")
@click.option("--preset", default="tiny", show_default=True, help="Model shape when no --model is given.")
@click.option("--data", "data_dir", default=None, help="Shard directory (default: random token ids).")
@click.option("--tokenizer", default=None, help="SentencePiece model for real byte counts (optional).")
@click.option("--max-tokens", type=int, default=32769, show_default=True, help="Tokens scored per mode.")
@click.option("--window", type=int, default=None, help="Sliding window [eval.window].")
@click.option("--stride", type=int, default=None, help="Sliding stride [eval.stride].")
@click.option("--seq-len", type=int, default=None, help="Standard eval sequence length [eval.seq_len].")
@click.option("--batch-seqs", type=int, default=None, help="Windows per batch [eval.batch_seqs].")
@click.option("--modes", default=",".join(MODES), show_default=True, help="Comma-separated modes to time.")
@click.option("--device", default="auto", show_default=True)
@click.option("--repeat", type=click.IntRange(1), default=1, show_default=True,
              help="Timed runs per mode (interleaved); the fastest counts.")
@click.option("--threads", type=click.IntRange(1), default=None, help="torch CPU threads (default: torch's).")
@click.option("--out", "out_dir", default=str(DEFAULT_DIR), show_default=True, help="Where the JSON record goes.")
@click.option("--no-record", is_flag=True, help="Do not write a JSON record.")
@json_option
def command(model_path, preset, data_dir, tokenizer, max_tokens, window, stride, seq_len, batch_seqs, modes,
            device, repeat, threads, out_dir, no_record, as_json):
    """Tokens/s of standard, sliding and hedge evaluation on the same model and tokens."""
    chosen = tuple(m.strip() for m in modes.split(",") if m.strip())
    bad = [m for m in chosen if m not in MODES]
    if bad or not chosen:
        raise GolfError(f"--modes takes a comma-separated subset of {', '.join(MODES)}, got {modes!r}")
    if max_tokens < 2:
        raise GolfError(f"--max-tokens must be at least 2, got {max_tokens}")
    if threads:
        import torch

        torch.set_num_threads(threads)
    result = bench_eval(model_path, preset, data_dir, tokenizer, max_tokens, chosen, device, repeat, window=window,
                        stride=stride, seq_len=seq_len, batch_seqs=batch_seqs)
    if not no_record:
        result = {**result, "path": record("eval", result, out_dir)["path"]}
    emit(result, as_json, render)
