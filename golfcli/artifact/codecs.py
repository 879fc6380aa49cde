"""General-purpose codecs (brotli, zstd, lzma) and the byte-plane transform, with bounded decoding.

Settings are fixed so the same bytes always compress to the same bytes: brotli quality 11 with a
16 MiB window (lgwin 24), zstd level 22 single-threaded without a content-size or checksum field,
and lzma as a raw LZMA2 stream (preset 9 | extreme, lc=0 lp=0 pb=0 — the literal-context bits
suit text, not weights — so no xz container bytes are spent). Decoding never produces more than
the size the section declares: a decompression bomb stops at that bound.
"""

from __future__ import annotations

import lzma

import brotli
import numpy as np

from golfcli.artifact.format import BROTLI, CODEC_NAMES, LZMA, RAW, ZSTD
from golfcli.errors import FormatError

_LZMA_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME, "lc": 0, "lp": 0, "pb": 0}]


def _general_codecs() -> tuple[int, ...]:
    try:
        import zstandard  # noqa: F401
    except ImportError:  # an exported train_gpt.py runs without zstandard: its packer never tries zstd
        return BROTLI, LZMA
    return BROTLI, ZSTD, LZMA


GENERAL_CODECS = _general_codecs()


def compress(codec: int, data: bytes) -> bytes:
    """Compress `data` with one of the general codecs (or RAW: unchanged)."""
    if codec == RAW:
        return bytes(data)
    if codec == BROTLI:
        return brotli.compress(bytes(data), quality=11, lgwin=24)
    if codec == ZSTD:
        import zstandard

        cctx = zstandard.ZstdCompressor(level=22, write_content_size=False, write_checksum=False,
                                        write_dict_id=False)
        return cctx.compress(bytes(data))
    if codec == LZMA:
        return lzma.compress(bytes(data), format=lzma.FORMAT_RAW, filters=_LZMA_FILTERS)
    raise ValueError(f"not a general codec: {codec}")


def decompress(codec: int, data: bytes | memoryview, size: int, what: str) -> bytes:
    """Exactly `size` bytes from `data`; any codec error, shortfall or excess is a FormatError."""
    name = CODEC_NAMES.get(codec, str(codec))
    try:
        if codec == RAW:
            out = bytes(data)
        elif codec == BROTLI:
            dec = brotli.Decompressor()
            out = dec.process(bytes(data), output_buffer_limit=size + 1)
            if len(out) <= size and not dec.is_finished():
                raise FormatError(f"{what}: brotli stream is incomplete")
        elif codec == ZSTD:
            out = _zstd_decompress(data, size + 1)
        elif codec == LZMA:
            dec = lzma.LZMADecompressor(format=lzma.FORMAT_RAW, filters=_LZMA_FILTERS)
            out = dec.decompress(bytes(data), max_length=size + 1)
            if len(out) <= size and not dec.eof:
                raise FormatError(f"{what}: lzma stream is incomplete")
        else:
            raise FormatError(f"{what}: unknown codec id {codec}")
    except FormatError:
        raise
    except (brotli.error, lzma.LZMAError, ValueError, OSError) as exc:
        raise FormatError(f"{what}: {name} data is damaged ({exc})") from None
    if len(out) != size:
        raise FormatError(f"{what}: {name} data decodes to {'more' if len(out) > size else len(out)} bytes, "
                          f"declared {size}")
    return out


def _zstd_decompress(data: bytes | memoryview, limit: int) -> bytes:
    """At most `limit` bytes of a zstd frame; zstandard is imported only for a zstd section."""
    import zstandard

    try:
        with zstandard.ZstdDecompressor().stream_reader(bytes(data), read_across_frames=False) as reader:
            return reader.read(limit)
    except zstandard.ZstdError as exc:
        raise ValueError(str(exc)) from None


def _regroup(data: bytes, groups: list[tuple[int, int]], split: bool) -> bytes:
    """Each run of `groups` = [(nbytes, itemsize)] rewritten as its byte planes (split) or back."""
    out = []
    pos = 0
    buf = np.frombuffer(data, dtype=np.uint8)
    for nbytes, itemsize in groups:
        run = buf[pos:pos + nbytes]
        pos += nbytes
        if itemsize > 1:
            run = (run.reshape(-1, itemsize) if split else run.reshape(itemsize, -1)).T
        out.append(run.tobytes())
    return b"".join(out)


def to_planes(data: bytes, groups: list[tuple[int, int]]) -> bytes:
    """Byte-plane split: `groups` = [(nbytes, itemsize)] consecutive runs of `data`; each run of
    itemsize k is rewritten as its k planes (all first bytes of its elements, then all second...)."""
    return _regroup(data, groups, split=True)


def from_planes(data: bytes, groups: list[tuple[int, int]]) -> bytes:
    """Inverse of `to_planes` (the caller has checked that the group sizes add up to len(data))."""
    return _regroup(data, groups, split=False)
