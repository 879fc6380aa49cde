"""`golf bench ...`: one subcommand per benchmark module under golfcli/bench."""

from __future__ import annotations

import importlib

import click

from golfcli.cli import GolfGroup

BENCH_MODULES = ["train", "step", "gpu", "calibrate", "quantize", "pack", "eval", "data"]


class BenchGroup(GolfGroup):
    """The bench group, whose benchmark modules (and torch with them) load only when `golf bench` is used."""

    _loaded = False

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for name in BENCH_MODULES:
            try:
                module = importlib.import_module(f"golfcli.bench.{name}")
            except ModuleNotFoundError as exc:
                if exc.name != f"golfcli.bench.{name}":
                    raise
                continue
            self.add_command(module.command)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        self._load()
        return super().get_command(ctx, name)


@click.group("bench", cls=BenchGroup)
def command() -> None:
    """Speed and size benchmarks, side by side with the reference methods; results saved as JSON."""
