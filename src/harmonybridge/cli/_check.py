"""``harmonybridge check``: the engines under several seeds, compared; the report and the verdict (exit 0 or 1)."""

from __future__ import annotations

import argparse

from harmonybridge.harmony.engines import ENGINES
from harmonybridge.harmony.params import HarmonyParams

from ._common import add_make_unique, add_params, logger, params_from, read_cells


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "check", help="run both engines under several seeds and say whether they agree (exit 0) or not (1)"
    )
    p.add_argument("input", help="input .h5ad or .rds with a PCA (or raw counts: the PCA is computed as demo does)")
    p.add_argument("--batch", required=True, nargs="+", help="obs column(s) naming the batch")
    p.add_argument("--label", help="obs column with cell-type labels, to measure biology kept")
    p.add_argument("--report", required=True, help="folder for report.html and report.json, created if missing")
    p.add_argument("--seeds", type=int, default=3, help="seeds per engine (default 3)")
    p.add_argument("--basis", default="X_pca", help="obsm key of the embedding (default X_pca)")
    p.add_argument(
        "--python-param",
        action="append",
        metavar="KEY=VALUE",
        help="override a parameter for the Python engine only (e.g. theta=0, to see a difference caught)",
    )
    p.add_argument("--r-param", action="append", metavar="KEY=VALUE", help="override a parameter for the R engine only")
    p.add_argument(
        "--engines",
        nargs="+",
        choices=list(ENGINES),
        default=["python", "r"],
        help="Harmony paths to compare (default python r; seurat: Seurat 5's IntegrateLayers with HarmonyIntegration)",
    )
    p.add_argument(
        "--seurat-params",
        choices=["seurat", "harmonybridge"],
        default="seurat",
        help="the seurat engine runs with Seurat's own settings ('seurat', the default) or harmonybridge's parameters",
    )
    p.add_argument(
        "--seurat-param",
        action="append",
        metavar="KEY=VALUE",
        help="with --seurat-params harmonybridge: override a parameter for the seurat engine only",
    )
    add_params(p)
    add_make_unique(p)
    p.set_defaults(func=cmd_check)


def cmd_check(args: argparse.Namespace) -> int:
    from harmonybridge._core import files as _io
    from harmonybridge.crosscheck import cross_check
    from harmonybridge.workflow import pca_if_missing

    src = _io.check_input(args.input)
    params = params_from(args)
    HarmonyParams(**params)
    python_params, r_params = _overrides(args.python_param), _overrides(args.r_param)
    report_dir = _io.check_folder(args.report)  # created when the report is written, after the input is checked
    adata = pca_if_missing(read_cells(src, args), args.batch, args.basis, src)
    logger.info("cross-check on %s: %d cells, %d seeds per engine", src, adata.n_obs, args.seeds)
    seurat_params = _overrides(args.seurat_param) if args.seurat_params == "harmonybridge" else "seurat"
    report = cross_check(
        adata,
        args.batch,
        label_key=args.label,
        n_seeds=args.seeds,
        basis=args.basis,
        engines=args.engines,
        python_params=python_params,
        r_params=r_params,
        seurat_params=seurat_params,
        **params,
    )
    with _io.atomic_path(report_dir / "report.html") as tmp:
        tmp.write_text(report.to_html(), encoding="utf-8")
    with _io.atomic_path(report_dir / "report.json") as tmp:
        tmp.write_text(report.to_json(), encoding="utf-8")
    print(report)
    print(f"\nverdict: the engines {report.verdict.upper()}")
    print(f"wrote {report_dir / 'report.html'} and {report_dir / 'report.json'}")
    return 0 if report.passed else 1


def _overrides(pairs: list[str] | None) -> dict:
    """KEY=VALUE pairs (for one engine only) as HarmonyParams values."""
    out: dict = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or key not in HarmonyParams.names():
            msg = f"engine parameter must be KEY=VALUE with KEY one of {HarmonyParams.names()}, got {pair!r}"
            raise ValueError(msg)
        number = float(value)
        out[key] = int(number) if number.is_integer() and HarmonyParams.kind(key)[0] is int else number
    return out
