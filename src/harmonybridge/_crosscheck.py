"""Cross-check the Python and R engines on the same cells.

Exact equality is impossible (the engines' random number generators differ) and a fixed
threshold says little, so each engine runs under several seeds, and the distance between
engines is compared with each engine's own spread across seeds:

    the engines agree on a metric when  gap(between) <= MARGIN x worst gap(within) + floor

where gap is 1 - similarity (per-PC r, kNN overlap, ARI, NMI) or the distance itself
(relative L2), "between" is the median over all Python x R seed pairs and "within" the worst
pair of seeds inside either engine. The verdict is "agree" when every metric agrees.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from anndata import AnnData

from . import _check, _cluster, _metrics, _rbridge
from ._compat import pkg_version, warn
from ._params import HarmonyParams
from .engines import EngineResult, run_engine
from .report import crosscheck_html, overrides_text, text_table

logger = logging.getLogger("harmonybridge")

N_NEIGHBORS = 15
#: between-engine gap may be this many times the worst within-engine gap ...
MARGIN = 1.5
#: ... plus this floor (so that two nearly identical engines are not failed on noise)
FLOORS = {"pc_r_min": 0.002, "pc_r_median": 0.001, "rel_l2": 0.01, "knn_overlap": 0.03, "ari": 0.05, "nmi": 0.03}
SIMILARITIES = ("pc_r_min", "pc_r_median", "knn_overlap", "ari", "nmi")
#: When the limit lets the engines differ this much and still "agree" (per-PC r of the lowest PC down to
#: 0.8, fewer than half of the neighbours kept), one engine's own seeds differ so much that the verdict
#: says little: the report and the console say so. Leiden's ARI is left out: two seeds of one engine
#: often give 0.65-0.7 on real data (ifnb) whose embeddings agree to r > 0.99.
VACUOUS = {"pc_r_min": 0.8, "knn_overlap": 0.5}
METRIC_NAMES = {
    "pc_r_min": "per-PC Pearson r (lowest PC)",
    "pc_r_median": "per-PC Pearson r (median PC)",
    "rel_l2": "relative L2 distance",
    "knn_overlap": f"share of {N_NEIGHBORS} nearest neighbours kept",
    "ari": "ARI of Leiden clusters",
    "nmi": "NMI of Leiden clusters",
}


@dataclass
class _Run:
    engine: str
    seed: int
    embedding: np.ndarray
    record: dict
    knn: np.ndarray | None = None
    clusters: np.ndarray | None = None


def _plain(value: Any) -> Any:
    """A parameter value for text and JSON: 2.0 -> 2, (1.0, 2.0) -> [1, 2], None -> 'automatic'."""
    if value is None:
        return "automatic"
    if isinstance(value, tuple):
        return _plain(value[0]) if len(value) == 1 else [_plain(v) for v in value]
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _gap(metric: str, value: float) -> float:
    return 1.0 - value if metric in SIMILARITIES else value


def _pair_metrics(a: _Run, b: _Run) -> dict[str, float]:
    r = _metrics.per_pc_pearson(a.embedding, b.embedding)
    cl = _metrics.compare_clusterings(a.clusters, b.clusters)
    return {
        "pc_r_min": float(r.min()),
        "pc_r_median": float(np.median(r)),
        "rel_l2": _metrics.relative_l2(a.embedding, b.embedding),
        "knn_overlap": _metrics.knn_overlap(a.knn, b.knn),
        "ari": cl["ari"],
        "nmi": cl["nmi"],
    }


@dataclass
class CrossCheckReport:
    """What :func:`cross_check` found. ``passed`` is the verdict; ``table`` the figures behind it."""

    passed: bool
    table: pd.DataFrame
    integration: pd.DataFrame
    pairs: dict[str, list[dict[str, float]]]
    versions: dict[str, str]
    params: dict[str, dict]
    meta: dict[str, Any]
    convergence: dict[str, list[float]]
    timings: dict[str, float]
    warnings: list[str] = field(default_factory=list)
    figure_data: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def verdict(self) -> str:
        return "agree" if self.passed else "disagree"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return {
            "verdict": self.verdict,
            "passed": self.passed,
            "rule": f"between-engine gap <= {MARGIN} x worst within-engine gap + floor "
            "(gap = 1 - similarity, or the distance)",
            "agreement": json.loads(self.table.to_json(orient="index")),
            "integration": json.loads(self.integration.to_json(orient="index")),
            "pairs": self.pairs,
            "versions": self.versions,
            "params": self.params,
            "meta": self.meta,
            "convergence": self.convergence,
            "timings_seconds": self.timings,
            "warnings": self.warnings,
        }

    def to_json(self, indent: int = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, default=float)

    def __repr__(self) -> str:
        m = self.meta
        lines = [
            f"harmonybridge cross-check: engines {self.verdict.upper()} "
            f"({m['n_cells']} cells x {m['n_pcs']} PCs, batch {m['batch_key']!r}, {m['n_seeds']} seeds per engine)",
            f"  harmonypy {self.versions.get('harmonypy')} vs R harmony {self.versions.get('harmony')} "
            f"(R {self.versions.get('R')}; {self.versions.get('harmony_precision', 'unknown')} precision, "
            f"from {self.versions.get('harmony_library', '?')})",
            f"  {overrides_text(m.get('overrides', {}))}",
            "",
            text_table(self.table, float_fmt="{:.4f}"),
            "",
            text_table(self.integration, float_fmt="{:.3f}"),
        ]
        return "\n".join(lines)

    def to_html(self) -> str:
        """A self-contained page (figures embedded) that a person can read at a glance."""
        return crosscheck_html(self)


def _spread_warnings(table: pd.DataFrame) -> list[str]:
    """Why the verdict says little, when one engine's own seeds already differ widely."""
    found = []
    for metric, bound in VACUOUS.items():
        limit = float(table.loc[metric, "limit"])
        if limit >= bound:
            continue
        py, r = float(table.loc[metric, "within python (worst)"]), float(table.loc[metric, "within R (worst)"])
        engine, worst = ("Python", py) if py <= r else ("R", r)
        found.append(
            f"{METRIC_NAMES[metric]}: two {engine} seeds give {worst:.2f}, "
            f"so the engines may differ down to {limit:.2f} and still agree"
        )
    if not found:
        return []
    return [
        "the verdict says little: an engine's own seeds differ widely (" + "; ".join(found) + "). Harmony's result "
        "on this input depends on the seed, usually because there are few cells for the number of PCs and clusters or "
        "little structure in the PCs; compare on more cells, fewer PCs or a smaller nclust before trusting the verdict."
    ]


def cross_check(
    adata: AnnData,
    batch_key: str | Sequence[str],
    *,
    label_key: str | None = None,
    n_seeds: int = 3,
    basis: str = "X_pca",
    python_params: dict | None = None,
    r_params: dict | None = None,
    figures: bool = True,
    r_engine: Callable[[HarmonyParams], EngineResult] | None = None,
    **params: Any,
) -> CrossCheckReport:
    """Run both engines with the same explicit parameters under ``n_seeds`` seeds each and compare.

    ``params`` are :class:`HarmonyParams` fields shared by both engines (``random_state`` is the
    first seed; the others follow it); ``python_params`` and ``r_params`` override them for one
    engine only, e.g. to show that a planted difference is caught. ``adata`` is not modified.

    ``r_engine`` replaces the R engine (R harmony through rpy2): it gets one seed's resolved
    parameters and returns that run. The R package passes one that runs ``RunHarmony`` in the
    calling R process (rpy2 cannot start R inside R; see ``harmonybridge._from_r``).
    """
    t_all = time.perf_counter()
    timings: dict[str, float] = {}
    keys = _check.batch_keys(adata, batch_key)
    _check.batch_frame(adata, keys)
    labels = _check.obs_key(adata, label_key) if label_key is not None else None
    if n_seeds < 2:
        msg = f"n_seeds must be at least 2 to measure each engine's spread, got {n_seeds}"
        raise ValueError(msg)
    _check.cells_for_neighbors(adata.n_obs, N_NEIGHBORS, "nearest neighbours (the cross-check compares them)")
    if r_engine is None:
        _rbridge.require("harmony")  # fail before any work when the R engine cannot run
    base = HarmonyParams(**params)
    first_seed = base.random_state
    engine_params = {
        "python": base.replace(**(python_params or {})),
        "r": base.replace(**(r_params or {})),
    }
    shared = base.resolve(adata.n_obs, len(keys))
    overrides = {
        engine: {
            k: {"engine": _plain(getattr(engine_params[engine], k)), "shared": _plain(getattr(shared, k))}
            for k in given
        }
        for engine, given in (("python", python_params or {}), ("r", r_params or {}))
    }
    runs: list[_Run] = []
    for engine in ("python", "r"):
        t0 = time.perf_counter()
        for i in range(n_seeds):
            p = engine_params[engine].replace(random_state=first_seed + i)
            logger.info("cross-check: %s engine, seed %d", engine, p.random_state)
            if engine == "r" and r_engine is not None:
                _check.embedding(adata, basis)
                res = r_engine(p.resolve(adata.n_obs, len(keys)))
            else:
                res = run_engine(adata, keys, basis, engine, p, False)
            runs.append(_Run(engine, p.random_state, np.asarray(res.embedding, dtype=np.float64), res.record()))
        timings[f"harmony_{engine}"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for run in runs:
        run.knn = _metrics.knn_indices(run.embedding, N_NEIGHBORS)
    timings["knn"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for run in runs:
        run.clusters = _cluster.leiden(run.embedding, n_neighbors=N_NEIGHBORS, random_state=0)
    timings["leiden"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    py = [r for r in runs if r.engine == "python"]
    rr = [r for r in runs if r.engine == "r"]
    pairs = {
        "between": [_pair_metrics(a, b) for a, b in itertools.product(py, rr)],
        "within_python": [_pair_metrics(a, b) for a, b in itertools.combinations(py, 2)],
        "within_r": [_pair_metrics(a, b) for a, b in itertools.combinations(rr, 2)],
    }
    timings["pair_metrics"] = time.perf_counter() - t0
    rows = []
    for metric in METRIC_NAMES:
        between = float(np.median([p[metric] for p in pairs["between"]]))
        within_py = [p[metric] for p in pairs["within_python"]]
        within_r = [p[metric] for p in pairs["within_r"]]
        pick = min if metric in SIMILARITIES else max
        worst_py, worst_r = pick(within_py), pick(within_r)
        worst_gap = max(_gap(metric, worst_py), _gap(metric, worst_r))
        limit_gap = MARGIN * worst_gap + FLOORS[metric]
        limit = 1.0 - limit_gap if metric in SIMILARITIES else limit_gap
        ok = _gap(metric, between) <= limit_gap
        rows.append(
            {
                "metric": METRIC_NAMES[metric],
                "key": metric,
                "between engines": between,
                "within python (worst)": worst_py,
                "within R (worst)": worst_r,
                "limit": limit,
                "agree": "yes" if ok else "NO",
            }
        )
    table = pd.DataFrame(rows).set_index("key")
    table.index.name = "key"
    passed = bool((table["agree"] == "yes").all())
    spread = _spread_warnings(table)
    for text in spread:
        warn(text)

    t0 = time.perf_counter()
    conditions = {
        "uncorrected": np.asarray(_check.embedding(adata, basis), dtype=np.float64),
        "python": py[0].embedding,
        "r": rr[0].embedding,
    }
    batch_labels = adata.obs[keys[0]]
    integ = []
    for name, X in conditions.items():
        row: dict[str, Any] = {"condition": name, f"batch LISI ({keys[0]})": _metrics.median_lisi(X, batch_labels)}
        if labels is not None:
            clusters = (
                _cluster.leiden(X, n_neighbors=N_NEIGHBORS)
                if name == "uncorrected"
                else (py[0] if name == "python" else rr[0]).clusters
            )
            row[f"label LISI ({label_key})"] = _metrics.median_lisi(X, labels)
            row["silhouette (labels)"] = _metrics.silhouette(X, labels.to_numpy())
            row["ARI clusters vs labels"] = _metrics.compare_clusterings(clusters, labels)["ari"]
        integ.append(row)
    integration = pd.DataFrame(integ).set_index("condition")
    timings["integration_metrics"] = time.perf_counter() - t0

    versions = {
        "harmonypy": py[0].record["versions"].get("harmonypy", ""),
        **dict(rr[0].record["versions"].items()),
        "harmonybridge": pkg_version("harmonybridge") or "",
        "scanpy": pkg_version("scanpy") or "",
    }
    report = CrossCheckReport(
        passed=passed,
        table=table,
        integration=integration,
        pairs=pairs,
        versions=versions,
        params={
            "python": py[0].record["params"],
            "r": rr[0].record["params"],
            "seeds": [first_seed + i for i in range(n_seeds)],
        },
        meta={
            "n_cells": adata.n_obs,
            "n_pcs": py[0].embedding.shape[1],
            "batch_key": keys[0] if len(keys) == 1 else keys,
            "label_key": label_key,
            "n_seeds": n_seeds,
            "basis": basis,
            "n_neighbors": N_NEIGHBORS,
            "margin": MARGIN,
            "floors": FLOORS,
            "overrides": overrides,
        },
        convergence={"python": py[0].record["objective"].tolist(), "r": rr[0].record["objective"].tolist()},
        timings=timings,
        warnings=spread,
    )
    if figures:
        t0 = time.perf_counter()
        report.figure_data = _figure_data(conditions, batch_labels, labels)
        timings["umap_for_figures"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_all
    logger.info("cross-check: %s (%.1f s)", report.verdict, timings["total"])
    return report


def _figure_data(conditions: dict[str, np.ndarray], batch: pd.Series, labels: pd.Series | None) -> dict[str, Any]:
    import scanpy as sc

    umaps = {}
    for name in ("python", "r"):
        tmp = _cluster.neighbor_graph(conditions[name], n_neighbors=N_NEIGHBORS, random_state=0)
        sc.tl.umap(tmp, random_state=0)
        umaps[name] = tmp.obsm["X_umap"]
    return {"umaps": umaps, "python": conditions["python"], "r": conditions["r"], "batch": batch, "labels": labels}
