"""The cross-check: Harmony engines x seeds on the same cells, every pair compared, one verdict."""

from ._runs import CrossCheckReport, cross_check

__all__ = ["CrossCheckReport", "cross_check"]
