"""Configs: typed sections, named TOML presets, config files and `--set section.key=value`.

Resolution order (later wins), written once in `resolve.py`: dataclass defaults → the input
file's stored config (for a stage reading a model file) → preset (and the presets it inherits) →
`--config FILE.toml` → each `--set` → the stage's own flags. Unknown sections or keys and wrongly typed values are
errors that name the closest valid keys.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

from golfcli.config.artifact import SIZE_LIMIT, PackConfig
from golfcli.config.base import section_from_dict, section_to_dict, unknown_key_error
from golfcli.config.data import DataConfig
from golfcli.config.eval import EvalConfig
from golfcli.config.model import ModelConfig
from golfcli.config.quant import CalibConfig, QuantConfig
from golfcli.config.toml import dumps_toml, load_toml, parse_value
from golfcli.config.train import TrainConfig
from golfcli.errors import GolfError

__all__ = [
    "GolfConfig", "DataConfig", "ModelConfig", "TrainConfig", "CalibConfig", "QuantConfig",
    "PackConfig", "EvalConfig", "SIZE_LIMIT", "load_config", "config_from_dict", "config_to_dict",
    "config_to_toml", "list_presets", "preset_description",
]

SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "model": ModelConfig,
    "train": TrainConfig,
    "calib": CalibConfig,
    "quant": QuantConfig,
    "pack": PackConfig,
    "eval": EvalConfig,
}
PRESET_KEYS = ("inherit", "description")


@dataclass
class GolfConfig:
    """The whole resolved configuration: one typed section per stage."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    calib: CalibConfig = field(default_factory=CalibConfig)
    quant: QuantConfig = field(default_factory=QuantConfig)
    pack: PackConfig = field(default_factory=PackConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    preset: str | None = None


def list_presets() -> list[str]:
    """Names of the presets shipped in golfcli/presets."""
    folder = resources.files("golfcli") / "presets"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def _preset_path(name: str) -> Any:
    if name.endswith(".toml") or "/" in name:
        return Path(name)
    path = resources.files("golfcli") / "presets" / f"{name}.toml"
    if not path.is_file():
        raise unknown_key_error(name, list_presets(), kind="preset")
    return path


def _load_preset_tables(name: str, seen: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
    if name in seen:
        raise GolfError(f"preset inheritance loops: {' -> '.join(seen + (name,))}")
    raw = load_toml(_preset_path(name))
    base: dict[str, dict[str, Any]] = {}
    if "inherit" in raw:
        base = _load_preset_tables(str(raw["inherit"]), seen + (name,))
    return _merge(base, _sections_only(raw, str(name)))


def preset_description(name: str) -> str:
    """The one-line description a preset file declares."""
    return str(load_toml(_preset_path(name)).get("description", ""))


def _sections_only(raw: dict[str, Any], source: str) -> dict[str, dict[str, Any]]:
    tables = {}
    for key, value in raw.items():
        if key in PRESET_KEYS:
            continue
        if key not in SECTIONS or not isinstance(value, dict):
            raise GolfError(str(unknown_key_error(key, list(SECTIONS), kind="config section")) + f" (in {source})")
        tables[key] = value
    return tables


def _merge(base: dict[str, dict[str, Any]], top: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = {k: dict(v) for k, v in base.items()}
    for section, table in top.items():
        out.setdefault(section, {}).update(table)
    return out


def _parse_override(text: str) -> tuple[str, str, Any]:
    if "=" not in text or "." not in text.split("=", 1)[0]:
        raise GolfError(f"--set expects section.key=value, got {text!r}")
    path, value = text.split("=", 1)
    section, key = path.strip().split(".", 1)
    if section not in SECTIONS:
        raise unknown_key_error(section, list(SECTIONS), kind="config section")
    return section, key.strip(), parse_value(value.strip())


def config_from_dict(tables: dict[str, dict[str, Any]], preset: str | None = None) -> GolfConfig:
    """Build a GolfConfig from `{section: {key: value}}` tables, type-checking every key."""
    sections = {}
    for name, cls in SECTIONS.items():
        table = tables.get(name, {})
        sections[name] = section_from_dict(cls, table, f"{name}.")
    unknown = set(tables) - set(SECTIONS)
    if unknown:
        raise unknown_key_error(sorted(unknown)[0], list(SECTIONS), kind="config section")
    sections["model"].validate()  # every file must rebuild its model; the other sections when a stage resolves them
    return GolfConfig(**sections, preset=preset)


def load_config(
    preset: str | None = None, config_file: str | Path | None = None, overrides: Iterable[str] = ()
) -> GolfConfig:
    """Resolve defaults → preset → config file → `--set` overrides into one GolfConfig.

    The same rule every stage uses (`golfcli.config.resolve.resolve_settings`), without an input file.
    """
    from golfcli.config.resolve import resolve_settings

    return resolve_settings(None, preset, config_file, overrides).config


def config_to_dict(cfg: GolfConfig) -> dict[str, dict[str, Any]]:
    """The resolved config as `{section: {key: value}}` (every key, defaults included)."""
    return {name: section_to_dict(getattr(cfg, name)) for name in SECTIONS}


def config_to_toml(cfg: GolfConfig) -> str:
    """The resolved config as TOML text that `--config` reads back to the same config."""
    header = f"# resolved golf config (preset: {cfg.preset or 'none'})\n"
    return header + dumps_toml(config_to_dict(cfg))


def replace_section(cfg: GolfConfig, name: str, **changes: Any) -> GolfConfig:
    """A copy of `cfg` with some keys of one section changed."""
    return dataclasses.replace(cfg, **{name: dataclasses.replace(getattr(cfg, name), **changes)})
