"""The artifact: golf's own compressed container for a quantized model (docs/ARTIFACT.md).

Reading is what an evaluator needs and is imported eagerly; packing and size accounting load on
first use, so the source a submission must ship to *load* an artifact (counted by
`golf verify-size`) stays small.

    is_artifact(path) -> bool                    magic check
    read_artifact(path) -> QuantizedModel        bit-exact, FormatError on any damage
    write_artifact(qm, path, codec="auto") -> PackReport
    verify_size(artifact, code_files=None, limit=None, source=False, ...) -> dict
    write_bundle(out) -> dict                    the loading code as one self-extracting script
    estimate_packed_bytes(codes) -> float        what the rANS codec spends on one tensor
"""

from __future__ import annotations

from importlib import import_module

from golfcli.artifact.reader import is_artifact, read_artifact

# Write-side names, imported when first used (not needed to load an artifact).
_LAZY = {
    "write_artifact": "golfcli.artifact.pack",
    "pack_bytes": "golfcli.artifact.pack",
    "PackReport": "golfcli.artifact.pack",
    "verify_size": "golfcli.artifact.size",
    "code_files_for_loading": "golfcli.artifact.imports",
    "build_bundle": "golfcli.artifact.bundle",
    "write_bundle": "golfcli.artifact.bundle",
    "source_digest": "golfcli.artifact.bundle",
    "estimate_packed_bytes": "golfcli.artifact.codes",
}

__all__ = ["is_artifact", "read_artifact", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'golfcli.artifact' has no attribute {name!r}")
