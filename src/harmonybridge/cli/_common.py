"""What two or more commands share: the Harmony parameter flags, ``--make-unique``, reading the cells."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from harmonybridge.harmony.params import HELP, HarmonyParams, cli_flag

logger = logging.getLogger("harmonybridge")


def add_params(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("Harmony parameters (the same for both engines)")
    defaults = HarmonyParams()
    for name in HarmonyParams.names():
        flag = cli_flag(name)
        kind, per_covariate = HarmonyParams.kind(name)
        nargs = "+" if per_covariate else None
        default = getattr(defaults, name)
        text = HELP[name]  # a default of None (resolved per run) is explained in the text itself
        if "(default" not in text:
            text = f"{text} (default {default})"
        g.add_argument(flag, dest=name, type=kind, nargs=nargs, default=default, help=text)


def add_make_unique(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--make-unique",
        action="store_true",
        help="suffix repeated cell names -1, -2, ... (as anndata's obs_names_make_unique); without it they are refused",
    )


def params_from(args: argparse.Namespace) -> dict:
    out = {}
    for name in HarmonyParams.names():
        value = getattr(args, name)
        if isinstance(value, list):
            value = value[0] if len(value) == 1 else tuple(value)
        out[name] = value
    return out


def read_cells(src: str | Path, args: argparse.Namespace, **rds: object):
    """Read the input; repeated cell names made unique (--make-unique) or refused before any work (the one
    rule on every command). ``rds``: read_rds's arguments (an .rds input), and its log is returned too."""
    from harmonybridge import convert

    return convert.read_cells(src, make_unique=args.make_unique, **rds)
