"""The ``harmonybridge`` command: ``main`` (the entry point ``harmonybridge.cli:main``, and
``python -m harmonybridge.cli``) and ``build_parser``; one private module per command."""

from ._main import main
from ._parser import build_parser

__all__ = ["build_parser", "main"]
