"""What the ``harmonybridge`` command prints for an error or a warning: one line each."""

from __future__ import annotations

import re
import sys

from harmonybridge._core.warnings import HarmonyBridgeWarning


def error_text(err: BaseException) -> str:
    """One line for the user: a KeyError's message without quotes, an OSError without its ``[Errno N]``."""
    if isinstance(err, KeyError) and err.args:
        return str(err.args[0])
    if isinstance(err, OSError) and err.strerror:
        where = f" {str(err.filename)!r}" if err.filename is not None else ""
        where += f" -> {str(err.filename2)!r}" if err.filename2 is not None else ""
        text = err.strerror[:1].lower() + err.strerror[1:]  # R's and our own messages keep their paths' case
        return f"{text}:{where}" if where else text
    return re.sub(r"^\[Errno \d+\] ", "", str(err))


def one_line_warnings(previous):
    """A ``warnings.showwarning`` that prints harmonybridge's own warnings as one line each on stderr
    (no source line from inside the package); other warnings go to ``previous``."""

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        if issubclass(category, HarmonyBridgeWarning):
            print(f"harmonybridge: warning: {message}", file=sys.stderr)
        else:
            previous(message, category, filename, lineno, file, line)

    return show
