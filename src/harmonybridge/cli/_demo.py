"""``harmonybridge demo``: the whole workflow on real counts, with figures (``workflow.run_demo``)."""

from __future__ import annotations

import argparse

from harmonybridge.harmony.engines import BACKENDS

from ._common import add_make_unique


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="the whole workflow on real counts, with figures (default: 1,200 PBMCs from three 10x chemistries)"
    )
    p.add_argument("--out", default="out/demo", help="output folder, created if missing (default out/demo)")
    p.add_argument("--input", help="raw counts (.h5ad, .rds or .RData) instead of the shipped PBMCs")
    p.add_argument("--batch", help="batch column of --input")
    p.add_argument(
        "--label", help="cell-type column, for the cell-type LISI and figures (default cell_type on the shipped data)"
    )
    p.add_argument(
        "--markers",
        nargs="+",
        metavar="GENE",
        help="your marker genes for the UMAP panels and a dot plot (default: the top Wilcoxon marker of each cluster)",
    )
    p.add_argument(
        "--no-scale",
        action="store_true",
        help="PCA on log-normalized HVGs without scaling them (default: scaled to unit variance, clipped at 10, "
        "as scanpy's and Seurat's standard pipelines do)",
    )
    p.add_argument(
        "--min-genes",
        type=int,
        default=None,
        help="QC: cells need this many genes (default 200; 50 on the shipped data, which keeps 1,767 genes)",
    )
    p.add_argument("--rds", action="store_true", help="also write the result as a Seurat .rds")
    p.add_argument("--backend", choices=list(BACKENDS), default="python")
    add_make_unique(p)
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from harmonybridge import workflow
    from harmonybridge._core import files as _io

    # everything about the input is checked before the output folder is created (by the first write)
    if args.input:
        if not args.batch:
            msg = "--input needs --batch KEY (the obs column that names the batch)"
            raise ValueError(msg)
        _io.check_input(args.input)
    elif args.batch:
        msg = (
            f"--batch describes --input; the shipped data's batch is {workflow.DEMO_BATCH!r} "
            "(give --input COUNTS to use your own)"
        )
        raise ValueError(msg)
    outdir = _io.check_folder(args.out)
    markers = [g.strip() for item in args.markers or [] for g in item.split(",") if g.strip()] or None
    run = workflow.run_demo(
        outdir,
        counts=args.input,
        batch=args.batch,
        label=args.label,
        markers=markers,
        scale=not args.no_scale,
        min_genes=args.min_genes,
        backend=args.backend,
        rds=args.rds,
        make_unique=args.make_unique,
    )
    print("\n".join(run.lines()))
    return 0
