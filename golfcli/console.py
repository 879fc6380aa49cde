"""Terminal output shared by every stage: rich progress on stderr, plain lines otherwise.

On a terminal, progress is a live rich bar. When stderr is a file or a pipe (a log, `golf run`
reading a stage), the same progress is one plain line every PLAIN_EVERY_S seconds (and at the
end): what, how far, the rate and the time left. Without rich (an exported train_gpt.py, which
needs torch, numpy, sentencepiece and brotli only) status lines go to stderr as plain text with
their markup removed.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import time
from typing import Iterator

try:
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)
except ImportError:
    Console = None

_state = {"quiet": False}
PLAIN_EVERY_S = 30.0  # seconds between plain progress lines
_MARKUP = re.compile(r"\[/?[a-z][a-z ]*\]")

stderr = Console(stderr=True, highlight=False) if Console is not None else None


def set_quiet(quiet: bool) -> None:
    """Turn progress bars and chatter off (e.g. for `--json`)."""
    _state["quiet"] = quiet


def interactive() -> bool:
    """True when progress bars should be drawn: stderr is a terminal and not in quiet mode.

    `GOLF_PROGRESS=1` keeps bars on under `--json` (used by `golf run`, which reads each stage's
    JSON from stdout while the stage's bar still reaches the user's terminal).
    """
    if stderr is None or not sys.stderr.isatty():
        return False
    return not _state["quiet"] or os.environ.get("GOLF_PROGRESS") == "1"


def plain() -> bool:
    """True when progress goes out as plain lines: stderr is not a terminal, and not in quiet mode
    (or `GOLF_PROGRESS=1`, set by `golf run` for the stages it reads)."""
    if sys.stderr.isatty():
        return False
    return not _state["quiet"] or os.environ.get("GOLF_PROGRESS") == "1"


def info(message: str) -> None:
    """A status line on stderr (suppressed in quiet mode)."""
    if _state["quiet"]:
        return
    if stderr is None:
        print(_MARKUP.sub("", message), file=sys.stderr, flush=True)
    else:
        stderr.print(message, soft_wrap=True)


def passthrough(text: str) -> None:
    """Copy another process's stderr text to ours verbatim (suppressed in quiet mode)."""
    if not _state["quiet"] and text:
        sys.stderr.write(text if text.endswith("\n") else text + "\n")
        sys.stderr.flush()


class _NullBar:
    def advance(self, n: float = 1) -> None:
        pass

    def update(self, **fields: object) -> None:
        pass


class _Bar:
    def __init__(self, progress: Progress, task: int):
        self._progress, self._task = progress, task

    def advance(self, n: float = 1) -> None:
        self._progress.advance(self._task, n)

    def update(self, **fields: object) -> None:
        self._progress.update(self._task, **fields)


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else \
        f"{seconds // 60}:{seconds % 60:02d}"


class PlainBar:
    """Progress as plain stderr lines: at the first update, then at most every `every` seconds, and at the
    end; each says what, how far, the time so far and the time left."""

    def __init__(self, total: float | None, description: str, every: float | None = None,
                 clock=time.monotonic):
        self.total, self.description, self.done = total, description, 0.0
        self.every = PLAIN_EVERY_S if every is None else every
        self._clock = clock
        self.start = clock()
        self._last: float | None = None  # the first update prints at once: the work has started
        self._shown: tuple[float, str] | None = None  # (done, description) of the last line

    def advance(self, n: float = 1) -> None:
        self.done += n
        self._maybe_print()

    def update(self, **fields: object) -> None:
        if "description" in fields:
            self.description = str(fields["description"])
        if "completed" in fields:
            self.done = float(fields["completed"])  # type: ignore[arg-type]
            self._maybe_print()

    def line(self) -> str:
        """The progress line as it reads now."""
        elapsed = self._clock() - self.start
        parts = [self.description]
        if self.total:
            parts.append(f"{self.done:,.0f}/{self.total:,.0f} ({100 * self.done / self.total:.0f}%)")
        parts.append(f"{_clock(elapsed)} elapsed")
        if self.total and self.done > 0 and elapsed > 0:
            parts.append(f"eta {_clock(max(self.total - self.done, 0) * elapsed / self.done)}")
        return ", ".join(parts)

    def _maybe_print(self, force: bool = False) -> None:
        now = self._clock()
        if force or self._last is None or now - self._last >= self.every:
            self._last, self._shown = now, (self.done, self.description)
            sys.stderr.write(self.line() + "\n")
            sys.stderr.flush()

    def finish(self) -> None:
        """The last line, unless the one printed last already says the same."""
        if self._shown != (self.done, self.description):
            self._maybe_print(force=True)


@contextlib.contextmanager
def progress(total: float | None, description: str) -> Iterator[_Bar | _NullBar | PlainBar]:
    """A rich progress bar with ETA on stderr; plain lines when stderr is not a terminal; else a no-op."""
    if not interactive() or stderr is None:
        if not (plain() or (stderr is None and not _state["quiet"])):  # without rich: plain lines
            yield _NullBar()
            return
        bar = PlainBar(total, description)
        yield bar
        bar.finish()
        return
    columns = [
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
    ]
    with Progress(*columns, console=stderr, transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield _Bar(bar, task)
