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
        return f"{err.strerror.lower()}:{where}" if where else err.strerror.lower()
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
