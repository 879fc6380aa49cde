"""Reading documents from text inputs: .txt or .jsonl, optionally .gz or .zst compressed.

A `.jsonl` line is one JSON object whose `text` field (a string) is the document, used exactly as
written (no strip, no normalisation: that is how the challenge encodes). Blank lines are skipped.
A `.txt` file is split into documents by `txt_docs`: "paragraph" (blank-line separated, the
default), "line" (each non-blank line) or "file" (the whole file is one document).
"""

from __future__ import annotations

import gzip
import io
import json
import os
from pathlib import Path
from typing import IO, Iterator

from golfcli.errors import GolfError
from golfcli.io import require_file

TXT_MODES = ("paragraph", "line", "file")
COMPRESSIONS = (".gz", ".zst")


def input_kind(path: str | os.PathLike) -> tuple[str, str | None]:
    """("jsonl" or "txt", compression or None) from the file name; a GolfError for anything else."""
    name = Path(path).name.lower()
    compression = next((c for c in COMPRESSIONS if name.endswith(c)), None)
    if compression:
        name = name[: -len(compression)]
    if name.endswith(".jsonl") or name.endswith(".json"):
        return "jsonl", compression
    if name.endswith(".txt") or name.endswith(".text") or name.endswith(".md"):
        return "txt", compression
    raise GolfError("unsupported input: expected .txt or .jsonl, optionally with .gz or .zst", path)


class DocumentFile:
    """Iterate the documents of one input file; `consumed` counts the (compressed) bytes read so far."""

    def __init__(self, path: str | os.PathLike, txt_docs: str = "paragraph"):
        if txt_docs not in TXT_MODES:
            raise GolfError(f"unknown --txt-docs {txt_docs!r} (expected one of {', '.join(TXT_MODES)})")
        self.kind, self.compression = input_kind(path)
        self.path = require_file(path, "input")
        self.txt_docs = txt_docs
        self.size = self.path.stat().st_size
        self._raw: IO[bytes] | None = None

    @property
    def consumed(self) -> int:
        try:
            return self._raw.tell() if self._raw is not None and not self._raw.closed else self.size
        except (OSError, ValueError):
            return 0

    def _open_text(self) -> IO[str]:
        self._raw = open(self.path, "rb")
        stream: IO[bytes] = self._raw
        if self.compression == ".gz":
            stream = gzip.GzipFile(fileobj=self._raw, mode="rb")
        elif self.compression == ".zst":
            import zstandard

            stream = zstandard.ZstdDecompressor().stream_reader(self._raw)
        return io.TextIOWrapper(stream, encoding="utf-8-sig", errors="strict", newline="")  # a leading BOM is dropped

    def __iter__(self) -> Iterator[str]:
        line_no = 0
        try:
            with self._open_text() as handle:
                if self.kind == "jsonl":
                    for line_no, line in enumerate(handle, 1):
                        if line.strip():
                            yield self._json_text(line, line_no)
                elif self.txt_docs == "file":
                    yield handle.read()
                elif self.txt_docs == "line":
                    for line_no, line in enumerate(handle, 1):
                        if line.strip():
                            yield line.rstrip("\r\n")
                else:
                    yield from self._paragraphs(handle)
        except UnicodeDecodeError as exc:
            raise GolfError(f"not UTF-8 text near line {line_no + 1} ({exc.reason})", self.path) from None
        except (EOFError, gzip.BadGzipFile) as exc:
            raise GolfError(f"damaged gzip stream ({exc})", self.path) from None
        except OSError as exc:
            raise GolfError(f"cannot read input ({exc})", self.path) from None
        except Exception as exc:  # zstandard.ZstdError and friends
            if type(exc).__module__.startswith("zstandard"):
                raise GolfError(f"damaged zstd stream ({exc})", self.path) from None
            raise

    def _json_text(self, line: str, line_no: int) -> str:
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise GolfError(f"line {line_no}: not JSON ({exc.msg})", self.path) from None
        if not isinstance(record, dict) or "text" not in record:
            raise GolfError(f"line {line_no}: no \"text\" field", self.path)
        text = record["text"]
        if not isinstance(text, str):
            raise GolfError(f"line {line_no}: \"text\" is a {type(text).__name__}, not a string", self.path)
        return text

    @staticmethod
    def _paragraphs(handle: IO[str]) -> Iterator[str]:
        lines: list[str] = []
        for line in handle:
            if line.strip():
                lines.append(line)
            elif lines:
                yield "".join(lines).rstrip("\r\n")
                lines = []
        if lines:
            yield "".join(lines).rstrip("\r\n")
