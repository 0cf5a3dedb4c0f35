"""Where the time of ``harmonybridge.cross_check`` goes: by engine and by metric, plus peak memory.

One full ``cross_check(adata, "batch", label_key="cell_type", figures=True)`` (3 seeds per
engine, the default) on a seeded synthetic PCA embedding (default 100,000 cells x 30 PCs,
4 batches, 8 cell types with per-batch mix and shift, float32 like scanpy's ``X_pca``).
Prints ``report.timings`` as a table with shares of the total, a finer split by function
(found by wrapping harmonybridge's metric functions and scanpy's neighbours / Leiden / UMAP
from outside; nothing in harmonybridge is changed), peak memory, and the verdict. Then it times
cheaper alternatives for the expensive parts on the same embeddings (``--no-alternatives``
skips them): approximate kNN (pynndescent) against the exact brute-force kNN, with its recall
and the kNN-overlap metric it would give, and scanpy's graph built from neighbours already
found instead of searched again.

Usage::

    python bench/bench_check.py            # 100,000 cells x 30 PCs, 4 batches, 8 cell types
    python bench/bench_check.py --quick    # 5,000 cells: a smoke run

Progress goes to stderr, results to stdout.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import resource
import statistics
import sys
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
KEEP: dict[str, list] = defaultdict(list)  # embeddings seen by knn_indices, for the alternatives


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
            KEEP[label].append((a[0], out))
        return out

    setattr(owner, attr, timed)


def instrument() -> None:
    import scanpy as sc

    from harmonybridge import _cluster, _crosscheck, _metrics

    for attr in (
        "knn_indices",
        "median_lisi",
        "silhouette",
        "compare_clusterings",
        "per_pc_pearson",
        "relative_l2",
        "knn_overlap",
    ):
        _wrap(_metrics, attr, f"_metrics.{attr}", keep=attr == "knn_indices")
    _wrap(_cluster, "leiden", "_cluster.leiden")
    _wrap(_crosscheck, "run_engine", "harmony engine run")
    _wrap(_crosscheck, "_figure_data", "_figure_data (UMAPs)")
    _wrap(sc.pp, "neighbors", "sc.pp.neighbors")
    _wrap(sc.tl, "leiden", "sc.tl.leiden")
    _wrap(sc.tl, "umap", "sc.tl.umap")


# --- alternatives ----------------------------------------------------------------------


def best_of(fn, k: int = 1) -> tuple[float, object]:
    best, out = np.inf, None
    for _ in range(k):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def alternatives(n_neighbors: int, ncores: int) -> list[str]:
    """Cheaper kNN and graph construction, timed on the cross-check's own embeddings."""
    import scanpy as sc
    from anndata import AnnData
    from pynndescent import NNDescent

    from harmonybridge import _metrics

    lines = []
    runs = KEEP["_metrics.knn_indices"]
    (X1, exact1), (X2, exact2) = runs[0], runs[-1]  # first python run, last R run
    n = X1.shape[0]
    t_exact = statistics.median(STATS["_metrics.knn_indices"])
    lines.append(
        f"exact brute-force kNN (_metrics.knn_indices, sklearn, k={n_neighbors}): {t_exact:.2f} s per run "
        f"(median of {len(STATS['_metrics.knn_indices'])}, inside cross_check)"
    )

    def nnd(X):
        X = np.asarray(X, dtype=np.float32)
        index = NNDescent(X, n_neighbors=n_neighbors + 1, random_state=0, n_jobs=ncores, low_memory=True)
        idx, _ = index.neighbor_graph
        # drop the cell itself (first column when it is found; else the last)
        own = idx == np.arange(len(X))[:, None]
        keep = ~own
        keep[~own.any(1), -1] = False
        return idx[keep].reshape(len(X), n_neighbors)

    nnd(X1[:2000])  # compile numba first, not timed
    t_nnd, approx1 = best_of(lambda: nnd(X1))
    _, approx2 = best_of(lambda: nnd(X2))
    recall = _metrics.knn_overlap(exact1, approx1)
    ov_exact = _metrics.knn_overlap(exact1, exact2)
    ov_approx = _metrics.knn_overlap(approx1, approx2)
    lines.append(
        f"pynndescent NNDescent (k={n_neighbors}, random_state=0, after numba compile): {t_nnd:.2f} s per run "
        f"= {t_nnd / t_exact:.2f} x the exact kNN; recall vs exact {recall:.4f}"
    )
    lines.append(
        f"  kNN-overlap metric python-seed0 vs R-last-seed: exact {ov_exact:.4f}, pynndescent {ov_approx:.4f} "
        f"(difference {ov_approx - ov_exact:+.4f}; the metric's floor is 0.03)"
    )

    # scanpy's graph from neighbours already found (exact, with distances) vs its own search
    from sklearn.neighbors import NearestNeighbors

    def exact_with_dist(X):
        X = np.asarray(X, dtype=np.float32)
        nn = NearestNeighbors(n_neighbors=n_neighbors, algorithm="brute", n_jobs=-1).fit(X)
        return nn.kneighbors(X, n_neighbors=n_neighbors)  # includes self first, as scanpy wants

    def graph_own(X):
        tmp = AnnData(obs={"i": np.arange(len(X))})
        tmp.obsm["X"] = np.asarray(X, dtype=np.float32)
        sc.pp.neighbors(tmp, n_neighbors=n_neighbors, use_rep="X", random_state=0)
        return tmp

    def graph_from(X, dist, idx):
        from scanpy.neighbors import _get_sparse_matrix_from_indices_distances
        from scanpy.neighbors._connectivity import umap as umap_conn

        m = len(idx)
        tmp = AnnData(obs={"i": np.arange(m)})
        d = _get_sparse_matrix_from_indices_distances(idx, dist, keep_self=False)
        conn = umap_conn(idx, dist, n_obs=m, n_neighbors=n_neighbors)
        tmp.obsp["distances"], tmp.obsp["connectivities"] = d, conn
        tmp.uns["neighbors"] = {
            "connectivities_key": "connectivities",
            "distances_key": "distances",
            "params": {"n_neighbors": n_neighbors, "method": "umap"},
        }
        return tmp

    def _sub_graph(Xs):
        tmp = AnnData(obs={"i": np.arange(len(Xs))})
        tmp.obsm["X"] = np.asarray(Xs, dtype=np.float32)
        sc.pp.neighbors(tmp, n_neighbors=n_neighbors, use_rep="X", random_state=0)
        return tmp

    t_own, g_own = best_of(lambda: graph_own(X1))
    t_kd, (dist, idx) = best_of(lambda: exact_with_dist(X1))
    try:
        m = min(n, 2000)  # compile numba (connectivities) on a small graph first, not timed
        sc.tl.leiden(
            graph_from(X1[:m], *exact_with_dist(X1[:m])),
            flavor="igraph",
            n_iterations=2,
            directed=False,
            random_state=0,
            copy=True,
        )
        t_from, g_from = best_of(lambda: graph_from(X1, dist, idx))
        t_leiden, cl_from = best_of(
            lambda: sc.tl.leiden(
                g_from, flavor="igraph", n_iterations=2, directed=False, random_state=0, copy=True
            ).obs["leiden"]
        )
        _, cl_own = best_of(
            lambda: sc.tl.leiden(g_own, flavor="igraph", n_iterations=2, directed=False, random_state=0, copy=True).obs[
                "leiden"
            ]
        )
        ari = _metrics.compare_clusterings(cl_own, cl_from)["ari"]
        lines.append(
            f"sc.pp.neighbors (its own pynndescent search + connectivities): {t_own:.2f} s; "
            f"graph from exact kNN with distances: search {t_kd:.2f} s + connectivities {t_from:.2f} s. "
            f"Leiden on the graph from exact kNN {t_leiden:.2f} s, ARI vs Leiden on scanpy's graph {ari:.3f}"
        )
        lines.append(
            f"  -> computing the exact kNN once with distances and building the graph from it saves the "
            f"{t_own:.2f} s sc.pp.neighbors search per run (x7 Leiden + x2 UMAP runs in cross_check) at "
            f"+{t_kd - t_exact:.2f} s for distances in the kNN step"
        )
        t_umap, _ = best_of(lambda: sc.tl.umap(g_own, random_state=0, copy=True))
        k_sub = min(n, 20_000)
        sample = np.random.default_rng(0).choice(n, size=k_sub, replace=False)
        t_sub, _ = best_of(lambda: sc.tl.umap(_sub_graph(X1[sample]), random_state=0, copy=True))
        lines.append(
            f"UMAP for the figures: sc.tl.umap on the {n:,}-cell graph {t_umap:.2f} s; on a seeded {k_sub:,}-cell "
            f"sample (its own sc.pp.neighbors + umap) {t_sub:.2f} s = {t_sub / t_umap:.2f} x"
        )
    except Exception as err:  # noqa: BLE001  (scanpy's private helpers moved)
        lines.append(f"graph from exact kNN: could not be built with this scanpy ({type(err).__name__}: {err})")
    return lines


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
    p.add_argument("--no-alternatives", action="store_true", help="skip timing the cheaper alternatives")
    args = p.parse_args(argv)
    if args.cells is None:
        args.cells = 5_000 if args.quick else 100_000

    import harmonybridge
    from harmonybridge import _crosscheck, _rbridge
    from harmonybridge._params import available_cores

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
        rep = harmonybridge.cross_check(
            adata,
            "batch",
            label_key="cell_type",
            figures=True,
            n_seeds=args.seeds,
            ncores=args.ncores,
            random_state=args.seed,
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
    if not args.no_alternatives:
        progress("timing cheaper alternatives")
        print("alternatives (same embeddings, this process):")
        for line in alternatives(_crosscheck.N_NEIGHBORS, args.ncores):
            print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
