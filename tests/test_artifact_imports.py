"""The artifact package's modules import each other without cycles; the import graph of the loading
code is its own module (`artifact/imports.py`), size accounting another."""

from __future__ import annotations

from golfcli.artifact.imports import PACKAGE_DIR, _imports, code_files_for_loading, module_name


def _artifact_graph() -> dict[str, set[str]]:
    graph = {}
    for path in sorted((PACKAGE_DIR / "artifact").glob("*.py")):
        name, _ = module_name(path)
        graph[name] = {m for m in _imports(path, name) if m.startswith("golfcli.artifact.") and m != name}
    return graph


def test_artifact_modules_import_no_cycle():
    graph = _artifact_graph()
    assert "golfcli.artifact.size" not in graph["golfcli.artifact.bundle"]
    assert "golfcli.artifact.imports" in graph["golfcli.artifact.bundle"]
    state: dict[str, int] = {}

    def visit(node: str, path: tuple[str, ...]) -> None:
        if state.get(node) == 2:
            return
        assert state.get(node) != 1, " -> ".join(path + (node,))
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            visit(nxt, path + (node,))
        state[node] = 2

    for node in graph:
        visit(node, ())


def test_the_loading_code_holds_neither_the_graph_nor_the_accounting():
    names = {module_name(p)[0] for p in code_files_for_loading()}
    assert "golfcli.artifact.reader" in names and "golfcli.model.build" in names
    assert not names & {"golfcli.artifact.imports", "golfcli.artifact.size", "golfcli.artifact.bundle"}
