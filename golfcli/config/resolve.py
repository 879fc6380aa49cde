"""The one precedence rule by which every stage gets its settings.

From lowest to highest (later wins): dataclass defaults → the input file's stored config →
`--preset` / `--config FILE` (the file over the preset it names or inherits) → each `--set
section.key=value` → the stage's own flags. Every resolved value remembers the layer it came
from, so `golf config` can say why a setting has the value it has.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

DEFAULT = "default"
STORED = "the input file"
SET = "--set"
FLAG = "flag"


@dataclass
class Layer:
    """One source of settings: `{section: {key: value}}` and the label `golf config` shows for it."""

    label: str
    tables: dict[str, dict[str, Any]]


@dataclass
class Resolved:
    """A resolved config and, for every `section.key`, the label of the layer its value came from."""

    config: Any  # GolfConfig (typed loosely: golfcli.config imports this module)
    sources: dict[str, str] = field(default_factory=dict)


def config_layers(preset: str | None, config_file: Any, overrides: Iterable[str]) -> list[Layer]:
    """The `--preset`, `--config` and `--set` layers, lowest first."""
    from golfcli.config import _load_preset_tables, _parse_override, _sections_only, load_toml

    layers: list[Layer] = []
    if preset:
        layers.append(Layer(f"preset {preset}", _load_preset_tables(preset)))
    if config_file:
        raw = load_toml(config_file)
        if preset is None and "inherit" in raw:
            layers.append(Layer(f"preset {raw['inherit']}", _load_preset_tables(str(raw["inherit"]))))
        layers.append(Layer(f"file {config_file}", _sections_only(raw, str(config_file))))
    sets: dict[str, dict[str, Any]] = {}
    for text in overrides:
        section, key, value = _parse_override(text)
        sets.setdefault(section, {})[key] = value
    if sets:
        layers.append(Layer(SET, sets))
    return layers


def resolve_layers(layers: list[Layer], preset: str | None = None, reads: tuple[str, ...] | None = None) -> Resolved:
    """Lay `layers` over the defaults in order; type-check the result; record each key's source;
    validate the sections in `reads` (all when None)."""
    from golfcli.config import SECTIONS, config_from_dict
    from golfcli.config.base import field_names

    tables: dict[str, dict[str, Any]] = {}
    sources = {f"{s}.{k}": DEFAULT for s, cls in SECTIONS.items() for k in field_names(cls)}
    for layer in layers:
        for section, table in layer.tables.items():
            tables.setdefault(section, {}).update(table)
            sources.update({f"{section}.{k}": layer.label for k in table})
    resolved = Resolved(config_from_dict(tables, preset=preset), sources)
    validate_sections(resolved, reads or tuple(SECTIONS))
    return resolved


def validate_sections(resolved: Resolved, sections: tuple[str, ...]) -> None:
    """Run each section's `validate()`; an error names the TOML key (`quant.damp must be ≥ 0, got -1`),
    and the stage flag first when the value came from one (`--damp (quant.damp) must be ...`)."""
    from golfcli.config import SECTIONS
    from golfcli.config.base import SettingError, flag_of
    from golfcli.errors import GolfError

    for name in sections:
        try:
            getattr(resolved.config, name).validate()
        except SettingError as exc:
            if resolved.sources.get(exc.key) != FLAG:
                raise
            section, key = exc.key.split(".", 1)
            flag = flag_of(SECTIONS[section], key) or "--" + key.replace("_", "-")
            raise GolfError(f"{flag} ({exc.key}) {exc.problem}") from None


def resolve_settings(
    stored: Any = None,
    preset: str | None = None,
    config_file: Any = None,
    overrides: Iterable[str] = (),
    flags: dict[str, dict[str, Any]] | None = None,
    stored_label: str = STORED,
    reads: tuple[str, ...] | None = None,
) -> Resolved:
    """Resolve a stage's settings: flags > `--set` > `--config`/`--preset` > `stored` > defaults.

    `stored` is the GolfConfig an input file carries (None for none); `flags` holds the stage's
    own options as `{section: {key: value}}`, None values meaning "not given". With `reads`
    (the sections the stage uses), a `--set` on any other section is an error, not a no-op.
    """
    from golfcli.config import config_to_dict

    overrides = tuple(overrides)
    if reads is not None:
        _check_reads(overrides, reads)

    layers: list[Layer] = []
    if stored is not None:
        layers.append(Layer(stored_label, config_to_dict(stored)))
    layers += config_layers(preset, config_file, overrides)
    given = {s: {k: v for k, v in t.items() if v is not None} for s, t in (flags or {}).items()}
    if any(given.values()):
        layers.append(Layer(FLAG, {s: t for s, t in given.items() if t}))
    name = preset or (getattr(stored, "preset", None) if stored is not None else None)
    return resolve_layers(layers, preset=name, reads=reads)


def _check_reads(overrides: tuple[str, ...], reads: tuple[str, ...]) -> None:
    from golfcli.config import _parse_override
    from golfcli.errors import GolfError

    for text in overrides:
        section = _parse_override(text)[0]
        if section not in reads:
            takes = " or ".join(f"--set {s}.KEY=VALUE" for s in reads)
            raise GolfError(f"this stage takes {takes} only (it reads [{'], ['.join(reads)}]), got {text!r}")
