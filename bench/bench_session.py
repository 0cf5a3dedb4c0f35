"""Benchmark: Seurat's workflow through a harmonybridge session against the same workflow in Rscript.

    .venv/bin/python bench/bench_session.py [--cells 50000] [--genes 3000] [--repeats 1] [--tmp DIR]

Data: seeded synthetic counts, ``--cells`` x ``--genes``, 10 cell types with their own gene
means (negative binomial), written once (not timed) as an ``.h5ad`` for the session and as raw
``i``/``p``/``x`` vectors for R. The chain, with the same arguments on both sides:
NormalizeData, FindVariableFeatures(nfeatures = 2000), ScaleData, RunPCA(npcs = 30),
FindNeighbors(dims = 1:30), FindClusters, FindAllMarkers(only.pos = TRUE, max.cells.per.ident = 200).

- ``session``: one Python process: read the ``.h5ad``, ``hb.SeuratSession`` (to_seurat), the
  seven calls, the results back into the AnnData (the ``with`` block's end).
- ``Rscript``: one R process: read the vectors, ``CreateSeuratObject``, the seven calls.

Both are timed as whole processes (start-up, library loading and reading included), in
alternation, ``--repeats`` times each; the script prints every run, the medians and the ratio
session / Rscript (target: at most 1.10), and the steps inside the session.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

R_CHAIN = r"""
args <- commandArgs(trailingOnly = TRUE)
dir <- args[1]
t0 <- Sys.time()
suppressPackageStartupMessages(library(Seurat))
meta <- jsonlite::fromJSON(file.path(dir, "shape.json"))
rd <- function(name, what, n) readBin(file.path(dir, name), what = what, n = n, size = if (what == "double") 8 else 4)
i <- rd("i.bin", "integer", meta$nnz)
p <- rd("p.bin", "integer", meta$cells + 1)
x <- rd("x.bin", "double", meta$nnz)
genes <- readLines(file.path(dir, "genes.txt"))
cells <- readLines(file.path(dir, "cells.txt"))
m <- new("dgCMatrix", i = i, p = p, x = x, Dim = c(meta$genes, meta$cells), Dimnames = list(genes, cells))
obj <- CreateSeuratObject(m)
t1 <- Sys.time()
obj <- NormalizeData(obj, verbose = FALSE)
obj <- FindVariableFeatures(obj, nfeatures = 2000, verbose = FALSE)
obj <- ScaleData(obj, verbose = FALSE)
obj <- RunPCA(obj, npcs = 30, verbose = FALSE)
obj <- FindNeighbors(obj, dims = 1:30, verbose = FALSE)
obj <- FindClusters(obj, verbose = FALSE)
markers <- FindAllMarkers(obj, only.pos = TRUE, max.cells.per.ident = 200, verbose = FALSE)
t2 <- Sys.time()
cat(sprintf("{\"load\": %f, \"chain\": %f, \"clusters\": %d, \"markers\": %d}\n",
            as.numeric(t1 - t0, units = "secs"), as.numeric(t2 - t1, units = "secs"),
            length(levels(obj$seurat_clusters)), nrow(markers)))
"""

PY_CHAIN = r"""
import json, sys, time, warnings
t0 = time.perf_counter()
import anndata as ad
import harmonybridge as hb
warnings.simplefilter("ignore")
adata = ad.read_h5ad(sys.argv[1])
t1 = time.perf_counter()
with hb.SeuratSession(adata, counts="X") as s:
    t2 = time.perf_counter()
    s.NormalizeData(verbose=False)
    s.FindVariableFeatures(nfeatures=2000, verbose=False)
    s.ScaleData(verbose=False)
    s.RunPCA(npcs=30, verbose=False)
    s.FindNeighbors(dims=range(1, 31), verbose=False)
    s.FindClusters(verbose=False)
    markers = s.FindAllMarkers(only_pos=True, max_cells_per_ident=200, verbose=False)
    t3 = time.perf_counter()
t4 = time.perf_counter()
print(json.dumps({"read": t1 - t0, "to_seurat": t2 - t1, "chain": t3 - t2, "back": t4 - t3,
                  "clusters": int(adata.obs["seurat_clusters"].nunique()), "markers": len(markers)}))
"""


def make_data(cells: int, genes: int, seed: int, folder: Path) -> None:
    import anndata as ad
    import pandas as pd
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    types = rng.integers(0, 10, cells)
    base = rng.lognormal(-1.0, 1.5, genes)
    means = base * rng.lognormal(0, 0.8, (10, genes))  # each type shifts every gene's mean
    depth = rng.lognormal(0, 0.3, cells)
    lam = means[types] * depth[:, None] * 0.5
    counts = rng.poisson(rng.gamma(2.0, lam / 2.0)).astype(np.float32)  # negative binomial
    X = sp.csr_matrix(counts)
    del counts, lam
    names = [f"cell{i}" for i in range(cells)]
    genes_ = [f"gene{j}" for j in range(genes)]
    adata = ad.AnnData(
        X,
        obs=pd.DataFrame({"type": pd.Categorical([f"t{t}" for t in types])}, index=names),
        var=pd.DataFrame(index=genes_),
    )
    adata.write_h5ad(folder / "counts.h5ad")
    csc = sp.csc_matrix(X.T)
    csc.indices.astype(np.int32).tofile(folder / "i.bin")
    csc.indptr.astype(np.int32).tofile(folder / "p.bin")
    csc.data.astype(np.float64).tofile(folder / "x.bin")
    (folder / "genes.txt").write_text("\n".join(genes_) + "\n")
    (folder / "cells.txt").write_text("\n".join(names) + "\n")
    (folder / "shape.json").write_text(json.dumps({"cells": cells, "genes": genes, "nnz": int(csc.nnz)}))
    print(f"data: {cells} cells x {genes} genes, {csc.nnz} non-zeros", file=sys.stderr)


def run(cmd: list[str]) -> tuple[float, dict]:
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        sys.exit(f"{cmd[0]} failed:\n{proc.stderr[-3000:]}")
    return wall, json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=50_000)
    ap.add_argument("--genes", type=int, default=3_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--tmp", type=Path, default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        folder = Path(tmp)
        make_data(args.cells, args.genes, args.seed, folder)
        (folder / "chain.R").write_text(R_CHAIN)
        (folder / "chain.py").write_text(PY_CHAIN)
        sides = {
            "session": [sys.executable, str(folder / "chain.py"), str(folder / "counts.h5ad")],
            "Rscript": ["Rscript", str(folder / "chain.R"), str(folder)],
        }
        walls: dict[str, list[float]] = {k: [] for k in sides}
        for r in range(args.repeats):
            for name, cmd in sides.items():
                wall, inner = run(cmd)
                walls[name].append(wall)
                print(f"run {r + 1} {name:8s} {wall:8.1f} s  {inner}")
        med = {k: statistics.median(v) for k, v in walls.items()}
        print(
            f"median: session {med['session']:.1f} s, Rscript {med['Rscript']:.1f} s, "
            f"ratio session / Rscript {med['session'] / med['Rscript']:.3f} (target <= 1.10)"
        )


if __name__ == "__main__":
    main()
