"""Reading TOML (tomllib) and writing the small subset golf configs use."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

from golfcli.errors import GolfError
from golfcli.io import read_bytes

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on Python 3.10
    import tomli as tomllib


def load_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML file, with a one-line error naming the file when it is not valid TOML."""
    data = read_bytes(path, "config file")
    try:
        return tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise GolfError(f"not valid TOML: {exc}", path) from None


def parse_value(text: str) -> Any:
    """Parse one `--set` value as TOML (numbers, booleans, lists, quoted strings); bare words are strings."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_format_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def dumps_toml(tables: dict[str, dict[str, Any]]) -> str:
    """Write `{section: {key: scalar or list}}` as TOML; None values are left out."""
    lines: list[str] = []
    for section, table in tables.items():
        lines.append(f"[{section}]")
        for key, value in table.items():
            if value is not None:
                lines.append(f"{key} = {_format_value(value)}")
        lines.append("")
    return "\n".join(lines)
