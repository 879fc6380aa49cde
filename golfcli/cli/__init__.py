"""The `golf` command: one thin Click verb per stage.

Each verb lives in its own module under golfcli/cli and only parses options, calls the stage's
plain Python function, and prints the result (a table, or one JSON object with `--json`).
Every GolfError becomes a one-line message on stderr and a non-zero exit.
"""

from __future__ import annotations

import importlib
import sys

import click

from golfcli import __version__
from golfcli.errors import GolfError

# Modules that each define `command` (a click.Command or click.Group), in help order.
COMMAND_MODULES = [
    "golfcli.cli.data_cmd",
    "golfcli.cli.params_cmd",
    "golfcli.cli.train_cmd",
    "golfcli.cli.ema_cmd",
    "golfcli.cli.calibrate_cmd",
    "golfcli.cli.quantize_cmd",
    "golfcli.cli.pack_cmd",
    "golfcli.cli.eval_cmd",
    "golfcli.cli.run_cmd",
    "golfcli.cli.export_cmd",
    "golfcli.cli.inspect_cmd",
    "golfcli.cli.presets_cmd",
    "golfcli.cli.config_cmd",
    "golfcli.cli.plot_cmd",
    "golfcli.cli.bench_cmd",
]


# One line per verb in `golf --help`.
SHORT_HELP = {
    "data": "Challenge shards: prepare, builtin, download, inspect.",
    "params": "Count a preset's parameters by group.",
    "train": "Train a model into a run dir (Muon, EMA/SWA, QAT, torchrun).",
    "ema": "Average a run's weights (EMA, SWA, exponential).",
    "gptq-calibrate": "Collect GPTQ Hessians from self-generated text.",
    "quantize": "Quantize: GPTQ or RTN, mixed int2-int8, byte budget.",
    "pack": "Pack a quantized file into an artifact at the entropy limit.",
    "unpack": "Restore the quantized file (or floats) from an artifact.",
    "verify-size": "Artifact + code bytes against the 16,000,000-byte cap.",
    "eval": "Bits per byte: standard, --sliding, --hedge, --ttt.",
    "eval-sliding": "Sliding-window bits per byte (the challenge's metric).",
    "eval-hedge": "Hedge-mixer bits per byte (normalized experts only).",
    "run": "The whole chain, data to verified score, in one run dir.",
    "export": "A challenge records folder: one train_gpt.py; --update, --check.",
    "inspect": "Show what any golf file holds.",
    "presets": "List the named presets.",
    "config": "The resolved config and where each value came from.",
    "plot": "Plot a run: loss, bpb, LR scale, bytes vs the cap.",
    "bench": "Speed and size benchmarks, recorded as JSON.",
}


class GolfGroup(click.Group):
    """A group that keeps commands in registration order and turns GolfErrors into one line."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except GolfError as exc:
            click.echo(f"golf: error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("golf: interrupted", err=True)
            sys.exit(130)


@click.group(cls=GolfGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="golf")
def main() -> None:
    """golf: train, quantize, pack, verify and evaluate Parameter Golf models, one stage at a time."""


def _register() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # that verb is not part of this build
                continue
            raise
        commands = getattr(module, "commands", None) or [module.command]
        for cmd in commands:
            cmd.short_help = SHORT_HELP.get(cmd.name, cmd.short_help)
            main.add_command(cmd)


_register()
