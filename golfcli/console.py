"""Terminal output shared by every stage: rich progress on stderr, plain lines otherwise.

Without rich (an exported train_gpt.py, which needs torch, numpy, sentencepiece and brotli only)
status lines go to stderr as plain text with their markup removed, and there are no bars.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from typing import Iterator

try:
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)
except ImportError:
    Console = None

_state = {"quiet": False}
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


@contextlib.contextmanager
def progress(total: float | None, description: str) -> Iterator[_Bar | _NullBar]:
    """A rich progress bar with ETA on stderr; a no-op when not interactive."""
    if not interactive():
        yield _NullBar()
        return
    columns = [
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
    ]
    with Progress(*columns, console=stderr, transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield _Bar(bar, task)
