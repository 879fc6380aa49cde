"""`golf bench ...`: one subcommand per benchmark module under golfcli/bench."""

from __future__ import annotations

import importlib

import click

from golfcli.cli import GolfGroup

# Each benchmark module and its line in `golf bench --help`, which therefore loads none of them (nor torch).
BENCHMARKS = {
    "train": "Time golf's training step for preset shapes: ms/step, tokens/s, MFU.",
    "step": "Per training step of one rank: optimizer ops, bytes sent, host waits, graph breaks.",
    "gpu": "Compiled bf16 training steps and sliding eval on one GPU: ms/step, tokens/s, MFU, memory.",
    "calibrate": "Self-generation tokens/s with the KV cache vs recomputing the prefix.",
    "quantize": "GPTQ timing on a random model; with --model, the tr(H) rule vs the planner.",
    "pack": "Artifact size vs the entropy bound, the records' method and general codecs.",
    "eval": "Tokens/s of standard, sliding and hedge evaluation on the same tokens.",
    "data": "tokens/s of `golf data prepare` vs bare SentencePiece encoding.",
    "run": "`golf run` with its stages forked from one torch import vs spawned, seconds per stage.",
}


class BenchGroup(GolfGroup):
    """The bench group: a benchmark's module (and torch with it) loads only when that benchmark is named."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(BENCHMARKS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in BENCHMARKS:
            return None
        if name not in self.commands:
            try:
                module = importlib.import_module(f"golfcli.bench.{name}")
            except ModuleNotFoundError as exc:
                if exc.name != f"golfcli.bench.{name}":
                    raise
                return None  # that benchmark is not part of this build
            module.command.short_help = BENCHMARKS[name]
            self.add_command(module.command)
        return self.commands[name]

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl(list(BENCHMARKS.items()))


@click.group("bench", cls=BenchGroup)
def command() -> None:
    """Speed and size benchmarks, side by side with the reference methods; results saved as JSON."""
