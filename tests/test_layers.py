"""The layering rules of docs/ARCHITECTURE.md, checked on every module's imports."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "golfcli"
STAGES = ("train", "quant", "artifact", "eval")
COMPOSITION = ("cli", "pipeline", "stage_process", "bench", "loading", "scoring", "export", "__main__")


def _top(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "golfcli" and len(parts) > 1 else None


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _layer(top: str) -> str:
    if top in STAGES:
        return "stage"
    if top in COMPOSITION:
        return "composition"
    return "core"


def test_imports_only_run_downward():
    problems = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        own = rel.parts[0].removesuffix(".py")
        own_layer = _layer(own)
        for module in _imports(path):
            top = _top(module)
            if top is None or top == own or top in ("__init__",):
                continue
            target = _layer(top)
            if own_layer == "core" and target != "core":
                problems.append(f"{rel}: core imports {module}")
            if own_layer == "stage" and target != "core":
                problems.append(f"{rel}: stage {own} imports {module}")
    assert problems == []
