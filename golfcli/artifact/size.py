"""Size accounting against the challenge cap: artifact bytes + code bytes ≤ 16,000,000 (decimal).

Without explicit code files the code bytes are those a submission ships: the one script `golf
bundle` writes from the golfcli source needed to load and evaluate an artifact (`imports.py`
finds that source). With `source`, they are that source's files as they are. The cap is
`pack.limit`, resolved by the one precedence rule over the [pack] table the artifact stores.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from golfcli.artifact.imports import PACKAGE_DIR, code_files_for_loading
from golfcli.artifact.reader import parse_container, read_manifest
from golfcli.config import GolfConfig
from golfcli.config.artifact import PackConfig
from golfcli.config.base import section_from_dict
from golfcli.config.resolve import resolve_settings
from golfcli.errors import FormatError, GolfError
from golfcli.io import read_bytes, require_file


def verify_size(artifact: str | Path, code_files: list[str | Path] | None = None, limit: int | None = None,
                source: bool = False, *, preset: str | None = None, config_file: str | Path | None = None,
                overrides: tuple[str, ...] = ()) -> dict[str, Any]:
    """Model bytes + code bytes against the cap; checks the artifact's magic, version and checksum.

    The cap: `limit` > `overrides` (`--set pack.limit=N`) > `config_file`/`preset` > the artifact's
    stored [pack] > 16,000,000. Code bytes are those of `code_files`; without them, of the `golf
    bundle` script that holds the golfcli source needed to load and evaluate (`source`: of those
    source files as they are). Returns model_bytes, code_bytes, total_bytes, limit, fits,
    headroom_bytes (negative when over), the code files counted with their sizes, and the
    artifact's section sizes.
    """
    if code_files and source:
        raise GolfError("give --code files or --source, not both")
    data = read_bytes(artifact, "artifact")
    try:
        sections = parse_container(data)
        stored = read_manifest(sections).config.get("pack")
    except FormatError as exc:
        raise FormatError(exc.args[0], artifact) from None
    stored = GolfConfig(pack=section_from_dict(PackConfig, stored, "pack.")) if isinstance(stored, dict) else None
    limit = resolve_settings(stored, preset, config_file, overrides, {"pack": {"limit": limit}},
                             reads=("pack",)).config.pack.limit
    if code_files:
        paths = [require_file(p, "code file") for p in code_files]
        counted = "the --code files"
        files = [{"path": _display(p), "bytes": p.stat().st_size} for p in paths]
    elif source:
        counted = ("the raw golfcli source files a submission needs to load and evaluate (not what it ships: "
                   "without --source the count is the `golf bundle` script)")
        files = [{"path": _display(p), "bytes": p.stat().st_size} for p in code_files_for_loading()]
    else:
        from golfcli.artifact.bundle import build_bundle

        script, report = build_bundle()
        counted = (f"the `golf bundle` script a submission ships ({report['modules']} golfcli modules needed to "
                   f"load and evaluate, minified, xz + base85); --source counts the raw files instead")
        files = [{"path": "<golf bundle>", "bytes": len(script)}]
    code_bytes = sum(f["bytes"] for f in files)
    total = len(data) + code_bytes
    return {
        "artifact": str(artifact),
        "model_bytes": len(data),
        "code_bytes": code_bytes,
        "total_bytes": total,
        "limit": limit,
        "fits": total <= limit,
        "headroom_bytes": limit - total,
        "code_source": counted,
        "code_files": files,
        "sections": [{"section": s.name, "bytes": len(s.payload)} for s in sections],
    }


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(PACKAGE_DIR.parent))
    except ValueError:
        return str(path)
