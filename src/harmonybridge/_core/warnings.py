"""Warnings that point at the caller's code, and small version helpers."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import sys
import warnings
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

_PKG_DIR = str(Path(__file__).parents[1])  # the harmonybridge package


class HarmonyBridgeWarning(UserWarning):
    """Something about the input or the run that the caller should know about."""


class ConversionWarning(HarmonyBridgeWarning):
    """A conversion renamed or dropped something (the conversion log lists it)."""


_SAID: contextvars.ContextVar[set[str] | None] = contextvars.ContextVar("harmonybridge_said", default=None)


@contextlib.contextmanager
def once_per_cause() -> Iterator[None]:
    """Within the block, each warning text is given once (a check of every engine run, every seed,
    would otherwise repeat the same cause); nested blocks share the outermost one's memory."""
    if _SAID.get() is not None:
        yield
        return
    token = _SAID.set(set())
    try:
        yield
    finally:
        _SAID.reset(token)


def said_once(fn):
    """Decorator: ``fn`` runs inside :func:`once_per_cause`."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with once_per_cause():
            return fn(*args, **kwargs)

    return wrapper


def warn(message: str, category: type[Warning] = HarmonyBridgeWarning) -> None:
    """Warn, attributing the warning to the first frame outside harmonybridge (once per text inside
    :func:`once_per_cause`)."""
    said = _SAID.get()
    if said is not None:
        if message in said:
            return
        said.add(message)
    frame = sys._getframe(1)
    level = 2  # 1 would name the line in this function, 2 its caller
    while frame is not None and frame.f_code.co_filename.startswith(_PKG_DIR):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)


def pkg_version(name: str) -> str | None:
    """Installed version of a distribution, or None."""
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def version_tuple(text: str) -> tuple[int, ...]:
    """'2.1.0rc1' -> (2, 1, 0); enough for >= comparisons of release numbers."""
    out = []
    for part in text.split(".")[:3]:
        digits = ""
        for ch in part:
            if not ch.isdigit():
                break
            digits += ch
        out.append(int(digits or 0))
    return tuple(out)
