"""The one error type the command line turns into a clean one-line message."""

from __future__ import annotations


class GolfError(Exception):
    """A user-facing failure: bad input, a damaged file, an impossible request.

    The message names the file (when there is one) and the problem; the CLI prints it on one
    line and exits with `exit_code`, never with a traceback.
    """

    exit_code = 2

    def __init__(self, message: str, path: object | None = None):
        self.path = None if path is None else str(path)
        super().__init__(f"{self.path}: {message}" if self.path else message)


class FormatError(GolfError):
    """A file that is not what it claims to be (wrong magic, truncated, corrupted)."""
