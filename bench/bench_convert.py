"""Benchmark: harmonybridge's AnnData <-> Seurat converters against anndata2ri.

    .venv/bin/python bench/bench_convert.py [--cells 100000] [--genes 2000] [--nnz 20000000] [--repeats 3] [--counts]

Data: seeded synthetic counts (CSR float32), obs columns (a categorical, an integer, a float,
a string) and a 50-column X_pca. With ``--counts``, the usual scanpy object: X log-normalized
and the counts in ``layers["counts"]`` (two matrices of one non-zero pattern; anndata2ri's side
then runs ``as.Seurat(sce, counts = "counts", data = "X")``). Four sides, each in its own
subprocess so that memory is its own:

- ``hb to``:      harmonybridge.to_seurat(adata)
- ``a2r to``:     anndata2ri py2rpy(adata) -> SingleCellExperiment, then Seurat::as.Seurat(sce, data = "X")
- ``hb from``:    harmonybridge.from_seurat(obj)
- ``a2r from``:   Seurat::as.SingleCellExperiment(obj), then anndata2ri rpy2py(sce)

R and its packages are loaded (and a tiny conversion run) before the clock starts. Peak memory
is the rise of the process's resident set during the conversion: VmHWM after minus VmRSS before,
with the high-water mark reset through /proc/self/clear_refs (Linux); it is compared with the
bytes of X (data + indices + indptr).
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np


def make_adata(n_cells: int, n_genes: int, nnz: int, seed: int = 0, counts: bool = False):
    import pandas as pd
    import scipy.sparse as sp
    from anndata import AnnData

    rng = np.random.default_rng(seed)
    density = nnz / (n_cells * n_genes)
    blocks = []
    for start in range(0, n_cells, 5_000):  # Bernoulli mask per block: CSR in sorted order
        mask = rng.random((min(5_000, n_cells - start), n_genes), dtype=np.float32) < density
        blocks.append(sp.csr_matrix(mask, dtype=np.float32))
    X = sp.vstack(blocks, format="csr")
    X.data = rng.integers(1, 30, X.nnz).astype(np.float32)
    per_cell = np.diff(X.indptr)
    obs = pd.DataFrame(
        {
            "batch": pd.Categorical(rng.choice([f"b{i}" for i in range(8)], n_cells)),
            "n_genes": per_cell.astype(np.int64),
            "score": rng.random(n_cells),
            "donor": rng.choice(["d1", "d2", "d3"], n_cells).astype(object),
        },
        index=[f"cell{i}" for i in range(n_cells)],
    )
    var = pd.DataFrame(index=[f"gene{i}" for i in range(n_genes)])
    adata = AnnData(X=X, obs=obs, var=var)
    adata.obsm["X_pca"] = rng.normal(size=(n_cells, 50)).astype(np.float32)
    if counts:  # normalize_total + log1p, as scanpy's pipeline leaves it
        adata.layers["counts"] = X.copy()
        scale = 1e4 / np.maximum(per_cell_sum(X), 1)
        adata.X = X.multiply(scale[:, None]).tocsr().astype(np.float32)
        np.log1p(adata.X.data, out=adata.X.data)
    return adata


def per_cell_sum(X) -> np.ndarray:
    return np.asarray(X.sum(axis=1)).ravel()


def _status(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024  # MiB
    return float("nan")


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def run_side(side: str, n_cells: int, n_genes: int, nnz: int, counts: bool = False) -> dict:
    import anndata2ri
    import rpy2.robjects as ro
    from rpy2.robjects.conversion import localconverter

    from harmonybridge import ConversionWarning, _rbridge, from_seurat, to_seurat

    warnings.simplefilter("ignore", ConversionWarning)
    _rbridge.require("SeuratObject")
    _rbridge.require("Seurat")
    _rbridge.hb()
    ro.r("suppressPackageStartupMessages(library(SingleCellExperiment))")
    counts_arg = "'counts'" if counts else "NULL"
    as_seurat = ro.r(f"function(s) suppressWarnings(Seurat::as.Seurat(s, counts = {counts_arg}, data = 'X'))")
    as_sce = ro.r("function(o) suppressWarnings(Seurat::as.SingleCellExperiment(o))")

    def a2r_to(a):
        with localconverter(anndata2ri.converter):
            sce = ro.conversion.get_conversion().py2rpy(a)
        return as_seurat(sce)

    def a2r_from(obj):
        sce = as_sce(obj)
        with localconverter(anndata2ri.converter):
            return ro.conversion.get_conversion().rpy2py(sce)

    fn = {"hb to": to_seurat, "hb from": from_seurat, "a2r to": a2r_to, "a2r from": a2r_from}[side]
    tiny = make_adata(200, 50, 2000, seed=1, counts=counts)
    fn(to_seurat(tiny) if "from" in side else tiny)  # warm up: R packages, methods, caches
    adata = make_adata(n_cells, n_genes, nnz, counts=counts)
    nnz_real = adata.X.nnz
    matrix_mib = (adata.X.data.nbytes + adata.X.indices.nbytes + adata.X.indptr.nbytes) / 2**20
    arg = to_seurat(adata) if "from" in side else adata
    if "from" in side:
        del adata
    gc.collect()
    ro.r("invisible(gc())")
    before = _status("VmRSS")
    exact_peak = _reset_peak()
    t0 = time.perf_counter()
    out = fn(arg)
    seconds = time.perf_counter() - t0
    peak = _status("VmHWM") if exact_peak else np.nan
    assert out is not None
    return {"side": side, "seconds": seconds, "peak_mib": peak - before, "matrix_mib": matrix_mib, "nnz": int(nnz_real)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cells", type=int, default=100_000)
    p.add_argument("--genes", type=int, default=2_000)
    p.add_argument("--nnz", type=int, default=20_000_000)
    p.add_argument("--repeats", type=int, default=3, help="runs per side (fresh process each); medians are reported")
    p.add_argument(
        "--counts", action="store_true", help="X log-normalized plus layers['counts'] (scanpy's usual object)"
    )
    p.add_argument("--side", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.side:
        print(json.dumps(run_side(args.side, args.cells, args.genes, args.nnz, args.counts)))
        return 0
    print(
        f"{args.cells:,} cells x {args.genes:,} genes, about {args.nnz:,} non-zeros (CSR float32, seeded), "
        "4 obs columns, X_pca (50 PCs)"
        + ("; X log-normalized + layers['counts'] (one pattern)" if args.counts else "")
        + "; Python "
        + sys.version.split()[0]
    )
    sides = ("hb to", "a2r to", "hb from", "a2r from")
    runs: dict[str, list[dict]] = {side: [] for side in sides}
    for rep in range(args.repeats):  # sides alternate, so that a slow spell hits all of them
        for side in sides:
            cmd = [
                sys.executable,
                __file__,
                "--side",
                side,
                "--cells",
                str(args.cells),
                "--genes",
                str(args.genes),
                "--nnz",
                str(args.nnz),
                *(["--counts"] if args.counts else []),
            ]
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                print(f"{side}: failed\n{done.stderr[-2000:]}")
                continue
            r = json.loads(done.stdout.strip().splitlines()[-1])
            runs[side].append(r)
            if rep == 0 and side == sides[0]:
                print(f"(X holds {r['nnz']:,} non-zeros, {r['matrix_mib']:.0f} MiB)")
            print(f"  run {rep + 1} {side:<9} {r['seconds']:7.2f} s   peak +{r['peak_mib']:6.0f} MiB", flush=True)
    results = {}
    print(f"median of {args.repeats} run(s) per side:")
    for side in sides:
        if not runs[side]:
            continue
        sec = float(np.median([r["seconds"] for r in runs[side]]))
        peak = float(np.median([r["peak_mib"] for r in runs[side]]))
        results[side] = {"seconds": sec, "peak_mib": peak}
        mib = runs[side][0]["matrix_mib"]
        print(f"{side:<9} {sec:7.2f} s   peak +{peak:7.0f} MiB ({peak / mib:.2f} x the matrix's {mib:.0f} MiB)")
    for way in ("to", "from"):
        hb, a2r = results.get(f"hb {way}"), results.get(f"a2r {way}")
        if hb and a2r:
            print(
                f"{way:<5}: harmonybridge is {a2r['seconds'] / hb['seconds']:.1f}x faster than anndata2ri "
                f"and uses {a2r['peak_mib'] / max(hb['peak_mib'], 1):.1f}x less peak memory"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
