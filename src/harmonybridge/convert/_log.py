"""The conversion log: every rename, drop, cast, move or restore of one conversion."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harmonybridge._core.warnings import ConversionWarning, warn


@dataclass(frozen=True)
class LogEntry:
    """One change: ``action`` is renamed, dropped, cast, joined, moved or restored."""

    action: str
    where: str
    old: str
    new: str = ""
    reason: str = ""

    def __str__(self) -> str:
        arrow = f" -> {self.new}" if self.new else ""
        why = f" ({self.reason})" if self.reason else ""
        return f"{self.action:<8} {self.where}: {self.old}{arrow}{why}"


_LOSSY = {"renamed", "dropped", "cast", "joined"}


@dataclass
class ConversionLog:
    """Everything a conversion renamed, dropped, cast, moved or restored.

    ``entries`` lists :class:`LogEntry` items; ``str(log)`` prints one line each.
    ``changed`` is True when something was renamed, dropped, cast or joined (then a
    :class:`~harmonybridge.ConversionWarning` was emitted too).
    """

    direction: str
    entries: list[LogEntry] = field(default_factory=list)

    def add(self, action: str, where: str, old: Any, new: Any = "", reason: str = "") -> None:
        self.entries.append(LogEntry(action, where, str(old), str(new), reason))

    @property
    def changed(self) -> bool:
        return any(e.action in _LOSSY for e in self.entries)

    def of(self, action: str) -> list[LogEntry]:
        return [e for e in self.entries if e.action == action]

    def __str__(self) -> str:
        if not self.entries:
            return f"{self.direction}: nothing renamed or dropped"
        return "\n".join([f"{self.direction}: {len(self.entries)} change(s)", *(f"  {e}" for e in self.entries)])

    def warn_if_lossy(self) -> None:
        lossy = [e for e in self.entries if e.action in _LOSSY]
        if lossy:
            shown = "; ".join(str(e) for e in lossy[:5])
            more = f"; and {len(lossy) - 5} more" if len(lossy) > 5 else ""
            warn(
                f"{self.direction}: {len(lossy)} item(s) renamed, dropped or cast: {shown}{more} "
                "(return_log=True gives the full log)",
                ConversionWarning,
            )
