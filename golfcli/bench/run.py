"""`golf bench run`: `golf run` with its stages forked from a warm process vs spawned, side by side.

Both runs are the same command into two fresh run dirs (the spawned one with GOLF_SPAWN_STAGES=1),
one after the other on the same machine; the record holds each stage's seconds from both
`stages.json` files, the totals, and whether the two runs scored the same bits per byte.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import click

from golfcli.bench.record import record
from golfcli.cli.options import emit, json_option
from golfcli.errors import GolfError

FAST = ("train.iterations=20", "train.val_every=0", "train.checkpoint_every=0", "calib.seqs=2", "calib.seq_len=64")


def timed_run(out: Path, argv: list[str], spawn: bool) -> dict[str, Any]:
    """One `golf run ARGV --out OUT`: its wall seconds, per-stage seconds and scores."""
    env = {**os.environ, "GOLF_SPAWN_STAGES": "1" if spawn else "0"}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "golfcli", "run", *argv, "--out", str(out), "--json"],
                          capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise GolfError(f"golf run failed: {(proc.stderr.strip().splitlines() or ['?'])[-1]}", out)
    stages = json.loads((out / "stages.json").read_text())
    return {"seconds": round(seconds, 2), "stages": {k: round(v["seconds"], 2) for k, v in stages.items()},
            "bpb": json.loads(proc.stdout)["bpb"]}


def bench_run(argv: list[str]) -> dict[str, Any]:
    """`golf run ARGV` forked and spawned, in fresh temporary run dirs."""
    with tempfile.TemporaryDirectory() as tmp:
        forked = timed_run(Path(tmp) / "forked", argv, spawn=False)
        spawned = timed_run(Path(tmp) / "spawned", argv, spawn=True)
    stages = {k: {"forked": forked["stages"][k], "spawned": spawned["stages"][k]} for k in forked["stages"]}
    return {"argv": argv, "forked_seconds": forked["seconds"], "spawned_seconds": spawned["seconds"],
            "spawned_over_forked": round(spawned["seconds"] / forked["seconds"], 3), "stages": stages,
            "same_bpb": forked["bpb"] == spawned["bpb"], "bpb": forked["bpb"]}


@click.command("run")
@click.option("--preset", default="tiny", show_default=True)
@click.option("--data", type=click.Path(), help="Shard directory (default: golf run's: the challenge layout, else "
                                                "the built-in corpus, built into each run dir).")
@click.option("--tokenizer", type=click.Path(), help="SentencePiece model.")
@click.option("--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE",
              help=f"Override one config key (repeatable) [default: {' '.join(FAST)}].")
@click.option("--no-record", is_flag=True, help="Do not write docs/benchmarks/run-*.json.")
@json_option
def command(preset, data, tokenizer, overrides, no_record, as_json) -> None:
    """`golf run` with stages forked from one torch import vs spawned: seconds per stage and in all."""
    argv = ["--preset", preset, *(["--data", data] if data else []), *(["--tokenizer", tokenizer] if tokenizer else [])]
    argv += [arg for item in (overrides or FAST) for arg in ("--set", item)]
    result = bench_run(argv)
    if not no_record:
        result["record_path"] = record("run", result)["path"]
    emit(result, as_json, _render)


def _render(result: dict[str, Any]) -> None:
    for name, row in result["stages"].items():
        click.echo(f"{name:16} forked {row['forked']:6.2f} s   spawned {row['spawned']:6.2f} s")
    click.echo(f"golf run: forked {result['forked_seconds']:.1f} s, spawned {result['spawned_seconds']:.1f} s "
               f"({result['spawned_over_forked']:.2f}x); same bpb: {result['same_bpb']}")
    if "record_path" in result:
        click.echo(f"recorded {result['record_path']}")
