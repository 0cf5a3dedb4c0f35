"""``harmonybridge run``: Harmony on an .h5ad or a Seurat .rds, the corrected file written; a zarr store
in or out goes to the dask engine, chunk by chunk."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from harmonybridge.harmony import HarmonyParams, check_store_output, describe_store_run, run_store
from harmonybridge.harmony.engines import BACKENDS

from ._common import add_make_unique, add_params, logger, params_from, read_cells

STORE = ".zarr"


def add_parser(sub: argparse._SubParsersAction) -> None:
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
    add_params(p)
    add_make_unique(p)
    p.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    from harmonybridge import convert
    from harmonybridge._core import checks as _check
    from harmonybridge._core import files as _io
    from harmonybridge.convert import reduction_name
    from harmonybridge.harmony import run_harmony
    from harmonybridge.workflow import pca_if_missing

    if _is_store_run(args):  # zarr in or out: the dask engine, chunk by chunk
        return _run_store(args, params_from(args))
    src = _io.check_input(args.input)
    default_suffix = ".rds" if src.suffix.lower() in (".rds", ".rdata", ".rda") else src.suffix
    out = _io.check_output(args.out or _default_out(src, default_suffix))
    params = params_from(args)
    HarmonyParams(**params)  # validate before reading a large file
    seurat = src.suffix.lower() in (".rds", ".rdata", ".rda") and out.suffix.lower() == ".rds"
    for _, key, _ in _backend_keys(args):  # refused before reading: --key-added must not overwrite --basis
        names = (reduction_name(args.basis), reduction_name(key)) if seurat else None
        _check.distinct_keys(args.basis, key, reductions=names)
    logger.info("reading %s", src)
    if seurat:
        return _run_seurat_file(args, src, out, params)
    adata = pca_if_missing(read_cells(src, args), args.batch, args.basis, src)
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


def _default_out(path: Path, suffix: str) -> Path:
    return path.with_name(f"{path.stem}.harmony{suffix}")


def _backend_keys(args: argparse.Namespace) -> list[tuple[str, str, str]]:
    """(backend, obsm key, uns key) for each engine to run; --backend both stores both."""
    if args.backend != "both":
        return [(args.backend, args.key_added, "harmony")]
    return [("python", f"{args.key_added}_py", "harmony_py"), ("r", f"{args.key_added}_r", "harmony_r")]


def _run_seurat_file(args: argparse.Namespace, src: Path, out: Path, params: dict) -> int:
    """A Seurat .rds in, a Seurat .rds out: nothing is converted; with --backend r the reduction never leaves R."""
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


def _is_store_run(args: argparse.Namespace) -> bool:
    """Whether ``harmonybridge run`` reads or writes a zarr store (then the dask engine runs chunked)."""
    return any(str(p or "").rstrip("/").lower().endswith(STORE) for p in (args.input, args.out))


def _run_store(args: argparse.Namespace, params: dict) -> int:
    """``harmonybridge run`` with a zarr store in or out: the dask engine, chunk by chunk."""
    src = Path(args.input)
    if args.backend != "dask":
        msg = f"zarr stores are read and written in chunks by the dask engine: add --backend dask, not {args.backend}"
        raise ValueError(msg)
    if not src.exists():
        msg = f"input '{src}' does not exist"
        raise FileNotFoundError(msg)
    out = check_store_output(args.out or src.with_name(f"{src.name.rstrip('/').rsplit('.', 1)[0]}.harmony.zarr"), src)
    record = run_store(
        src,
        out,
        args.batch,
        HarmonyParams(**params),
        basis=args.basis,
        key_added=args.key_added,
        scheduler=args.scheduler,
        verbose=args.verbose,
    )
    print(describe_store_run(record))
    print(f"wrote {out}")
    return 0
