"""Size accounting against the challenge cap: artifact bytes + code bytes ≤ 16,000,000 (decimal).

Without explicit code files the code bytes are those a submission ships: the one script `golf
bundle` writes from the golfcli source needed to load and evaluate an artifact. With `source`,
they are that source's files as they are: the modules reachable by `import` statements (at any depth,
including imports inside functions) from the loading roots below, plus every package
`__init__.py` on the way, plus every module of the model and eval packages. Third-party
libraries (torch, numpy, brotli, ...) are not counted, as in the challenge.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from golfcli.artifact.reader import parse_container
from golfcli.config.artifact import SIZE_LIMIT
from golfcli.errors import FormatError, GolfError
from golfcli.io import read_bytes, require_file

PACKAGE = "golfcli"
PACKAGE_DIR = Path(__file__).resolve().parents[1]
# Modules a submission runs to turn an artifact into a scored model; packages count whole.
# `golfcli.scoring` is the entry (validation shards, tokenizer byte tables, eval, its command line).
LOADING_ROOTS = ("golfcli.scoring", "golfcli.artifact.reader", "golfcli.loading", "golfcli.model", "golfcli.eval",
                 "golfcli.metric")


def _module_path(name: str) -> Path | None:
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    base = PACKAGE_DIR.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def module_name(path: Path) -> tuple[str, bool]:
    """(dotted module name, is a package) of a golfcli source file."""
    parts = path.relative_to(PACKAGE_DIR).with_suffix("").parts
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    return ".".join((PACKAGE, *parts)), is_package


def _is_package(name: str) -> bool:
    parts = name.split(".")
    return parts[0] == PACKAGE and PACKAGE_DIR.joinpath(*parts[1:]).is_dir()


def _imports(path: Path, module: str) -> set[str]:
    """golfcli modules `path` imports (anywhere in the file), as absolute names."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_pkg = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_pkg else 0)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.add(target)
            out.update(f"{target}.{alias.name}" for alias in node.names)  # `from pkg import submodule`
    return {name for name in out if name.split(".")[0] == PACKAGE}


def code_files_for_loading(roots: tuple[str, ...] = LOADING_ROOTS) -> list[Path]:
    """The golfcli source files needed to load and evaluate an artifact (sorted)."""
    seen: set[str] = set()
    files: set[Path] = set()
    queue = list(roots)
    while queue:
        name = queue.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        for i in range(1, len(parts)):  # parent packages run their __init__ first
            queue.append(".".join(parts[:i]))
        if _is_package(name):
            pkg_dir = PACKAGE_DIR.joinpath(*parts[1:])
            if name in roots:  # a root package counts whole
                queue.extend(module_name(f)[0] for f in sorted(pkg_dir.rglob("*.py")))
        path = _module_path(name)
        if path is None:
            continue
        files.add(path)
        queue.extend(_imports(path, name))
    return sorted(files)


def verify_size(artifact: str | Path, code_files: list[str | Path] | None = None,
                limit: int = SIZE_LIMIT, source: bool = False) -> dict[str, Any]:
    """Model bytes + code bytes against `limit`; checks the artifact's magic, version and checksum.

    Code bytes are those of `code_files`; without them, of the `golf bundle` script that holds the
    golfcli source needed to load and evaluate (`source`: of those source files as they are). Returns
    model_bytes, code_bytes, total_bytes, limit, fits, headroom_bytes (negative when over), the
    code files counted with their sizes, and the artifact's section sizes.
    """
    if limit <= 0:
        raise GolfError(f"size limit must be positive, got {limit}")
    data = read_bytes(artifact, "artifact")
    try:
        sections = parse_container(data)
    except FormatError as exc:
        raise FormatError(exc.args[0], artifact) from None
    if code_files and source:
        raise GolfError("give --code files or --source, not both")
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
