"""The ``harmonybridge`` command."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ._params import HarmonyParams

logger = logging.getLogger("harmonybridge")

_PARAM_HELP = {
    "theta": "diversity penalty, one or one per batch covariate (default 2)",
    "sigma": "soft k-means bandwidth",
    "lamb": "ridge penalty, one or one per covariate (default: estimated from alpha)",
    "nclust": "clusters (default min(cells/30, 100))",
    "tau": "protection against over-correction of small batches",
    "block_size": "share of cells updated per block",
    "max_iter": "Harmony iterations at most",
    "max_iter_kmeans": "k-means rounds per iteration",
    "epsilon_cluster": "k-means convergence",
    "epsilon_harmony": "Harmony convergence",
    "alpha": "lambda estimation",
    "ncores": "threads (default: all CPUs)",
    "random_state": "seed",
}


def _add_params(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("Harmony parameters (the same for both engines)")
    defaults = HarmonyParams()
    for name in HarmonyParams.names():
        flag = "--seed" if name == "random_state" else "--" + name.replace("_", "-")
        kind = int if name in ("nclust", "max_iter", "max_iter_kmeans", "ncores", "random_state") else float
        nargs = "+" if name in ("theta", "lamb") else None
        g.add_argument(flag, dest=name, type=kind, nargs=nargs, default=getattr(defaults, name),
                       help=f"{_PARAM_HELP[name]} (default: {getattr(defaults, name)})")  # fmt: skip


def _params_from(args: argparse.Namespace) -> dict:
    out = {}
    for name in HarmonyParams.names():
        value = getattr(args, name)
        if isinstance(value, list):
            value = value[0] if len(value) == 1 else tuple(value)
        out[name] = value
    return out


def _default_out(path: Path, suffix: str) -> Path:
    return path.with_name(f"{path.stem}.harmony{suffix}")


def cmd_run(args: argparse.Namespace) -> int:
    from . import _io
    from ._harmony import run_harmony

    src = _io.check_input(args.input)
    out = _io.check_output(args.out or _default_out(src, src.suffix))
    params = _params_from(args)
    HarmonyParams(**params)  # validate before reading a large file
    logger.info("reading %s", src)
    adata = _io.read(src)
    logger.info("%d cells x %d genes", adata.n_obs, adata.n_vars)
    backends = ["python", "r"] if args.backend == "both" else [args.backend]
    for backend in backends:
        key = args.key_added if len(backends) == 1 else f"{args.key_added}_{'py' if backend == 'python' else 'r'}"
        run_harmony(adata, args.batch, backend=backend, basis=args.basis, key_added=key, verbose=args.verbose, **params)
        rec = adata.uns["harmony"]
        if len(backends) > 1:
            adata.uns[f"harmony_{'py' if backend == 'python' else 'r'}"] = adata.uns.pop("harmony")
        print(f"{backend}: obsm[{key!r}] {adata.obsm[key].shape[0]} cells x {adata.obsm[key].shape[1]} PCs; "
              f"{rec['n_iter']} iterations, converged={bool(rec['converged'])}, {rec['seconds']:.1f} s")  # fmt: skip
    logger.info("writing %s", out)
    _io.write(adata, out)
    print(f"wrote {out}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from . import _io, _plot, _workflow

    outdir = Path(args.out)
    outdir.mkdir(parents=True, exist_ok=True)
    if not os.access(outdir, os.W_OK):
        msg = f"cannot write into {str(outdir)!r}; choose another --out"
        raise PermissionError(msg)
    steps = _workflow.Steps(8 if args.input else 6)
    if args.input:
        if not args.batch:
            msg = "--input needs --batch KEY (the obs column that names the batch)"
            raise ValueError(msg)
        steps(f"reading {args.input}")
        raw = _io.read(args.input)
        steps(f"QC, normalize, log1p, HVGs by {args.batch!r}, PCA")
        adata = _workflow.preprocess(raw, args.batch, min_genes=args.min_genes)
        batch, name = args.batch, Path(args.input).stem
    else:
        adata = _workflow.load_pbmc68k()
        batch, name = "channel", "pbmc68k_reduced"
        logger.info("dataset: scanpy's pbmc68k_reduced, %d cells, batch = 10x channel (barcode suffix)", adata.n_obs)
    result = _workflow.integrate_and_cluster(adata, batch, backend=args.backend, progress=steps)
    steps("figures and output file")
    figs = {
        "umap": _plot.before_after(adata, batch, outdir / f"{name}_harmony_umap.png"),
        "markers": _plot.markers_umap(adata, outdir / f"{name}_markers_umap.png", _workflow.PBMC_MARKERS),
        "dotplot": _plot.markers_dotplot(adata, outdir / f"{name}_markers_dotplot.png"),
        "convergence": _plot.convergence({args.backend: adata.uns["harmony"]}, outdir / f"{name}_convergence.png"),
    }
    h5ad = _io.write(adata, outdir / f"{name}_harmony.h5ad")
    print(result.summary())
    for path in [h5ad, *(p for p in figs.values() if p is not None)]:
        print(f"wrote {path}")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from ._doctor import run_checks

    checks = run_checks()
    print(f"{'component':<22} {'version':<14} {'status':<8} note")
    for c in checks:
        print(c.line())
    core = {"Python", "anndata", "scanpy", "harmonypy"}
    bad = [c for c in checks if not c.ok]
    print(f"{len(checks) - len(bad)} of {len(checks)} OK" + (f"; problems: {', '.join(c.name for c in bad)}" if bad else ""))
    return 1 if any(c.name in core for c in bad) else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harmonybridge", description="Harmony in Python and R on the same cells.")
    parser.add_argument("-q", "--quiet", action="store_true", help="only errors on stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run Harmony on an .h5ad (or .rds) and write the corrected file")
    p.add_argument("input", help="input .h5ad or .rds")
    p.add_argument("--batch", required=True, nargs="+", help="obs column(s) naming the batch")
    p.add_argument("--backend", choices=["python", "r", "both"], default="python")
    p.add_argument("--basis", default="X_pca", help="obsm key of the embedding (default X_pca)")
    p.add_argument("--key-added", default="X_pca_harmony", help="obsm key for the result (default X_pca_harmony)")
    p.add_argument("--out", help="output .h5ad or .rds (default: INPUT.harmony.<ext> beside the input)")
    p.add_argument("--verbose", action="store_true", help="log every Harmony iteration")
    _add_params(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("demo", help="the whole workflow on a real dataset, with figures")
    p.add_argument("--out", default="out/demo", help="output folder (default out/demo)")
    p.add_argument("--input", help="raw counts (.h5ad or .rds) instead of scanpy's pbmc68k_reduced")
    p.add_argument("--batch", help="batch column of --input")
    p.add_argument("--min-genes", type=int, default=200, help="QC: cells need this many genes (default 200)")
    p.add_argument("--backend", choices=["python", "r"], default="python")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("doctor", help="check Python, R, Seurat, harmony and rpy2; say how to fix what is wrong")
    p.set_defaults(func=cmd_doctor)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s", stream=sys.stderr)
    os.environ.setdefault("MPLBACKEND", "Agg")
    try:
        return args.func(args)
    except (KeyError, ValueError, TypeError, OSError, ImportError, RuntimeError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
        print(f"harmonybridge: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
