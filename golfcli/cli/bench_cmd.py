"""`golf bench ...`: one subcommand per benchmark module under golfcli/bench."""

from __future__ import annotations

import importlib

import click

from golfcli.cli import GolfGroup

BENCH_MODULES = ["train", "step", "gpu", "calibrate", "quantize", "pack", "eval", "data"]


@click.group("bench", cls=GolfGroup)
def command() -> None:
    """Speed and size benchmarks, side by side with the reference methods; results saved as JSON."""


for _name in BENCH_MODULES:
    try:
        _module = importlib.import_module(f"golfcli.bench.{_name}")
    except ModuleNotFoundError as _exc:
        if _exc.name != f"golfcli.bench.{_name}":
            raise
        continue
    command.add_command(_module.command)
