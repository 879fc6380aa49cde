"""PackConfig: the artifact codec and the size cap."""

from __future__ import annotations

from dataclasses import dataclass

SIZE_LIMIT = 16_000_000


@dataclass
class PackConfig:
    """Packing (`golf pack`, `golf verify-size`).

    codec: "auto" (per section, the smallest of rANS / classed rANS / brotli / zstd / lzma / raw),
    or force one: "rans" (order-0 rANS codes, other sections auto), "rans-classes" (rANS with a
    table per class of rows or columns, other sections auto), "brotli", "zstd", "lzma", "raw".
    sample_bytes: with auto, general codecs are first tried on this many sampled bytes of the codes
    and run in full only when the sample beats rANS (0 = run every codec in full; slow).
    limit: the decimal size cap for model bytes + code bytes.
    """

    codec: str = "auto"
    sample_bytes: int = 1 << 20
    limit: int = SIZE_LIMIT
