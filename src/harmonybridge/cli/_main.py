"""``harmonybridge``'s entry point: parse, set up logging and warnings, run the command; an error is one
line on stderr and exit code 2."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Sequence

from harmonybridge._core.warnings import HarmonyBridgeWarning, once_per_cause

from ._console import error_text, one_line_warnings
from ._parser import build_parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s", stream=sys.stderr)
    os.environ.setdefault("MPLBACKEND", "Agg")
    from harmonybridge._core.checks import Voice, speaking

    with warnings.catch_warnings():
        warnings.showwarning = one_line_warnings(warnings.showwarning)
        warnings.simplefilter(
            "default", HarmonyBridgeWarning
        )  # shown (once per place), never an error, at the command line
        try:  # each warning once per command, however many engine runs share its cause
            with once_per_cause(), speaking(Voice("cli", source=str(getattr(args, "input", None) or "the input"))):
                return args.func(args)
        except (KeyError, ValueError, TypeError, OSError, ImportError, RuntimeError) as err:
            print(f"harmonybridge: error: {error_text(err)}", file=sys.stderr)
            return 2
