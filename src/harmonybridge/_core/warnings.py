"""Warnings that point at the caller's code, and small version helpers."""

from __future__ import annotations

import sys
import warnings
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

_PKG_DIR = str(Path(__file__).parents[1])  # the harmonybridge package


class HarmonyBridgeWarning(UserWarning):
    """Something about the input or the run that the caller should know about."""


class ConversionWarning(HarmonyBridgeWarning):
    """A conversion renamed or dropped something (the conversion log lists it)."""


def warn(message: str, category: type[Warning] = HarmonyBridgeWarning) -> None:
    """Warn, attributing the warning to the first frame outside harmonybridge."""
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
