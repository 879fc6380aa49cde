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
    "golfcli.cli.inspect_cmd",
    "golfcli.cli.presets_cmd",
    "golfcli.cli.plot_cmd",
    "golfcli.cli.bench_cmd",
]


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
            main.add_command(cmd)


_register()
