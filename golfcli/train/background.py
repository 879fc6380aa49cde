"""One file write at a time on a background thread, so training goes on while a checkpoint is written."""

from __future__ import annotations

import threading
from typing import Callable


class BackgroundWriter:
    """Runs submitted writes one after another off the main thread; errors surface on the next call."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def _run(self, job: Callable[[], None]) -> None:
        try:
            job()
        except BaseException as exc:  # re-raised by wait() on the main thread
            self._error = exc

    def submit(self, job: Callable[[], None]) -> None:
        """Start `job` once the previous one has finished."""
        self.wait()
        self._thread = threading.Thread(target=self._run, args=(job,), name="golf-checkpoint", daemon=False)
        self._thread.start()

    def wait(self) -> None:
        """Block until the write in flight (if any) is done; raise its error, if it had one."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error
