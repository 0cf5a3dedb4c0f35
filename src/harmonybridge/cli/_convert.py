"""``harmonybridge convert``: AnnData <-> Seurat, .h5ad -> .rds or .rds -> .h5ad, with the conversion log."""

from __future__ import annotations

import argparse
import warnings

from harmonybridge._core.warnings import ConversionWarning

from ._common import add_make_unique, read_cells


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "convert", help="AnnData <-> Seurat: .h5ad -> .rds or .rds -> .h5ad; prints what was renamed or dropped"
    )
    p.add_argument("input", help="input .h5ad, or .rds (a Seurat object) or .RData/.rda holding exactly one")
    p.add_argument(
        "output", help="output .rds or .h5ad (the other kind), written atomically, its folder created if missing"
    )
    p.add_argument(
        "--assay", default=None, help="assay name written to the .rds (default: the one the cells came from, else RNA)"
    )
    p.add_argument("--assay-in", default=None, help="assay read from the .rds (default: its default assay)")
    p.add_argument(
        "--assay-version",
        choices=["v4", "v5"],
        default=None,
        help="Seurat assay class written: v5 (Assay5) or v4 (Assay); default v5 with SeuratObject >= 5",
    )
    p.add_argument(
        "--raw",
        choices=["assay", "drop"],
        default="assay",
        help="adata.raw as a second assay <assay>_raw (default) or dropped",
    )
    add_make_unique(p)
    p.set_defaults(func=cmd_convert)


def cmd_convert(args: argparse.Namespace) -> int:
    from harmonybridge import convert
    from harmonybridge._core import files as _io

    src = _io.check_input(args.input)
    out = _io.check_output(args.output)
    kinds = (src.suffix.lower(), out.suffix.lower())
    if kinds[0] in (".rdata", ".rda"):
        kinds = (".rds", kinds[1])
    warnings.simplefilter("ignore", ConversionWarning)  # the full log is printed below; its summary would repeat it
    if kinds == (".h5ad", ".rds"):
        adata = read_cells(src, args)
        _, log = convert.write_rds(
            adata, out, assay=args.assay, assay_version=args.assay_version, raw=args.raw, return_log=True
        )
    elif kinds == (".rds", ".h5ad"):
        adata, log = read_cells(src, args, assay=args.assay_in)
        _io.write_h5ad(adata, out)
    else:
        msg = f"convert goes .h5ad -> .rds or .rds (.RData) -> .h5ad, not {src.suffix} -> {out.suffix}"
        raise ValueError(msg)
    print(log)
    print(f"wrote {out}")
    return 0
