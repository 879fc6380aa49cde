"""PackConfig: the artifact codec and the size cap."""

from __future__ import annotations

from dataclasses import dataclass

from golfcli.config.base import require

SIZE_LIMIT = 16_000_000
PACK_CODECS = ("auto", "rans", "rans-classes", "brotli", "zstd", "lzma", "raw")


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

    def validate(self) -> "PackConfig":
        """Raise a SettingError (naming the [pack] key) for an unknown codec or a negative size; return self."""
        require(self.codec in PACK_CODECS, "pack.codec", f"must be one of {', '.join(PACK_CODECS)}, got {self.codec!r}")
        require(self.sample_bytes >= 0, "pack.sample_bytes", f"must be ≥ 0, got {self.sample_bytes}")
        require(self.limit >= 1, "pack.limit", f"must be at least 1, got {self.limit}")
        return self
