"""PackConfig: the artifact codec and the size cap."""

from __future__ import annotations

from dataclasses import dataclass

SIZE_LIMIT = 16_000_000


@dataclass
class PackConfig:
    """Packing: codec choice and the decimal size cap."""

    codec: str = "auto"
    limit: int = SIZE_LIMIT
