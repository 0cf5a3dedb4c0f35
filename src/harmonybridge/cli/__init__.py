"""The ``harmonybridge`` command."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

from harmonybridge._core.warnings import ConversionWarning, HarmonyBridgeWarning, once_per_cause
from harmonybridge.harmony.engines import BACKENDS, ENGINES
from harmonybridge.harmony.params import HELP, HarmonyParams, cli_flag

from ._console import error_text, one_line_warnings

logger = logging.getLogger("harmonybridge")


def _add_params(p: argparse.ArgumentParser) -> None:
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


def _add_make_unique(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--make-unique",
        action="store_true",
        help="suffix repeated cell names -1, -2, ... (as anndata's obs_names_make_unique); without it they are refused",
    )


def _params_from(args: argparse.Namespace) -> dict:
    out = {}
    for name in HarmonyParams.names():
        value = getattr(args, name)
        if isinstance(value, list):
            value = value[0] if len(value) == 1 else tuple(value)
        out[name] = value
    return out


def _read_cells(src: str | Path, args: argparse.Namespace, **rds: object):
    """Read the input; repeated cell names made unique (--make-unique) or refused before any work (the one
    rule on every command). ``rds``: read_rds's arguments (an .rds input), and its log is returned too."""
    from harmonybridge import convert

    return convert.read_cells(src, make_unique=args.make_unique, **rds)


def _default_out(path: Path, suffix: str) -> Path:
    return path.with_name(f"{path.stem}.harmony{suffix}")


def _backend_keys(args: argparse.Namespace) -> list[tuple[str, str, str]]:
    """(backend, obsm key, uns key) for each engine to run; --backend both stores both."""
    if args.backend != "both":
        return [(args.backend, args.key_added, "harmony")]
    return [("python", f"{args.key_added}_py", "harmony_py"), ("r", f"{args.key_added}_r", "harmony_r")]


def cmd_run(args: argparse.Namespace) -> int:
    from harmonybridge import convert
    from harmonybridge._core import checks as _check
    from harmonybridge._core import files as _io
    from harmonybridge.convert import reduction_name
    from harmonybridge.harmony import run_harmony
    from harmonybridge.workflow import pca_if_missing

    from . import _run

    if _run.is_store_run(args):  # zarr in or out: the dask engine, chunk by chunk
        return _run.run_command(args, _params_from(args))
    src = _io.check_input(args.input)
    default_suffix = ".rds" if src.suffix.lower() in (".rds", ".rdata", ".rda") else src.suffix
    out = _io.check_output(args.out or _default_out(src, default_suffix))
    params = _params_from(args)
    HarmonyParams(**params)  # validate before reading a large file
    seurat = src.suffix.lower() in (".rds", ".rdata", ".rda") and out.suffix.lower() == ".rds"
    for _, key, _ in _backend_keys(args):  # refused before reading: --key-added must not overwrite --basis
        names = (reduction_name(args.basis), reduction_name(key)) if seurat else None
        _check.distinct_keys(args.basis, key, reductions=names)
    logger.info("reading %s", src)
    if seurat:
        return _run_seurat_file(args, src, out, params)
    adata = pca_if_missing(_read_cells(src, args), args.batch, args.basis, src)
    logger.info("%d cells x %d genes", adata.n_obs, adata.n_vars)
    for backend, key, uns_key in _backend_keys(args):
        opts = {"basis": args.basis, "key_added": key, "verbose": args.verbose, "scheduler": args.scheduler}
        run_harmony(adata, args.batch, backend=backend, **opts, **params)
        rec = adata.uns.pop("harmony")
        adata.uns[uns_key] = rec
        print(
            f"{backend}: obsm[{key!r}] {adata.obsm[key].shape[0]} cells x {adata.obsm[key].shape[1]} PCs; "
            f"{rec['n_iter']} iterations, converged={bool(rec['converged'])}, {rec['seconds']:.1f} s"
        )
    logger.info("writing %s", out)
    convert.write(adata, out)
    print(f"wrote {out}")
    return 0


def _run_seurat_file(args: argparse.Namespace, src: Path, out: Path, params: dict) -> int:
    """A Seurat .rds in, a Seurat .rds out: only the reductions cross, nothing is converted."""
    from harmonybridge import convert
    from harmonybridge.convert import reduction_name
    from harmonybridge.harmony import run_harmony

    t0 = time.perf_counter()
    logger.info("reading %s (%.0f MiB) with readRDS", src, src.stat().st_size / 2**20)
    obj = convert.seurat_cell_names(convert.read_seurat(src), make_unique=args.make_unique)
    logger.info("read in %.1f s", time.perf_counter() - t0)
    for backend, key, _ in _backend_keys(args):
        t0 = time.perf_counter()
        logger.info(
            "%s: Harmony on reduction %r, then reduction %r with its ProjectDim loadings",
            backend,
            reduction_name(args.basis),
            reduction_name(key),
        )
        obj = run_harmony(
            obj, args.batch, backend=backend, basis=args.basis, key_added=key, verbose=args.verbose, **params
        )
        print(f"{backend}: Seurat reduction {reduction_name(key)!r} added ({time.perf_counter() - t0:.1f} s)")
    t0 = time.perf_counter()
    logger.info("writing %s with saveRDS", out)
    convert.write_seurat(obj, out)
    print(f"wrote {out} ({time.perf_counter() - t0:.1f} s)")
    return 0


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


def cmd_check(args: argparse.Namespace) -> int:
    from harmonybridge._core import files as _io
    from harmonybridge.crosscheck import cross_check
    from harmonybridge.workflow import pca_if_missing

    src = _io.check_input(args.input)
    params = _params_from(args)
    HarmonyParams(**params)
    python_params, r_params = _overrides(args.python_param), _overrides(args.r_param)
    report_dir = _io.check_folder(args.report)  # created when the report is written, after the input is checked
    adata = pca_if_missing(_read_cells(src, args), args.batch, args.basis, src)
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


def cmd_doctor(args: argparse.Namespace) -> int:
    from ._doctor import run_checks

    checks = run_checks()
    print(f"{'component':<22} {'version':<14} {'status':<8} note")
    for c in checks:
        print(c.line())
    core = {"Python", "anndata", "scanpy", "harmonypy"}
    bad = [c for c in checks if not c.ok]
    print(
        f"{len(checks) - len(bad)} of {len(checks)} OK"
        + (f"; problems: {', '.join(c.name for c in bad)}" if bad else "")
    )
    return 1 if any(c.name in core for c in bad) else 0


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
        adata = _read_cells(src, args)
        _, log = convert.write_rds(
            adata, out, assay=args.assay, assay_version=args.assay_version, raw=args.raw, return_log=True
        )
    elif kinds == (".rds", ".h5ad"):
        adata, log = _read_cells(src, args, assay=args.assay_in)
        _io.write_h5ad(adata, out)
    else:
        msg = f"convert goes .h5ad -> .rds or .rds (.RData) -> .h5ad, not {src.suffix} -> {out.suffix}"
        raise ValueError(msg)
    print(log)
    print(f"wrote {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harmonybridge", description="Harmony in Python and R on the same cells.")
    parser.add_argument("-q", "--quiet", action="store_true", help="only errors on stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run Harmony on an .h5ad (or .rds) and write the corrected file")
    p.add_argument(
        "input", help="input .h5ad (with X_pca, or raw counts: the PCA is computed as demo does), .rds or .RData"
    )
    p.add_argument("--batch", required=True, nargs="+", help="obs column(s) naming the batch")
    p.add_argument("--backend", choices=[*BACKENDS, "both"], default="python", help="dask: chunked, also for .zarr")
    p.add_argument("--scheduler", help="dask: 'tcp://HOST:PORT' of a cluster, 'threads' or 'local' (default: auto)")
    p.add_argument("--basis", default="X_pca", help="obsm key of the embedding (default X_pca)")
    p.add_argument("--key-added", default="X_pca_harmony", help="obsm key for the result (default X_pca_harmony)")
    p.add_argument(
        "--out",
        help="output .h5ad or .rds, its folder created if missing (default: INPUT.harmony.<ext> beside the input)",
    )
    p.add_argument("--verbose", action="store_true", help="log every Harmony iteration")
    _add_params(p)
    _add_make_unique(p)
    p.set_defaults(func=cmd_run)

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
    _add_make_unique(p)
    p.set_defaults(func=cmd_demo)

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
    _add_make_unique(p)
    p.set_defaults(func=cmd_convert)

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
    _add_params(p)
    _add_make_unique(p)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("doctor", help="check Python, R, Seurat, harmony and rpy2; say how to fix what is wrong")
    p.set_defaults(func=cmd_doctor)
    return parser


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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
