"""Where the time of ``harmonybridge.cross_check`` goes: by engine and by metric, plus peak memory.

One full ``cross_check(adata, "batch", label_key="cell_type", figures=True)`` (3 seeds per
engine, the default) on a seeded synthetic PCA embedding (default 100,000 cells x 30 PCs,
4 batches, 8 cell types with per-batch mix and shift, float32 like scanpy's ``X_pca``).
Prints ``report.timings`` as a table with shares of the total, a finer split by function
(found by wrapping harmonybridge's metric functions and scanpy's neighbours / Leiden / UMAP
from outside; nothing in harmonybridge is changed), peak memory, the verdict, and the whole
check's time over the engines' own. Above ``max_cells`` the cross-check builds its neighbour
graphs on a seeded sample; the bench then computes the kNN-overlap, ARI and NMI of two pairs of
its own runs (Python vs R, and two Python seeds) on every cell as well, and prints how far the
sample moves each metric next to the metric's floor (``--no-sample-check`` skips it).

Usage::

    python bench/bench_check.py            # 100,000 cells x 30 PCs, 4 batches, 8 cell types
    python bench/bench_check.py --quick    # 5,000 cells: a smoke run
    python bench/bench_check.py --cli --cells 1000000 --seeds 2 --no-sample-check
        # the command itself: writes the cells to a .h5ad, runs ``harmonybridge check`` on it in a
        # child process, and reports its wall time, peak memory and the shares from report.json

Progress goes to stderr, results to stdout.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _synthetic

N_TYPES = 8


def progress(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def make_adata(cells: int, pcs: int, batches: int, seed: int):
    """AnnData with obsm['X_pca'] (float32), obs['batch'] and obs['cell_type'] (categoricals).

    The cells come from bench/_synthetic.py.
    """
    import anndata as ad
    import pandas as pd

    Z, batch, ctype = _synthetic.make_embedding(cells, pcs, batches, seed, n_types=N_TYPES, mix_alpha=2.0)
    obs = pd.DataFrame(
        {
            "batch": pd.Categorical.from_codes(batch, [f"batch{b}" for b in range(batches)]),
            "cell_type": pd.Categorical.from_codes(ctype, [f"type{t}" for t in range(N_TYPES)]),
        },
        index=pd.RangeIndex(cells).astype(str),
    )
    return ad.AnnData(obs=obs, obsm={"X_pca": Z})


def rss_mb(field: str = "VmRSS") -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


# --- instrumentation from outside ------------------------------------------------------

STATS: dict[str, list[float]] = defaultdict(list)  # "outer > inner" -> seconds per call
_STACK: list[str] = []
KEEP: dict[str, list] = defaultdict(list)  # (arguments, result) of wrapped calls, for the sample check


def _wrap(owner, attr: str, label: str, keep: bool = False) -> None:
    fn = getattr(owner, attr)

    @functools.wraps(fn)
    def timed(*a, **k):
        name = " > ".join([*_STACK, label])
        _STACK.append(label)
        t0 = time.perf_counter()
        try:
            out = fn(*a, **k)
        finally:
            STATS[name].append(time.perf_counter() - t0)
            _STACK.pop()
        if keep:
            KEEP[label].append((a, out))
        return out

    setattr(owner, attr, timed)


def instrument() -> None:
    import scanpy as sc

    from harmonybridge.crosscheck import _runs as _crosscheck
    from harmonybridge.metrics import _neighbors
    from harmonybridge.metrics import _scores as _metrics

    for attr in ("median_lisis", "silhouette", "compare_clusterings", "per_pc_pearson", "relative_l2", "knn_overlap"):
        _wrap(_metrics, attr, f"_metrics.{attr}")
    graph = _neighbors.NeighborGraph
    search = graph.search.__func__

    def timed_search(cls, X, k=15):
        name = " > ".join([*_STACK, "NeighborGraph.search (exact kNN)"])
        t0 = time.perf_counter()
        out = search(cls, X, k)
        STATS[name].append(time.perf_counter() - t0)
        return out

    graph.search = classmethod(timed_search)
    for attr in ("scanpy_graph", "leiden", "umap"):
        _wrap(graph, attr, f"NeighborGraph.{attr}")
    _wrap(_crosscheck, "run_engine", "harmony engine run", keep=True)
    _wrap(sc.pp, "neighbors", "sc.pp.neighbors")
    _wrap(sc.tl, "leiden", "sc.tl.leiden")
    _wrap(sc.tl, "umap", "sc.tl.umap")


# --- the sample against every cell ------------------------------------------------------


def sample_vs_full(max_cells: int) -> list[str]:
    """The graph metrics on the seeded sample the cross-check used vs on every cell, on its own embeddings."""
    from harmonybridge.crosscheck._runs import FLOORS, N_NEIGHBORS
    from harmonybridge.metrics import _scores as _metrics
    from harmonybridge.metrics._neighbors import NeighborGraph, sample_cells

    runs = {}
    for (_adata, _keys, _basis, engine, params, _verbose), res in KEEP["harmony engine run"]:
        runs[(engine, params.random_state)] = np.asarray(res.embedding, dtype=np.float64)
    n = next(iter(runs.values())).shape[0]
    sample = sample_cells(n, max_cells)
    if sample is None:
        return [f"{n:,} cells <= max_cells {max_cells:,}: the cross-check used every cell"]
    keys = sorted(runs)
    py0, py1, r0 = keys[0], keys[1], next(k for k in keys if k[0] == "r")
    wanted = {py0, py1, r0}
    full, part = {}, {}
    for key in wanted:
        t0 = time.perf_counter()
        g = NeighborGraph.search(runs[key], N_NEIGHBORS)
        full[key] = (g.indices, g.leiden(random_state=0), time.perf_counter() - t0)
        s = NeighborGraph.search(runs[key][sample], N_NEIGHBORS)
        part[key] = (s.indices, s.leiden(random_state=0))
    lines = [f"exact kNN + Leiden on all {n:,} cells: {np.median([v[2] for v in full.values()]):.1f} s per embedding"]
    for a, b in ((py0, r0), (py0, py1)):
        for metric in ("knn_overlap", "ari", "nmi"):

            def value(d, a=a, b=b, metric=metric):
                if metric == "knn_overlap":
                    return _metrics.knn_overlap(d[a][0], d[b][0])
                return _metrics.compare_clusterings(d[a][1], d[b][1])[metric]

            f, p = value(full), value(part)
            lines.append(
                f"{a[0]} seed {a[1]} vs {b[0]} seed {b[1]}: {metric:<11} all cells {f:.4f}, "
                f"sample of {max_cells:,} {p:.4f} (moves {p - f:+.4f}; floor {FLOORS[metric]})"
            )
    return lines


# --- the command line ------------------------------------------------------------------


def bench_cli(args: argparse.Namespace) -> int:
    """``harmonybridge check`` on a written .h5ad, in a child process: wall time, peak RSS, shares."""
    from pathlib import Path

    exe = Path(sys.executable).with_name("harmonybridge")
    with tempfile.TemporaryDirectory(prefix="bench_check_") as d:
        src, report_dir = Path(d) / "cells.h5ad", Path(d) / "report"
        progress(f"generating {args.cells:,} cells x {args.pcs} PCs and writing {src}")
        make_adata(args.cells, args.pcs, args.batches, args.seed).write_h5ad(src)
        cmd = [
            str(exe), "check", str(src), "--batch", "batch", "--label", "cell_type", "--report", str(report_dir),
            "--seeds", str(args.seeds), "--seed", str(args.seed), "--ncores", str(args.ncores),
            *(["--engines", *args.engines] if args.engines else []),
        ]  # fmt: skip
        progress("running: " + " ".join(cmd))
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)  # its progress lines go to our stderr
        wall = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        if proc.returncode not in (0, 1):  # 1 is "disagree", still a finished check
            print(proc.stdout)
            raise SystemExit(f"harmonybridge check failed with exit {proc.returncode}")
        report = json.loads((report_dir / "report.json").read_text())
        size = src.stat().st_size / 2**20
    timings = report["timings_seconds"]
    total = timings["total"]
    engines = sum(v for k, v in timings.items() if k.startswith("harmony_"))
    print(
        f"== harmonybridge check: {args.cells:,} cells x {args.pcs} PCs, {args.batches} batches, "
        f"--seeds {args.seeds}, --ncores {args.ncores}, engines {' '.join(args.engines or ['(default)'])}, "
        f".h5ad {size:.0f} MB =="
    )
    print(f"{'part (report.json timings)':<28}{'seconds':>10}{'share of wall':>15}")
    for k, v in timings.items():
        if k != "total":
            print(f"{k:<28}{v:>10.1f}{v / wall * 100:>14.1f}%")
    print(f"{'cross_check total':<28}{total:>10.1f}{total / wall * 100:>14.1f}%")
    rest = wall - total
    print(f"{'(start, read, R, write)':<28}{rest:>10.1f}{rest / wall * 100:>14.1f}%")
    print(f"{'command wall time':<28}{wall:>10.1f}{100:>14.1f}%")
    print(f"peak RSS of the command (ru_maxrss of the child, embedded R included): {peak:.0f} MB")
    print(f"verdict: engines {report['verdict'].upper()} (exit {proc.returncode})")
    print(f"whole command / engines alone: {wall:.1f} / {engines:.1f} s = {wall / engines:.2f} x")
    return 0


# --- main ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cells", type=int, help="cells (default 100,000; 5,000 with --quick)")
    p.add_argument("--pcs", type=int, default=30, help="PCs (default 30)")
    p.add_argument("--batches", type=int, default=4, help="batches (default 4)")
    p.add_argument(
        "--repeats", type=int, default=1, help="full cross_check runs (default 1; the table shows the median)"
    )
    p.add_argument("--seeds", type=int, default=3, help="n_seeds of cross_check (default 3, its default)")
    p.add_argument("--seed", type=int, default=0, help="data seed and first random_state (default 0)")
    p.add_argument("--ncores", type=int, help="threads for both engines (default: CPUs this process may use)")
    p.add_argument("--quick", action="store_true", help="5,000 cells: a smoke run")
    p.add_argument("--max-cells", type=int, default=None, help="cross_check's max_cells (default: its default)")
    p.add_argument(
        "--no-sample-check",
        action="store_true",
        help="skip comparing the sampled graph metrics with the same metrics on every cell",
    )
    p.add_argument(
        "--engines",
        nargs="+",
        default=None,
        help="with --cli: the command's --engines (default: its default, python and r); e.g. python dask",
    )
    p.add_argument(
        "--cli",
        action="store_true",
        help="time the command `harmonybridge check` on the cells written to a .h5ad, in a child process",
    )
    args = p.parse_args(argv)
    if args.cells is None:
        args.cells = 5_000 if args.quick else 100_000
    if args.cli:
        from harmonybridge.harmony.params import available_cores

        args.ncores = args.ncores or available_cores()
        return bench_cli(args)

    import harmonybridge
    from harmonybridge import _rbridge
    from harmonybridge.crosscheck import _runs as _crosscheck
    from harmonybridge.harmony.params import available_cores

    if args.ncores is None:
        args.ncores = available_cores()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("[%(asctime)s] %(message)s", "%H:%M:%S"))
    hlog = logging.getLogger("harmonybridge")
    hlog.addHandler(handler)
    hlog.setLevel(logging.INFO)
    hlog.propagate = False
    logging.getLogger("harmonybridge.R").setLevel(logging.WARNING)

    progress(
        f"generating {args.cells:,} cells x {args.pcs} PCs, {args.batches} batches, "
        f"{N_TYPES} cell types (seed {args.seed})"
    )
    adata = make_adata(args.cells, args.pcs, args.batches, args.seed)
    progress("starting R (not counted in the cross-check)")
    _rbridge.require("harmony")
    _rbridge.hb()
    instrument()
    totals, reports = [], []
    rss_before = rss_mb()
    for i in range(args.repeats):
        progress(f"cross_check {i + 1}/{args.repeats}")
        STATS.clear()  # the by-function table shows the last run
        KEEP.clear()
        extra = {} if args.max_cells is None else {"max_cells": args.max_cells}
        rep = harmonybridge.cross_check(
            adata,
            "batch",
            label_key="cell_type",
            figures=True,
            n_seeds=args.seeds,
            ncores=args.ncores,
            random_state=args.seed,
            **extra,
        )
        reports.append(rep)
        totals.append(rep.timings)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report = reports[-1]
    timings = {k: statistics.median(t[k] for t in totals) for k in totals[0]}

    from importlib.metadata import version

    print(
        f"python {sys.version.split()[0]}, harmonybridge {version('harmonybridge')}, harmonypy {version('harmonypy')}, "
        f"R harmony {report.versions.get('harmony')}, scanpy {version('scanpy')}, "
        f"scikit-learn {version('scikit-learn')}, "
        f"pynndescent {version('pynndescent')}"
    )
    print(
        f"== cross_check: {args.cells:,} cells x {args.pcs} PCs, {args.batches} batches, {N_TYPES} cell types "
        f"(label_key='cell_type'), n_seeds {args.seeds} per engine, figures=True, ncores {args.ncores}, "
        f"{args.repeats} run(s) =="
    )
    total = timings["total"]
    print(f"{'part (report.timings)':<26}{'seconds':>10}{'share':>9}")
    for k, v in timings.items():
        if k != "total":
            print(f"{k:<26}{v:>10.1f}{v / total * 100:>8.1f}%")
    accounted = sum(v for k, v in timings.items() if k != "total")
    print(f"{'(other: checks, R check)':<26}{total - accounted:>10.1f}{(total - accounted) / total * 100:>8.1f}%")
    print(f"{'total':<26}{total:>10.1f}{100:>8.1f}%")
    top = max((k for k in timings if k != "total"), key=timings.get)
    print(f"largest part: {top} ({timings[top] / total * 100:.0f}% of the total)")
    print("by function (last run; 'a > b' = b called inside a; seconds summed over calls):")
    print(f"  {'function':<58}{'calls':>6}{'seconds':>10}{'share':>8}{'per call':>10}")
    for name, ts in sorted(STATS.items(), key=lambda kv: kv[0]):
        s = sum(ts)
        print(f"  {name:<58}{len(ts):>6}{s:>10.2f}{s / report.timings['total'] * 100:>7.1f}%{s / len(ts):>10.2f}")
    print(
        f"peak RSS (ru_maxrss, whole process incl. embedded R): {peak:.0f} MB; RSS before the cross-check "
        f"{rss_before:.0f} MB (R started, data made), so it added {peak - rss_before:.0f} MB; "
        f"embedding {adata.obsm['X_pca'].nbytes / 2**20:.0f} MB float32"
    )
    print(f"verdict: engines {report.verdict.upper()}")
    print(repr(report))
    engines = sum(v for k, v in timings.items() if k.startswith("harmony_"))
    print(f"whole check / engines alone: {total:.1f} / {engines:.1f} s = {total / engines:.2f} x")
    if not args.no_sample_check:
        progress("graph metrics on every cell, to compare with the sample")
        print("sample vs every cell (same embeddings, this process):")
        for line in sample_vs_full(args.max_cells or _crosscheck.GRAPH_CELLS):
            print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
