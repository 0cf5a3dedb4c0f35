"""The ``harmonybridge`` parser: the flags every command shares; each command module adds its own
subparser (``add_parser``), so a command's flags live next to its code."""

from __future__ import annotations

import argparse

from . import _check, _convert, _demo, _doctor, _run

#: the commands, in the order ``harmonybridge --help`` lists them
COMMANDS = (_run, _demo, _convert, _check, _doctor)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harmonybridge", description="Harmony in Python and R on the same cells.")
    parser.add_argument("-q", "--quiet", action="store_true", help="only errors on stderr")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser
