"""Harmony on a Seurat .rds: ``harmonybridge run X.rds`` against ``Rscript`` with RunHarmony on the same file.

A = ``harmonybridge run X.rds --batch batch --out A.rds --backend r --seed S --ncores N`` (a fresh
    process: Python and R start-up, readRDS, Harmony by R's harmony, the reduction and its
    ProjectDim loadings, saveRDS).
B = ``Rscript``: ``library(Seurat)``, ``readRDS``, ``set.seed(S)``, ``RunHarmony(obj, "batch",
    ncores = N)``, ``saveRDS`` (the whole process timed; RunHarmony alone timed inside it).

The object is a seeded synthetic one (``bench/build_bench_seurat.R``: 12 cell types, batch
effects in depth and per gene) run through Seurat's standard pipeline (NormalizeData,
FindVariableFeatures, ScaleData, RunPCA, FindNeighbors, FindClusters, RunUMAP), built once and
cached in the temporary folder. Runs alternate A, B, A, B, ... (``--repeats`` each); the medians'
ratio A / B is the figure (target: at most 1.2). Both outputs' ``harmony`` embeddings are then
compared in R (``identical()``: same engine, seed and parameters).

Usage::

    python bench/bench_rds_harmony.py                 # 20,000 cells, 3 runs each
    python bench/bench_rds_harmony.py --cells 2000    # a quick one

Progress goes to stderr, results to stdout.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = Path(__file__).parent / "build_bench_seurat.R"
TARGET = 1.2

DIRECT = r"""
args <- commandArgs(trailingOnly = TRUE)
suppressPackageStartupMessages(library(Seurat))
obj <- readRDS(args[[1]])
set.seed(as.integer(args[[3]]))
t0 <- proc.time()[["elapsed"]]
obj <- harmony::RunHarmony(obj, "batch", ncores = as.integer(args[[4]]), verbose = FALSE)
cat(sprintf("runharmony_seconds %.3f\n", proc.time()[["elapsed"]] - t0))
saveRDS(obj, args[[2]])
"""

COMPARE = r"""
args <- commandArgs(trailingOnly = TRUE)
a <- SeuratObject::Embeddings(readRDS(args[[1]]), "harmony")
b <- SeuratObject::Embeddings(readRDS(args[[2]]), "harmony")
cat(identical(a, b), max(abs(a - b)), "\n")
"""


def progress(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def build(args: argparse.Namespace) -> Path:
    folder = Path(args.tmp or tempfile.gettempdir()) / "harmonybridge-bench"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"seurat_{args.cells}x{args.genes}_b{args.batches}_s{args.seed}.rds"
    if path.exists():
        progress(f"using {path}")
        return path
    progress(f"building {path} with Seurat's pipeline (once; minutes for 20,000 cells)")
    part = path.with_suffix(".part.rds")
    cmd = ["Rscript", str(BUILD), str(part), str(args.cells), str(args.genes), str(args.batches), str(args.seed)]
    subprocess.run(cmd, check=True)
    os.replace(part, path)
    return path


CPU: list[tuple[str, float]] = []  # (side, CPU seconds of the child), robust to a loaded machine


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(cmd: list[str], timeout: float) -> tuple[float | None, str]:
    t0, c0 = time.perf_counter(), _children_cpu()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return None, f"did not finish in {timeout:.0f} s"
    seconds = time.perf_counter() - t0
    CPU.append((cmd[0], _children_cpu() - c0))
    if proc.returncode:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return seconds, proc.stdout


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--cells", type=int, default=20000)
    p.add_argument("--genes", type=int, default=5000)
    p.add_argument("--batches", type=int, default=4)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument(
        "--ncores", type=int, default=1, help="Harmony threads on both sides (default 1, RunHarmony's default)"
    )
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--timeout", type=float, default=1800, help="seconds before a run counts as not finished")
    p.add_argument("--tmp", help="folder for the object and outputs (default: the temporary folder)")
    args = p.parse_args()
    src = build(args)
    exe = shutil.which("harmonybridge", path=str(Path(sys.executable).parent)) or "harmonybridge"
    work = Path(tempfile.mkdtemp(prefix="bench-rds-", dir=args.tmp))
    (work / "direct.R").write_text(DIRECT)
    (work / "compare.R").write_text(COMPARE)
    a_cmd = [exe, "-q", "run", str(src), "--batch", "batch", "--out", str(work / "A.rds"), "--backend", "r"]
    a_cmd += ["--seed", str(args.seed), "--ncores", str(args.ncores)]
    b_cmd = ["Rscript", str(work / "direct.R"), str(src), str(work / "B.rds"), str(args.seed), str(args.ncores)]
    size = src.stat().st_size / 2**20
    progress(
        f"{src.name}: {size:.0f} MiB; A = harmonybridge run, B = Rscript RunHarmony; "
        f"{args.repeats} runs each, alternating"
    )
    a_times: list[float] = []
    b_times: list[float] = []
    b_engine: list[float] = []
    a_note = ""
    for i in range(args.repeats):
        if not a_note:
            t, note = timed(a_cmd, args.timeout)
            progress(f"A run {i + 1}: " + (f"{t:.1f} s" if t is not None else note))
            if t is None:
                a_note = note  # B still runs, for its figure
            else:
                a_times.append(t)
        t, out = timed(b_cmd, args.timeout)
        progress(f"B run {i + 1}: " + (f"{t:.1f} s" if t is not None else out))
        if t is not None:
            b_times.append(t)
            b_engine += [float(line.split()[1]) for line in out.splitlines() if line.startswith("runharmony_seconds")]
    print(f"object: {args.cells} cells x {args.genes} genes, {args.batches} batches, {size:.0f} MiB .rds ({src})")
    print(
        f"ncores {args.ncores}, seed {args.seed}; harmony 'batch' on reduction pca (30 PCs), ProjectDim on both sides"
    )
    if b_times:
        runs = ", ".join(f"{t:.1f}" for t in b_times)
        engine = statistics.median(b_engine) if b_engine else float("nan")
        print(f"B Rscript readRDS + RunHarmony + saveRDS: runs {runs} s; median {statistics.median(b_times):.1f} s")
        print(f"  of which RunHarmony alone: median {engine:.1f} s")
    if a_note:
        print(f"A harmonybridge run X.rds --out Y.rds: {a_note}")
    if a_times:
        runs = ", ".join(f"{t:.1f}" for t in a_times)
        print(f"A harmonybridge run X.rds --out Y.rds: runs {runs} s; median {statistics.median(a_times):.1f} s")
    a_cpu = [c for side, c in CPU if side == exe]
    b_cpu = [c for side, c in CPU if side == "Rscript"]
    if a_cpu and b_cpu:
        print(
            f"CPU seconds (median): A {statistics.median(a_cpu):.1f}, B {statistics.median(b_cpu):.1f}; "
            f"ratio {statistics.median(a_cpu) / statistics.median(b_cpu):.2f}x"
        )
    if a_times and b_times and not a_note:
        ratio = statistics.median(a_times) / statistics.median(b_times)
        verdict = "meets" if ratio <= TARGET else "misses"
        print(f"ratio A / B (medians): {ratio:.2f}x; {verdict} the target of {TARGET}x")
        compare = ["Rscript", str(work / "compare.R"), str(work / "A.rds"), str(work / "B.rds")]
        same = subprocess.run(compare, capture_output=True, text=True, check=True).stdout.split()
        print(f"harmony embeddings identical: {same[0]} (max abs difference {same[1]})")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
